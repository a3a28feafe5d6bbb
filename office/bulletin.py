"""The monthly bulletin (月度通报): the report as the PDF a street office files, prints and reads aloud.

In Chinese, A4 portrait, with charts. Page 1 is the summary: the key figures of the whole scope, alerts per day,
how the resolved ones ended, and the groups (grids, usually) ranked. Then one page per group with its own
figures, its overdue alerts and its devices, and a closing page with device availability and the definitions.
The layout is fixed (no flowing text engine), so 200 grids render in seconds and a hostile alert title can only
ever be cut short to its cell, never push the page apart.

Fonts: the bulletin needs a CJK font (Debian's `fonts-noto-cjk`). Without one it refuses with the package to
install, rather than printing boxes where the Chinese should be; `ANJU_REPORT_FONT` names another font file.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import TTFFont

from office.availability import KindAvailability
from office.charts import ACCENT, BAR, INK, MUTED, bar_chart, hbar_chart
from office.report import AlertReport, GroupFigures, SeverityTargetOut, TargetShare
from office.tables import (
    DEFINITIONS,
    GROUP_NOUNS,
    MISSED_LABELS,
    disposition_name,
    dispositions,
    is_month,
    kind_label,
    local_time,
    period_label,
    period_text,
    severity_label,
    split_label,
)

FONT_ENV = "ANJU_REPORT_FONT"
FONT_FAMILY = "Noto Sans CJK SC"
KNOWN_FONTS: tuple[tuple[str, str], ...] = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"),
)
"""Where Debian's fonts-noto-cjk puts them, for hosts without fontconfig's `fc-match`."""
INSTALL_HINT = "install Debian's fonts-noto-cjk (apt-get install fonts-noto-cjk) or set ANJU_REPORT_FONT to a CJK font"
MAX_OVERDUE_SHOWN = 15
RANK_RULE = ("排名规则：按时响应率高者在前（无可评告警的排在最后）；相同时响应用时P90短者在前；"
             "再相同时告警数少者在前；三项全同者名次并列。")
NB_ALIAS = "{anju:nb}"
"""fpdf2 replaces this text with the page count everywhere; `clean` keeps it out of the report's own texts."""


class BulletinError(RuntimeError):
    """The bulletin cannot be made on this host (no CJK font); the message says what to install."""


@dataclass(frozen=True, slots=True)
class FontFile:
    path: Path
    index: int = 0
    """The face inside a font collection (.ttc): Noto's collection holds JP, KR, SC, TC and HK; SC is wanted."""


@dataclass(frozen=True, slots=True)
class CjkFonts:
    regular: FontFile
    bold: FontFile


