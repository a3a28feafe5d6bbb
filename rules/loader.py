"""Loading rule files, with every mistake reported as `FILE:LINE: reason`.

An operator fixing a rule file wants the whole list at once, not one error per
save: each rule is validated on its own, so a broken rule never hides the
mistakes in the next one, and pydantic's error locations are walked through
the YAML node tree (`rules.yamlsource`) back to the offending line. A valid rule
that would weaken the safety floor (`rules.floor`) is a mistake too, reported
the same way, so every path that loads a file (`anju rules check`, the API, the
gateway at start-up) refuses it.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from yaml.nodes import Node

from rules import floor, yamlsource
from rules.schema import LocatedValueError, Rule, RuleFile


def builtin_rules_path() -> Path:
    """The built-in rule pack shipped with the package (`rules/builtin.yaml`)."""
    return Path(__file__).resolve().parent / "builtin.yaml"


@dataclass(frozen=True, slots=True)
class RuleError:
    """One mistake in a rule file: where it is and what is wrong, in words an operator can act on."""

    file: str
    line: int
    """1-based line of the offending key or value."""
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


class RuleFileError(ValueError):
    """A rule file (or set of files) that does not load; `errors` holds every mistake found."""

    def __init__(self, errors: Sequence[RuleError]) -> None:
        self.errors = list(errors)
        super().__init__(format_errors(self.errors))


@dataclass(slots=True)
class RuleCheck:
    """The outcome of checking one file."""

    file: str
    rule_file: RuleFile | None
    """The validated rules, or None if there was any error (a half-loaded rule file is never used)."""
    errors: list[RuleError] = field(default_factory=list)
    id_lines: dict[str, int] = field(default_factory=dict)
    """Line of each rule id, for cross-file duplicate reports."""

    @property
    def ok(self) -> bool:
        return not self.errors


def format_errors(errors: Iterable[RuleError]) -> str:
    """`FILE:LINE: reason`, one per line, the form editors and CI logs link to."""
    return "\n".join(str(e) for e in errors)


def check_text(text: str, file: str = "<rules>") -> RuleCheck:
    """Check rule-file text; `file` is the name used in the error lines."""
    try:
        node = yamlsource.compose(text)
        errors = [RuleError(file, ln, reason) for ln, reason in yamlsource.duplicate_keys(node)]
        data = yamlsource.construct(text, node) if node is not None else None
    except yaml.MarkedYAMLError as exc:  # syntax, or a tag such as !!python/object that safe loading refuses
        return RuleCheck(file, None, [_yaml_error(file, exc)])
    except yaml.YAMLError as exc:
        return RuleCheck(file, None, [RuleError(file, 1, f"YAML error: {exc}")])
    except RecursionError:  # hostile input such as "[[[[…" a thousand deep
        return RuleCheck(file, None, [RuleError(file, 1, "the YAML is nested too deeply to be a rule file")])
    items = _top_level(file, data, node, errors)
    rules: list[Rule] = []
    ids: dict[str, int] = {}
    for i, item in enumerate(items):
        if isinstance(item, Mapping) and isinstance(item.get("id"), str):
            id_line = yamlsource.line_of(node, ("rules", i, "id"))
            if item["id"] in ids:
                errors.append(RuleError(file, id_line, f"duplicate rule id `{item['id']}` "
                                                       f"(first at line {ids[item['id']]})"))
            else:
                ids[item["id"]] = id_line
        try:
            rule = Rule.model_validate(item)
        except ValidationError as exc:
            errors.extend(_rule_errors(file, node, i, item, exc))
            continue
        rules.append(rule)
        errors.extend(RuleError(file, yamlsource.line_of(node, ("rules", i, *loc)), reason)
                      for loc, reason in floor.weakenings(rule))
    errors = sorted(set(errors), key=lambda e: (e.line, e.reason))
    return RuleCheck(file, None if errors else RuleFile(rules=rules), errors, ids)


def _top_level(file: str, data: Any, node: Node | None, errors: list[RuleError]) -> list[Any]:
    """The list of rule entries, after checking the file's outer shape (`rules:` and nothing else)."""
    if data is None:
        errors.append(RuleError(file, 1, "empty rule file; expected `rules:` with a list of rules"))
        return []
    if not isinstance(data, Mapping):
        errors.append(RuleError(file, 1, "a rule file is a mapping with one key, `rules:`, holding a list of rules"))
        return []
    for key in data:
        if key != "rules" and not str(key).startswith("x-"):  # `x-...`: a home for YAML anchors
            line = yamlsource.line_of(node, (str(key),))
            errors.append(RuleError(file, line, f"unknown top-level key `{key}`{_suggest(str(key), ['rules'])}; "
                                                "a rule file has only `rules:` (and `x-...` keys for YAML anchors)"))
    if "rules" not in data:
        if not any(_closest(str(key), ["rules"]) for key in data):  # else "did you mean" said it
            errors.append(RuleError(file, 1, "missing `rules:` (the list of rules)"))
        return []
    items = data["rules"]
    if items is None:
        return []
    if not isinstance(items, list):
        errors.append(RuleError(file, yamlsource.line_of(node, ("rules",)),
                                "`rules` must be a list of rules (each starting with `- id: ...`)"))
        return []
    return items


