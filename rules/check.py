"""`anju rules check FILE...`: validate rule files before deploying them.

Prints every mistake as `FILE:LINE: reason` and `OK: N rules (FILE)` for each
valid file; the exit status is non-zero if anything is wrong, so CI and
editors can use it as a linter.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from rules.loader import duplicates_across, format_errors, inspect_rules


def main(paths: Sequence[str], out: TextIO | None = None) -> int:
    """Check `paths` together (ids must be unique across them); 0 when all are valid, 1 otherwise."""
    stream = out or sys.stdout
    if not paths:
        print("no rule files given", file=stream)
        return 2
    checks = [inspect_rules(p) for p in paths]
    across = duplicates_across(checks)
    failed = 0
    for check in checks:
        errors = check.errors + [e for e in across if e.file == check.file]
        if errors:
            failed += len(errors)
            print(format_errors(errors), file=stream)
        elif check.rule_file is not None:
            count = len(check.rule_file.rules)
            print(f"OK: {count} rule{'' if count == 1 else 's'} ({check.file})", file=stream)
    if failed:
        print(f"{failed} error{'' if failed == 1 else 's'}", file=stream)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
