"""The report as CSV: the group table (SPEC §7 gives the figures per group), for spreadsheets and scripts.

Written for the spreadsheet the office actually opens: Excel in China reads a CSV without a byte-order mark in
the local code page (GBK) and garbles every Chinese header, so the file is UTF-8 *with* a BOM, CRLF line ends, and
the headers as its first row (no comment lines, which spreadsheets would show as data). A text cell that begins
with `=`, `+`, `-` or `@` (a grid or rule named by someone else) would be run as a formula when opened, so it is
written with a leading `'`, which spreadsheets show as text; numbers are written as numbers.
"""

from __future__ import annotations

import csv
import io
from datetime import date

from office.report import AlertReport
from office.tables import Cell, group_rows

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What makes a spreadsheet read a cell as a formula (the last two: Excel strips them, then looks again)."""


def csv_text(value: Cell) -> str:
    """One cell as CSV text: empty for None, text made inert, numbers as Python writes them (round-trippable)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return "'" + value if value.startswith(FORMULA_STARTS) else value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value.isoformat() if isinstance(value, date) else str(value)


def render_csv(report: AlertReport) -> bytes:
    """The group table and its total row, as UTF-8 with a BOM and CRLF line ends."""
    table = group_rows(report)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([csv_text(header) for header in table.headers])
    writer.writerows([csv_text(value) for value in row] for row in table.rows)
    return out.getvalue().encode("utf-8-sig")