def _yaml_error(file: str, exc: yaml.MarkedYAMLError) -> RuleError:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else 1
    reason = exc.problem or "invalid YAML"
    if exc.context and exc.context_mark is not None and exc.context_mark is not mark:
        reason += f" ({exc.context} at line {exc.context_mark.line + 1})"
    elif exc.context:
        reason = f"{exc.context}: {reason}"
    what = "YAML error" if isinstance(exc, yaml.constructor.ConstructorError) else "YAML syntax error"
    return RuleError(file, line, f"{what}: {reason}")


def _rule_errors(file: str, node: Node | None, index: int, item: Any, exc: ValidationError) -> list[RuleError]:
    rule_id = item.get("id") if isinstance(item, Mapping) else None
    label = f"rule `{rule_id}`" if isinstance(rule_id, str) else f"rule #{index + 1}"
    found = []
    errs = exc.errors()
    # `severty: major` makes `severity` missing too; the "did you mean" already says so.
    misspelt = {(*e["loc"][:-1], _closest(str(e["loc"][-1]), _allowed_keys(e["loc"][:-1])))
                for e in errs if e["type"] == "extra_forbidden"}
    for err in errs:
        loc = tuple(err["loc"])
        if err["type"] == "missing" and loc in misspelt:
            continue
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, LocatedValueError):
            loc += cause.subloc
        line = yamlsource.line_of(node, ("rules", index, *loc))
        found.append(RuleError(file, line, f"{label}: {_reason(err, loc)}"))
    return found


