"""The rule file format: what an operator may write, checked strictly, plus the pure matching the runtime calls.

Every model forbids unknown keys, because in a hand-written YAML file an
unknown key is nearly always a typo (`severty:`), and a typo that silently
falls back to a default is a safety rule that does not do what its author
thinks. Names are cross-checked against the device drivers (`rules.catalog`)
for the same reason. The methods here (`EventMatch.matches`, `Scope.matches`,
`Schedule.active`, ...) are pure: the runtime owns state, clocks and I/O.

One module per concern: `base` (ids, key parts), `conditions` (the `when:` kinds), `scope` (scope and
schedule), `rule` (a rule, a rule file). Everything is re-exported here: import from `rules.schema`.
"""

from rules.schema.base import (
    DAYS,
    DEDUP_KEYS,
    DEFAULT_TIMEZONE,
    GROUP_KEYS,
    ID_PATTERN,
    NAME_PATTERN,
    PER_PERSON,
    AbsenceKey,
    Day,
    DedupKeyPart,
    GroupKey,
    LocatedValueError,
    NameList,
    StrictModel,
    event_zone,
    key_value,
)
from rules.schema.conditions import (
    CONDITION_NAMES,
    Absence,
    Condition,
    Correlation,
    Count,
    Duration,
    EventMatch,
    Threshold,
    When,
)
from rules.schema.rule import Dedup, Rule, RuleFile
from rules.schema.scope import Schedule, Scope

__all__ = [
    "CONDITION_NAMES", "DAYS", "DEDUP_KEYS", "DEFAULT_TIMEZONE", "GROUP_KEYS", "ID_PATTERN", "NAME_PATTERN",
    "PER_PERSON", "Absence", "AbsenceKey", "Condition", "Correlation", "Count", "Day", "Dedup", "DedupKeyPart",
    "Duration", "EventMatch", "GroupKey", "LocatedValueError", "NameList", "Rule", "RuleFile", "Schedule", "Scope",
    "StrictModel", "Threshold", "When", "event_zone", "key_value",
]
