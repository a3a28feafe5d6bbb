"""What is printed at a patrol point: a QR code holding the point's check-in link, and a sheet of a site's codes.

The code holds `{public_url}/p/{point}.{code}`: the console's scanner reads the point and its secret from it,
and a phone's own camera app opens the link, which the API redirects to the console's check-in
(`api.routers.patrol.links_router`). The secret is what proves the scanner stood at the point; the point's
id alone does not. Codes are regular QR codes (never Micro QR, which phone cameras do not read), as SVG made
by `segno` without any image library.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import segno

REF = re.compile(r"(?:^|/p/)([A-Za-z0-9_-]{1,64})\.([A-Za-z0-9_-]{1,64})/?$")
"""A point's reference as a link's last part or on its own: `p1.Xy…` → point `p1`, code `Xy…`."""


def point_ref(point_id: str, code: str) -> str:
    return f"{point_id}.{code}"


def point_url(public_url: str, point_id: str, code: str) -> str:
    """The QR code's content: the check-in link of the point."""
    return f"{public_url.rstrip('/')}/p/{point_ref(point_id, code)}"


def parse_ref(text: str) -> tuple[str, str] | None:
    """(point, code) from a scanned text (a link or a bare reference), or None."""
    found = REF.search(text.strip().split("#", 1)[0].split("?", 1)[0])
    return (found.group(1), found.group(2)) if found else None


def qr_svg(content: str, scale: int = 4, title: str | None = None) -> str:
    """A standalone SVG document of a QR code (dark on white, with the standard quiet zone)."""
    out = io.BytesIO()
    segno.make_qr(content, error="m").save(out, kind="svg", scale=scale, border=4, dark="#000", light="#fff",
                                           xmldecl=False, svgns=True, title=title, unit=None)
    return out.getvalue().decode("utf-8")


@dataclass(frozen=True, slots=True)
class SheetPoint:
    id: str
    name: str
    code: str
    grid: str | None
    location: dict[str, Any]


def sheet_html(site_name: str, points: Iterable[SheetPoint], public_url: str) -> str:
    """A printable page of QR codes, one card per point (name, id, where, the code, its text for typing in)."""
    cards = []
    for point in points:
        url = point_url(public_url, point.id, point.code)
        where = " · ".join(str(v) for v in (point.location or {}).values() if isinstance(v, str | int | float))
        cards.append(
            '<figure class="card">'
            f'<div class="qr">{qr_svg(url, scale=5, title=point.name)}</div>'
            f'<figcaption><strong>{html.escape(point.name)}</strong>'
            f'<span class="id">{html.escape(point.id)}{" · " + html.escape(point.grid) if point.grid else ""}</span>'
            f'{"<span>" + html.escape(where) + "</span>" if where else ""}'
            f'<code>{html.escape(point_ref(point.id, point.code))}</code></figcaption></figure>')
    title = html.escape(f"{site_name} · 巡更点二维码 / patrol point QR codes")
    return (
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
        f"<title>{title}</title><style>"
        "body{font-family:'Noto Sans CJK SC','PingFang SC','Microsoft YaHei',sans-serif;margin:12mm}"
        "h1{font-size:16pt;margin:0 0 8mm}"
        ".sheet{display:grid;grid-template-columns:repeat(3,1fr);gap:6mm}"
        ".card{margin:0;border:1px dashed #999;padding:4mm;text-align:center;break-inside:avoid}"
        ".qr svg{width:45mm;height:45mm}"
        "figcaption{display:flex;flex-direction:column;gap:1mm;font-size:10pt}"
        "figcaption strong{font-size:13pt}.id{color:#555}code{font-size:7pt;word-break:break-all;color:#333}"
        "@media print{body{margin:8mm}h1{display:none}}"
        "</style></head><body>"
        f"<h1>{title}</h1><main class=\"sheet\">{''.join(cards)}</main></body></html>")