def _path(loc: Sequence[str | int]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _reason(err: Mapping[str, Any], loc: tuple[str | int, ...]) -> str:
    """Pydantic's error rewritten for an operator: which key, what is wrong, what would be right."""
    kind, msg = err["type"], err["msg"]
    where = f"`{_path(loc)}`" if loc else "the rule"
    if kind == "extra_forbidden":
        key = str(loc[-1])
        parent = f" in `{_path(loc[:-1])}`" if loc[:-1] else ""
        allowed = _allowed_keys(loc[:-1])
        hint = _suggest(key, allowed) or (f"; allowed: {', '.join(allowed)}" if allowed else "")
        return f"unknown key `{key}`{parent}{hint}"
    if kind == "missing":
        parent = f"`{_path(loc[:-1])}` needs" if loc[:-1] else "missing required key"
        return f"{parent} `{loc[-1]}`"
    if kind in ("value_error", "assertion_error"):
        cause = (err.get("ctx") or {}).get("error")
        text = str(cause) if cause is not None else msg
        return f"{where}: {text}" if loc else text
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        if err.get("input") is None:
            return f"{where} is empty; it needs keys"
        return f"{where} must be a mapping of keys, not {_shown(err.get('input'))}"
    if kind == "literal_error":
        expected = str((err.get("ctx") or {}).get("expected", "")).replace("'", "")
        return f"{where} must be one of {expected}; got {_shown(err.get('input'))}"
    if kind == "too_short" and isinstance(err.get("input"), list):
        return f"{where} is an empty list, which matches nothing; remove the key or add items"
    if kind == "string_pattern_mismatch":
        pattern = (err.get("ctx") or {}).get("pattern", "")
        return f"{where}: {_shown(err.get('input'))} is not a valid name (pattern {pattern})"
    return f"{where}: {msg[:1].lower()}{msg[1:]}" + (f" (got {_shown(err['input'])})" if _simple(err) else "")


def _simple(err: Mapping[str, Any]) -> bool:
    value = err.get("input")
    return value is None or isinstance(value, str | int | float | bool)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _closest(key: str, allowed: Sequence[str]) -> str | None:
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    return close[0] if close else None


def _suggest(key: str, allowed: Sequence[str]) -> str:
    close = _closest(key, allowed)
    return f" (did you mean `{close}`?)" if close else ""


def _unwrap(tp: Any) -> Any:
    """Strip `Annotated[...]` and `X | None` down to the type that holds the keys."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _allowed_keys(loc: Sequence[str | int]) -> list[str]:
    """The keys the model at `loc` (relative to a rule) accepts, for "did you mean" hints."""
    tp: Any = Rule
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            fields = tp.model_fields
            info = next((f for name, f in fields.items() if (f.alias or name) == part), None)
            if info is None:
                return []
            tp = info.annotation
        elif typing.get_origin(tp) is list:
            tp = typing.get_args(tp)[0]
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        else:
            return []
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [info.alias or name for name, info in tp.model_fields.items()]
    return []


def inspect_rules(path: str | Path) -> RuleCheck:
    """Check one rule file on disk: unreadable files and non-UTF-8 bytes are errors with a line too."""
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        return RuleCheck(name, None, [RuleError(name, 1, f"cannot read the file: {exc.strerror or exc}")])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return RuleCheck(name, None, [RuleError(name, line, "not UTF-8 text (save the file as UTF-8)")])
    return check_text(text, name)


def check_rules(path: str | Path) -> list[RuleError]:
    """Every mistake in one rule file (empty when it is valid)."""
    return inspect_rules(path).errors


def load_rules(path: str | Path) -> RuleFile:
    """The validated rules of one file; raises `RuleFileError` listing every mistake."""
    result = inspect_rules(path)
    if result.rule_file is None:
        raise RuleFileError(result.errors)
    return result.rule_file


def duplicates_across(checks: Sequence[RuleCheck]) -> list[RuleError]:
    """Rule ids used in more than one file: they would share alerts (dedup keys start with the rule id)."""
    first: dict[str, tuple[str, int]] = {}
    errors = []
    for check in checks:
        for rule_id, line in check.id_lines.items():
            if rule_id in first and first[rule_id][0] != check.file:
                where = f"{first[rule_id][0]}:{first[rule_id][1]}"
                errors.append(RuleError(check.file, line, f"rule id `{rule_id}` is already used in {where}"))
            first.setdefault(rule_id, (check.file, line))
    return errors


def load_rule_files(paths: Iterable[str | Path]) -> list[Rule]:
    """The rules of several files, checked together (ids unique across files); raises `RuleFileError`."""
    checks = [inspect_rules(p) for p in paths]
    errors = [e for c in checks for e in c.errors] + duplicates_across(checks)
    if errors:
        raise RuleFileError(errors)
    return [rule for c in checks if c.rule_file is not None for rule in c.rule_file.rules]
