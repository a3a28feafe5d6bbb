"""Reading rule YAML so that every error can be pointed at a line.

PyYAML composes a node tree with marks (line, column) before building Python
data; we keep that tree and walk it along a pydantic error location to find
the line of the offending key or value. Two YAML 1.1 surprises are removed,
because both turn a plausible rule into a silently different one:

* `from: 22:00` is the base-60 integer 1320 in YAML 1.1; here it stays the
  string "22:00" (no sexagesimal numbers at all);
* a key written twice in one mapping silently keeps the last value; here it
  is reported (`duplicate_keys`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"


class RuleYamlLoader(yaml.SafeLoader):
    """SafeLoader without sexagesimal numbers (so times like 22:00 stay strings)."""


RuleYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_INT_TAG, _FLOAT_TAG)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
RuleYamlLoader.add_implicit_resolver(
    _INT_TAG,
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
RuleYamlLoader.add_implicit_resolver(
    _FLOAT_TAG,
    re.compile(r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?"
               r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."),
)


def compose(text: str) -> Node | None:
    """The node tree of a single-document YAML text (None if empty). Raises `yaml.YAMLError` with marks."""
    loader = RuleYamlLoader(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def construct(text: str, node: Node) -> Any:
    """Python data for `node`. Merge keys (`<<:`) are flattened into the node tree as a side effect,
    which is what lets `line_of` follow them."""
    loader = RuleYamlLoader(text)
    try:
        return loader.construct_document(node)
    finally:
        loader.dispose()


def line(node: Node) -> int:
    return node.start_mark.line + 1


def duplicate_keys(node: Node | None) -> Iterator[tuple[int, str]]:
    """(line, reason) for every key written twice in the same mapping, anywhere in the tree."""
    if isinstance(node, MappingNode):
        first: dict[str, int] = {}
        for key, value in node.value:
            if isinstance(key, ScalarNode) and key.value != "<<":
                if key.value in first:
                    yield line(key), f"key `{key.value}` written twice (first at line {first[key.value]})"
                else:
                    first[key.value] = line(key)
            yield from duplicate_keys(value)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            yield from duplicate_keys(item)


def child(node: Node | None, part: str | int) -> tuple[Node, Node] | None:
    """(key or item node, value node) of `part` below `node`; the last of repeated keys, as YAML keeps."""
    if isinstance(node, MappingNode) and isinstance(part, str):
        found = None
        for key, value in node.value:
            if isinstance(key, ScalarNode) and key.value == part:
                found = (key, value)
        return found
    if isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        return node.value[part], node.value[part]
    return None


def line_of(node: Node | None, loc: Sequence[str | int]) -> int:
    """The line of the deepest key or item of `loc` present in the tree.

    A missing key (pydantic's "missing" error) or a validator's wrapper name in
    `loc` is skipped, so the line is that of the nearest enclosing key.
    """
    if node is None:
        return 1
    found = line(node)
    for part in loc:
        step = child(node, part)
        if step is None:
            continue
        key, node = step
        found = line(key)
    return found