def _fc_match(pattern: str) -> tuple[FontFile, str, str] | None:
    """fontconfig's best font for `pattern`: the file, its style and its language set (None without fc-match)."""
    command = shutil.which("fc-match")
    if command is None:
        return None
    try:
        done = subprocess.run([command, "-f", "%{file}\t%{index}\t%{style}\t%{lang}", pattern],
                              capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    parts = done.stdout.split("\t")
    if done.returncode != 0 or len(parts) < 4 or not parts[0]:
        return None
    return FontFile(Path(parts[0]), int(parts[1]) if parts[1].isdigit() else 0), parts[2], parts[3]


def _sc_index(path: Path) -> int:
    """In a font collection, the face made for Simplified Chinese (its family name says SC); 0 otherwise."""
    if path.suffix.lower() not in (".ttc", ".otc"):
        return 0
    try:
        from fontTools.ttLib import TTCollection  # fpdf2's own dependency

        collection = TTCollection(str(path), lazy=True)
        for index, font in enumerate(collection.fonts):
            name = font["name"].getDebugName(1) or ""
            if re.search(r"\bSC\b", name) and "Mono" not in name:
                return index
    except Exception:  # noqa: BLE001 - an unreadable collection is used as its first face, not a failure here
        return 0
    return 0


def _pair(regular: Path, bold: Path) -> CjkFonts:
    """A regular and a bold file, the bold falling back to the regular (headings then lose weight, not glyphs)."""
    bold = bold if bold != regular and bold.is_file() else regular
    return CjkFonts(FontFile(regular, _sc_index(regular)), FontFile(bold, _sc_index(bold)))


def _from_fontconfig() -> CjkFonts | None:
    """fontconfig's Noto Sans CJK SC, only if what it found covers Simplified Chinese: fc-match always answers,
    with DejaVu if need be."""
    regular = _fc_match(f"{FONT_FAMILY}:lang=zh-cn")
    if regular is None or "zh-cn" not in regular[2].split("|") or not regular[0].path.is_file():
        return None
    bold = _fc_match(f"{FONT_FAMILY}:lang=zh-cn:bold")
    if (bold is None or "zh-cn" not in bold[2].split("|") or "bold" not in bold[1].lower()
            or not bold[0].path.is_file()):
        return CjkFonts(regular[0], regular[0])
    return CjkFonts(regular[0], bold[0])


def find_fonts() -> CjkFonts:
    """The CJK fonts to write with: the file `ANJU_REPORT_FONT` names (its bold: the same name with Bold for
    Regular), else fontconfig's Noto Sans CJK SC, else Debian's known paths; `BulletinError` when none is there."""
    override = os.environ.get(FONT_ENV, "").strip()
    if override:
        path = Path(override)
        if not path.is_file():
            raise BulletinError(f"{FONT_ENV}={override}: no such font file; {INSTALL_HINT}")
        return _pair(path, path.with_name(path.name.replace("Regular", "Bold")))
    found = _from_fontconfig()
    if found is not None:
        return found
    for regular, bold in KNOWN_FONTS:
        if Path(regular).is_file():
            return _pair(Path(regular), Path(bold))
    raise BulletinError(f"no CJK font found for the bulletin: {INSTALL_HINT}")


def human_duration(seconds: float | None) -> str:
    """Seconds as the office says them: `48秒`, `3分12秒`, `2小时5分`, `1天3小时`; `—` for no value."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    whole = round(seconds)
    if whole <= 0:
        return "0秒" if seconds <= 0 else "不足1秒"
    if whole < 60:
        return f"{whole}秒"
    if whole < 3600:
        minutes, rest = divmod(whole, 60)
        return f"{minutes}分{rest}秒" if rest else f"{minutes}分"
    if whole < 86400:
        hours, rest = divmod(whole, 3600)
        return f"{hours}小时{rest // 60}分" if rest // 60 else f"{hours}小时"
    days, rest = divmod(whole, 86400)
    return f"{days}天{rest // 3600}小时" if rest // 3600 else f"{days}天"


def pct_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def share_text(share: TargetShare) -> str:
    return f"{share.met}/{share.counted} 件按时" if share.counted else "暂无可评告警"


def _rank_key(group: GroupFigures) -> tuple[bool, float, bool, float, int]:
    pct, p90 = group.acknowledged_within_target.pct, group.time_to_acknowledge.p90
    return (pct is None, -(pct or 0.0), p90 is None, p90 or 0.0, group.raised)


def rank(groups: Sequence[GroupFigures]) -> list[tuple[int, GroupFigures]]:
    """The groups best first, each with its place: the share acknowledged within target, highest first (a group
    with nothing judged yet last); then the time 90 % were acknowledged within, shortest first; then the fewer
    alerts first. Groups equal on all three share a place (1, 2, 2, 4), listed by name."""
    ordered = sorted(groups, key=lambda g: (_rank_key(g), g.label, g.key or ""))
    places: list[tuple[int, GroupFigures]] = []
    for position, group in enumerate(ordered, start=1):
        tied = bool(places) and _rank_key(places[-1][1]) == _rank_key(group)
        places.append((places[-1][0] if tied else position, group))
    return places


@dataclass(frozen=True, slots=True)
class Col:
    header: str
    width: float
    align: str = "L"


class _Pdf(FPDF):
    """A4 portrait with a running head after page 1 and `第 n 页 / 共 N 页` at the foot of every page."""

    running_title = ""
    running_period = ""
    running_section = ""
    """What the page is about (the ranking, a grid), so a table continued on a new page still says whose it is."""

    def header(self) -> None:
        if self.page_no() == 1:
            return
        self.set_font("cjk", "", 7.5)
        self.set_text_color(*MUTED)
        self.set_xy(self.l_margin, 7)
        half = (self.w - self.l_margin - self.r_margin) / 2
        self.cell(half, 4, self.running_title)
        right = f"{self.running_section} · {self.running_period}" if self.running_section else self.running_period
        self.cell(half, 4, right, align="R")
        self.set_draw_color(200, 200, 200)
        self.set_line_width(0.2)
        self.line(self.l_margin, 12, self.w - self.r_margin, 12)
        self.set_text_color(*INK)
        self.set_y(16)

    def footer(self) -> None:
        self.set_font("cjk", "", 8)
        self.set_text_color(*MUTED)
        self.set_y(-11)
        self.cell(0, 5, f"第 {self.page_no()} 页 / 共 {NB_ALIAS} 页", align="C")
        self.set_text_color(*INK)


class _Bulletin:
    """Lays one report out, page by page; every text of the report goes through `clean` and `fit`."""

    def __init__(self, report: AlertReport, fonts: CjkFonts, title: str | None) -> None:
        self.report = report
        self.noun = GROUP_NOUNS[report.group_by][0]
        pdf = _Pdf(orientation="P", unit="mm", format="A4")
        pdf.set_margins(14, 14, 14)
        pdf.set_auto_page_break(True, margin=16)
        pdf.alias_nb_pages(NB_ALIAS)
        pdf.set_creator("Anju")
        try:
            pdf.add_font("cjk", "", str(fonts.regular.path), collection_font_number=fonts.regular.index)
            pdf.add_font("cjk", "B", str(fonts.bold.path), collection_font_number=fonts.bold.index)
        except Exception as error:  # any unreadable font file gets the same advice
            raise BulletinError(f"cannot read the CJK font {fonts.regular.path}: {error}; {INSTALL_HINT}") from error
        self.pdf = pdf
        font = pdf.fonts["cjk"]
        if not isinstance(font, TTFFont):
            raise BulletinError(f"{fonts.regular.path} is not a TrueType/OpenType font; {INSTALL_HINT}")
        self.cmap: Mapping[int, object] = font.cmap
        """The characters the font has a glyph for: any other is printed as `?`, never as an empty box."""
        self.width = pdf.w - pdf.l_margin - pdf.r_margin
        default = f"月度通报 {period_label(report)}" if is_month(report) else f"告警通报 {period_label(report)}"
        self.title = self.clean(title or "") or default
        self.empty_word = "本月" if is_month(report) else "本期"
        pdf.set_title(self.title)
        pdf.running_title = self.fit(self.title, self.width / 2, 7.5)
        pdf.running_period = f"{period_label(report)} · {report.timezone}"

    # --- text ---

    def clean(self, text: str, limit: int = 300) -> str:
        """Any text made printable: control and format characters out, glyphs the font lacks as `?`, one line."""
        out: list[str] = []
        for char in text[:limit]:
            category = unicodedata.category(char)
            if category in ("Cc", "Zl", "Zp") or char.isspace():
                out.append(" ")
            elif category == "Cf":
                continue  # bidi overrides, zero-width joiners: invisible, and able to reorder a line
            elif ord(char) not in self.cmap:
                out.append("?")
            else:
                out.append(char)
        return " ".join("".join(out).split()).replace(NB_ALIAS, "{anju nb}")

    def fit(self, text: str, width: float, size: float | None = None, style: str = "") -> str:
        """`text` cut with `…` to fit `width` mm in the current (or the given) font size."""
        pdf = self.pdf
        if size is not None:
            pdf.set_font("cjk", style, size)
        if pdf.get_string_width(text) <= width:
            return text
        low, high = 0, len(text)
        while low < high:  # the longest prefix that fits with the ellipsis
            middle = (low + high + 1) // 2
            if pdf.get_string_width(text[:middle] + "…") <= width:
                low = middle
            else:
                high = middle - 1
        return text[:low] + "…"

    def font(self, size: float, style: str = "", color: tuple[int, int, int] = INK) -> None:
        self.pdf.set_font("cjk", style, size)
        self.pdf.set_text_color(*color)

    def room(self, height: float) -> None:
        """A new page unless `height` mm still fit on this one."""
        if self.pdf.get_y() + height > self.pdf.page_break_trigger:
            self.pdf.add_page()

    def section(self, text: str, need: float = 20.0) -> None:
        self.room(need + 8)
        pdf = self.pdf
        pdf.ln(2)
        self.font(11, "B")
        pdf.set_fill_color(*BAR)
        pdf.rect(pdf.l_margin, pdf.get_y() + 1.2, 1.2, 4.2, style="F")
        pdf.set_x(pdf.l_margin + 3)
        pdf.cell(self.width - 3, 6.5, self.fit(text, self.width - 3), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(0.8)
        self.font(9)

    def note(self, text: str, size: float = 7.5) -> None:
        self.font(size, color=MUTED)
        self.pdf.multi_cell(self.width, size * 0.5, text, new_x="LMARGIN", new_y="NEXT")
        self.font(9)

    # --- blocks ---

    def table(self, cols: Sequence[Col], rows: Sequence[Sequence[str]], *, row_h: float = 5.2,
              x: float | None = None) -> None:
        """Rows under a shaded header; a row that would cross the foot starts a new page with the header again."""
        pdf = self.pdf
        left = pdf.l_margin if x is None else x

        def head() -> None:
            self.font(7.5, "B")
            pdf.set_fill_color(228, 235, 245)
            pdf.set_x(left)
            for col in cols:
                pdf.cell(col.width, row_h + 0.6, self.fit(col.header, col.width - 1.5), align="C", fill=True)
            pdf.ln(row_h + 0.6)

        self.room(row_h * 2 + 0.6)
        head()
        for number, row in enumerate(rows):
            if pdf.get_y() + row_h > pdf.page_break_trigger:
                pdf.add_page()
                head()
            self.font(8)
            pdf.set_fill_color(247, 247, 247)
            pdf.set_x(left)
            for col, text in zip(cols, row, strict=True):
                pdf.cell(col.width, row_h, self.fit(text, col.width - 1.5), align=col.align,
                         fill=number % 2 == 1)
            pdf.ln(row_h)
        self.font(9)

    def cards(self, group: GroupFigures) -> None:
        """The key figures as two rows of four boxes: a big value, what it is, and the figure behind it."""
        pdf = self.pdf
        ack, res = group.acknowledged_within_target, group.resolved_within_target
        tta, ttr = group.time_to_acknowledge, group.time_to_resolve
        items = [
            ("告警总数", str(group.raised),
             f"静默期内另有 {group.silenced} 件" if group.silenced else "不含静默期内告警"),
            ("按时响应率", pct_text(ack.pct), share_text(ack)),
            ("响应用时 中位数/P90", f"{human_duration(tta.p50)} / {human_duration(tta.p90)}", f"{tta.count} 件有响应"),
            ("办结用时 中位数/P90", f"{human_duration(ttr.p50)} / {human_duration(ttr.p90)}", f"{ttr.count} 件已办结"),
            ("已办结", str(group.resolved), f"未办结 {group.open} 件"),
            ("按时办结率", pct_text(res.pct), share_text(res)),
            ("升级", str(group.escalated), f"升至街道及以上 {group.beyond_community} 件"),
            ("超时未办", str(group.overdue_count),
             f"截至 {local_time(self.report, self.report.as_of):%m-%d %H:%M}"),
        ]
        gap, box_h = 2.5, 15.5
        box_w = (self.width - 3 * gap) / 4
        self.room(2 * box_h + gap + 2)
        top = pdf.get_y()
        for index, (name, value, detail) in enumerate(items):
            x = pdf.l_margin + (index % 4) * (box_w + gap)
            y = top + (index // 4) * (box_h + gap)
            pdf.set_fill_color(244, 247, 251)
            pdf.set_draw_color(214, 223, 235)
            pdf.set_line_width(0.2)
            pdf.rect(x, y, box_w, box_h, style="DF")
            alarm = name == "超时未办" and group.overdue_count > 0
            self.font(7.5, color=MUTED)
            pdf.set_xy(x + 2, y + 1.2)
            pdf.cell(box_w - 4, 4, self.fit(name, box_w - 4))
            self.font(12.5, "B", ACCENT if alarm else INK)
            pdf.set_xy(x + 2, y + 5.2)
            size = 12.5
            while size > 8 and pdf.get_string_width(value) > box_w - 4:
                size -= 0.5
                self.font(size, "B", ACCENT if alarm else INK)
            pdf.cell(box_w - 4, 5.5, self.fit(value, box_w - 4))
            self.font(6.5, color=MUTED)
            pdf.set_xy(x + 2, y + 10.8)
            pdf.cell(box_w - 4, 3.5, self.fit(detail, box_w - 4))
        pdf.set_xy(pdf.l_margin, top + 2 * box_h + gap + 1.5)
        self.font(9)

    def daily(self, group: GroupFigures, height: float) -> None:
        days = self.report.days
        one_month = len({(d.year, d.month) for d in days}) == 1
        labels = [str(d.day) if one_month else f"{d.month}/{d.day}" for d in days]
        self.room(height + 2)
        y = self.pdf.get_y()
        bar_chart(self.pdf, self.pdf.l_margin, y, self.width, height, [float(v) for v in group.daily], labels)
        self.pdf.set_y(y + height + 1)

    def disposition_bars(self, group: GroupFigures, x: float, width: float) -> float:
        """How the resolved alerts ended, bars with count and share; returns the height used."""
        resolved = sum(group.dispositions.values())
        rows = []
        for key in dispositions(self.report):
            count = group.dispositions.get(key, 0)
            share = f"{100.0 * count / resolved:.1f}%" if resolved else "—"
            rows.append((self.clean(disposition_name(self.report, key)), float(count), f"{count} 件 · {share}"))
        return hbar_chart(self.pdf, x, self.pdf.get_y(), width, rows, row_h=5.0, label_w=20, text_w=24,
                          fit=self.fit)

    def severity_bars(self, group: GroupFigures, x: float, width: float) -> float:
        rows = [(self.clean(severity_label(key)), float(count), f"{count} 件")
                for key, count in group.by_severity.items()]
        return hbar_chart(self.pdf, x, self.pdf.get_y(), width, rows, row_h=5.0, label_w=14, text_w=16,
                          color=(120, 144, 180), fit=self.fit)

    def side_by_side(self, left: Callable[[float, float], float], right: Callable[[float, float], float],
                     need: float, split: float = 0.58) -> None:
        """Two blocks beside each other, each given its x and width; the page goes on under the taller."""
        self.room(need)
        pdf = self.pdf
        top = pdf.get_y()
        left_w = self.width * split - 3
        used_left = left(pdf.l_margin, left_w)
        pdf.set_y(top)
        used_right = right(pdf.l_margin + self.width * split + 3, self.width * (1 - split) - 3)
        pdf.set_y(top + max(used_left, used_right) + 1.5)

    # --- pages ---

    def summary(self) -> None:
        report, pdf, total = self.report, self.pdf, self.report.total
        pdf.add_page()
        size = 17.0
        self.font(size, "B")
        while size > 12 and pdf.get_string_width(self.title) > self.width:
            size -= 0.5
            self.font(size, "B")
        pdf.cell(self.width, 10, self.fit(self.title, self.width), align="C", new_x="LMARGIN", new_y="NEXT")
        self.font(8.5, color=MUTED)
        pdf.cell(self.width, 5, self.fit(f"统计期间 {period_text(report)} · 时区 {report.timezone} · 数据截至 "
                                         f"{local_time(report, report.as_of):%Y-%m-%d %H:%M}", self.width),
                 align="C", new_x="LMARGIN", new_y="NEXT")
        scope = f"按{self.noun}统计"
        if report.filters:
            scope += " · 范围：" + "，".join(f"{k} {v}" for k, v in sorted(report.filters.items()))
        pdf.cell(self.width, 5, self.fit(self.clean(scope), self.width), align="C", new_x="LMARGIN",
                 new_y="NEXT")
        pdf.ln(2)
        self.section("一、总体情况")
        if total.raised == 0:
            self.quiet_notice(total)
            self.groups_table(start=2)
            return
        self.cards(total)
        self.section("二、每日告警数", 38)
        self.daily(total, 36)
        self.section("三、处置结果与告警级别", 38)
        self.side_by_side(lambda x, w: self.disposition_bars(total, x, w),
                          lambda x, w: self.severity_bars(total, x, w), 36)
        self.note("处置结果按已办结告警计，百分比为占已办结告警的比例。")
        self.groups_table(start=4)

    def quiet_notice(self, total: GroupFigures) -> None:
        pdf = self.pdf
        self.room(30)
        y = pdf.get_y() + 2
        pdf.set_fill_color(244, 247, 251)
        pdf.set_draw_color(214, 223, 235)
        pdf.rect(pdf.l_margin, y, self.width, 24, style="DF")
        self.font(18, "B")
        pdf.set_xy(pdf.l_margin, y + 4)
        pdf.cell(self.width, 9, f"{self.empty_word}无告警", align="C", new_x="LMARGIN", new_y="NEXT")
        self.font(9, color=MUTED)
        extra = f"（维护静默期内另有 {total.silenced} 件，不计入统计）" if total.silenced else ""
        pdf.cell(self.width, 6, f"统计期间内没有需要处置的告警{extra}。", align="C", new_x="LMARGIN", new_y="NEXT")
        pdf.set_y(y + 27)
        self.font(9)

    def groups_table(self, start: int) -> None:
        report = self.report
        if not report.groups:
            return
        numbers = "一二三四五六七八九"
        ranked_kind = report.group_by != "severity"
        heading = f"{self.noun}排名" if ranked_kind else "分级别情况"
        self.pdf.running_section = heading
        self.section(f"{numbers[start - 1]}、{heading}", 20)
        if ranked_kind:
            judged = [g for g in report.groups if g.key is not None]
            places: list[tuple[int | None, GroupFigures]] = list(rank(judged))
            places.extend((None, g) for g in report.groups if g.key is None)
        else:
            places = [(None, g) for g in report.groups]
        cols = [Col("名次", 11, "C"), Col(self.noun, 43), Col("告警数", 15, "R"), Col("按时响应率", 20, "R"),
                Col("响应P90", 20, "R"), Col("按时办结率", 20, "R"), Col("办结P90", 21, "R"),
                Col("升级", 14, "R"), Col("超时未办", 18, "R")]
        rows = [[str(place) if place is not None else "—", self.clean(g.label), str(g.raised),
                 pct_text(g.acknowledged_within_target.pct), human_duration(g.time_to_acknowledge.p90),
                 pct_text(g.resolved_within_target.pct), human_duration(g.time_to_resolve.p90),
                 str(g.escalated), str(g.overdue_count)] for place, g in places]
        self.table(cols, rows)
        if ranked_kind:
            note = RANK_RULE
            for group in report.groups:
                if group.key is None:
                    note += f"“{self.clean(group.label)}”的告警未归属任何{self.noun}，不参与排名。"
            self.note(note)

    def group_page(self, group: GroupFigures, place: int | None, count: int) -> None:
        pdf = self.pdf
        label = self.clean(group.label)
        pdf.running_section = self.fit(f"{self.noun}：{label}", self.width / 4, 7.5)
        pdf.add_page()
        heading = f"{self.noun}：{label}"
        if group.key is not None and group.key != group.label:
            heading += f"（{self.clean(group.key, 60)}）"
        right = f"排名 第 {place} / {count}" if place is not None else ""
        self.font(11, "B", BAR)
        right_w = pdf.get_string_width(right) + 2 if right else 0.0
        self.font(15, "B")
        pdf.cell(self.width - right_w, 9, self.fit(heading, self.width - right_w - 2))
        self.font(11, "B", BAR)
        pdf.cell(right_w, 9, right, align="R", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
        self.font(9)
        if group.raised == 0:
            self.note(f"{self.empty_word}该{self.noun}无需处置的告警" +
                      (f"（维护静默期内 {group.silenced} 件）。" if group.silenced else "。"), 9)
        self.cards(group)
        self.section("每日告警数", 30)
        self.daily(group, 28)
        self.section("响应目标与处置结果", 34)
        self.side_by_side(lambda x, w: self.targets_block(group, x, w),
                          lambda x, w: self.disposition_bars(group, x, w), 34, split=0.5)
        self.overdue_block(group)
        if group.availability:
            self.section("设备在线率", 16)
            self.availability_table(group.availability)

    def targets_block(self, group: GroupFigures, x: float, width: float) -> float:
        """The group's alerts per severity beside the targets they are judged on."""
        pdf = self.pdf
        top = pdf.get_y()
        targets = self.targets_of(group)
        cols = [Col("级别", width * 0.22, "C"), Col("告警数", width * 0.22, "R"), Col("响应目标", width * 0.28, "R"),
                Col("办结目标", width * 0.28, "R")]
        rows = []
        for severity, raised in group.by_severity.items():
            target = targets.get(severity) if targets is not None else None
            rows.append([self.clean(severity_label(severity)), str(raised),
                         human_duration(target.acknowledge_seconds) if target else "见末页",
                         human_duration(target.resolve_seconds) if target else "见末页"])
        self.table(cols, rows, row_h=4.8, x=x)
        self.font(7, color=MUTED)
        pdf.set_x(x)
        pdf.cell(width, 4, self.fit("每件告警按其所属级别的目标判定是否按时。", width), new_x="LMARGIN", new_y="NEXT")
        self.font(9)
        return pdf.get_y() - top

    def targets_of(self, group: GroupFigures) -> dict[str, SeverityTargetOut] | None:
        """The targets a group is judged on: its site's, or the common ones when every site has the same."""
        targets = self.report.targets
        if self.report.group_by == "site" and group.key in targets:
            return targets[group.key]
        sites = {alert.site for alert in group.overdue}
        if len(sites) == 1 and next(iter(sites)) in targets:
            return targets[next(iter(sites))]
        distinct = {tuple(sorted((k, v.acknowledge_seconds, v.resolve_seconds) for k, v in t.items()))
                    for t in targets.values()}
        return next(iter(targets.values())) if len(distinct) == 1 else None

    def overdue_block(self, group: GroupFigures) -> None:
        shown = group.overdue[:MAX_OVERDUE_SHOWN]
        if group.overdue_count > len(shown):
            heading = f"超时未办告警（最早 {len(shown)} 件，共 {group.overdue_count} 件）"
        else:
            heading = f"超时未办告警（共 {group.overdue_count} 件）" if shown else "超时未办告警"
        self.section(heading, 14)
        if not shown:
            self.note("截至出具时无超时未办告警。", 9)
            return
        cols = [Col("编号", 16, "R"), Col("标题", 68), Col("级别", 12, "C"), Col("未按时", 22, "C"),
                Col("发生时间", 32, "C"), Col("已过", 32, "R")]
        rows = [[str(a.id), self.clean(a.title), self.clean(severity_label(a.severity)),
                 MISSED_LABELS.get(a.missed, a.missed), f"{local_time(self.report, a.created_at):%m-%d %H:%M}",
                 human_duration(a.age_seconds)] for a in shown]
        self.table(cols, rows, row_h=4.5)

    def availability_table(self, kinds: Sequence[KindAvailability]) -> None:
        cols = [Col("设备类型", 70), Col("设备数", 30, "R"), Col("在线率", 40, "R"), Col("离线次数", 42, "R")]
        rows = [[self.clean(split_label(kind_label(k.kind))[0] or k.kind), str(k.devices), pct_text(k.uptime_pct),
                 str(k.outages)] for k in kinds]
        self.table(cols, rows, row_h=4.8)

    def closing(self) -> None:
        report, pdf = self.report, self.pdf
        pdf.running_section = "设备在线率与统计口径"
        pdf.add_page()
        self.section("设备在线率（全部范围）", 20)
        if report.availability:
            bars = [(self.clean(split_label(kind_label(k.kind))[0] or k.kind), k.uptime_pct or 0.0,
                     f"{pct_text(k.uptime_pct)} · {k.devices} 台 · 离线 {k.outages} 次") for k in report.availability]
            self.room(len(bars) * 5.0 + 2)
            used = hbar_chart(pdf, pdf.l_margin, pdf.get_y(), self.width, bars, row_h=5.0, label_w=30, text_w=58,
                              maximum=100.0, fit=self.fit)
            pdf.set_y(pdf.get_y() + used + 1)
            self.note("在线率：各类设备已知运行时间中在线时间所占比例（按时间加权）；期间内从未上报过的设备不计。")
        else:
            self.note(f"{self.empty_word}无设备在线数据。", 9)
        self.section("响应目标", 20)
        cols = [Col("社区", 50), Col("级别", 30, "C"), Col("响应目标", 50, "R"), Col("办结目标", 52, "R")]
        rows = [[self.clean(site), self.clean(severity_label(severity)), human_duration(t.acknowledge_seconds),
                 human_duration(t.resolve_seconds)]
                for site, targets in sorted(report.targets.items()) for severity, t in targets.items()]
        if rows:
            self.table(cols, rows, row_h=4.8)
        else:
            self.note("本期无告警，未涉及社区目标。", 9)
        self.section("统计口径", 30)
        for name, chinese, _english in DEFINITIONS:
            self.room(10)
            self.font(8.5, "B")
            pdf.cell(22, 4.6, name)
            self.font(8.5)
            pdf.multi_cell(self.width - 22, 4.6, chinese, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(0.8)
        self.section("处置分类", 20)
        for key in dispositions(report):
            self.room(6)
            chinese, english = split_label(report.dispositions.get(key, key))
            self.font(8.5, "B")
            pdf.cell(22, 4.6, self.clean(chinese))
            self.font(8.5, color=MUTED)
            pdf.cell(self.width - 22, 4.6, self.fit(self.clean(f"{key} · {english}"), self.width - 22),
                     new_x="LMARGIN", new_y="NEXT")
        if report.group_by != "severity":
            pdf.ln(1.5)
            self.note(RANK_RULE, 8)

    def render(self) -> bytes:
        self.summary()
        judged = [g for g in self.report.groups if g.key is not None] if self.report.group_by != "severity" else []
        places = {id(group): place for place, group in rank(judged)}
        for group in self.report.groups:
            self.group_page(group, places.get(id(group)), len(judged))
        self.closing()
        return bytes(self.pdf.output())


def render_bulletin(report: AlertReport, *, title: str | None = None) -> bytes:
    """The bulletin as PDF bytes; `title` is its heading (the site's name is not in the report), by default
    `月度通报 2026年11月`. Raises `BulletinError` when the host has no CJK font."""
    return _Bulletin(report, find_fonts(), title).render()
