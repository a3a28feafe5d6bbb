"""The active rule set: the configured pack (rule files, or the built-in pack) plus the files managed through the API.

API-managed files are added to the pack rather than replacing it, so an
operator who uploads one rule for a gate can never switch off the elder SOS by
accident. A rule in an API file with the id of a pack rule replaces that rule:
that is how the held-open limit is changed, or a pack rule turned off
(`enabled: false`). The safety floor (`rules.floor`) is the exception: a file
that would weaken a floor rule is refused when uploaded (and skipped if stored
by an older Anju), and a composition that lacks one gets the built-in rule.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kernel.db.models import RuleFileRow
from rules import floor
from rules.loader import RuleCheck, check_text
from rules.schema import Rule

log = logging.getLogger(__name__)


def api_file_label(name: str) -> str:
    """How an API-managed file is named in error lines (`api:<name>`)."""
    return f"api:{name}"


def check_api_file(name: str, content: str, others: Iterable[tuple[str, str]] = ()) -> RuleCheck:
    """Validate an uploaded rule file; ids must also be unique across the other API-managed files.

    Sharing an id with a pack rule is allowed (it overrides); sharing one with
    another API file is not, since which one won would depend on their order.
    """
    check = check_text(content, api_file_label(name))
    if not check.ok:
        return check
    taken: dict[str, str] = {}
    for other_name, other_content in others:
        other = check_text(other_content, api_file_label(other_name))
        for rule_id in other.id_lines:
            taken.setdefault(rule_id, other_name)
    from rules.loader import RuleError

    errors = [RuleError(check.file, line, f"rule id `{rule_id}` is already used in api:{taken[rule_id]}")
              for rule_id, line in check.id_lines.items() if rule_id in taken]
    if errors:
        return RuleCheck(check.file, None, errors, check.id_lines)
    return check


def compose(base: Sequence[Rule], api_files: Iterable[tuple[str, str]]) -> list[Rule]:
    """The pack with the API files' rules added, a same-id rule replacing the pack's, and the safety floor made
    whole. Invalid files (a floor rule weakened included) are skipped."""
    rules = {rule.id: rule for rule in base}
    for name, content in api_files:
        check = check_text(content, api_file_label(name))
        if check.rule_file is None:  # stored files were valid when stored; a newer Anju may disagree
            log.error("rule file %s is no longer valid and is ignored:\n%s", name,
                      "\n".join(str(e) for e in check.errors))
            continue
        for rule in check.rule_file.rules:
            rules[rule.id] = rule
    return floor.with_floor(list(rules.values()))


def stored_files(session: Session) -> list[tuple[str, str, datetime]]:
    return [(r.name, r.content, r.updated_at) for r in session.scalars(select(RuleFileRow).order_by(RuleFileRow.name))]
