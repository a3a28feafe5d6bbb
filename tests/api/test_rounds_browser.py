"""A patrol member walks a round in real headless Chromium: the console's scanner reads the points' QR codes from
the camera (a canvas stream standing in for it, showing the codes the test prints with segno), one check-in goes
out while the phone is offline and is sent when the network returns, the round is completed; on a second route a
point's window runs out and its missed-point alert reaches the API and the console."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import segno
import yaml

from tests.api.browser import login, shoot
from tests.api.test_patrol import patrol_site
from tests.conftest import serving_api
from tests.helpers import ApiServer, clear_retained, wait_for

pytestmark = [pytest.mark.broker, pytest.mark.timeout(120)]

FAKE_CAMERA = """
(() => {
  // The phone's back camera, as the test wants it: a canvas showing the image the test sets (a QR code), as a
  // MediaStream (canvas.captureStream), returned by getUserMedia.
  const canvas = document.createElement('canvas');
  canvas.width = 640;
  canvas.height = 480;
  const ctx = canvas.getContext('2d');
  let image = null;
  window.__cameraShows = (dataUrl) => new Promise((resolve, reject) => {
    if (!dataUrl) { image = null; resolve(true); return; }
    const img = new Image();
    img.onload = () => { image = img; resolve(true); };
    img.onerror = reject;
    img.src = dataUrl;
  });
  const draw = () => {
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    if (image) {
      const side = 360;
      ctx.drawImage(image, (canvas.width - side) / 2, (canvas.height - side) / 2, side, side);
    }
  };
  draw();
  setInterval(draw, 40);
  const getUserMedia = async (constraints) => {
    window.__cameraAsked = constraints;
    return canvas.captureStream(25);
  };
  if (navigator.mediaDevices) navigator.mediaDevices.getUserMedia = getUserMedia;
  else Object.defineProperty(navigator, 'mediaDevices', { value: { getUserMedia }, configurable: true });
})();
"""


@pytest.fixture
def rounds_site(mosquitto_url: str, tmp_path: Path, site_id: str) -> Iterator[ApiServer]:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(patrol_site(site_id, missed_in=timedelta(seconds=12)), allow_unicode=True),
                    encoding="utf-8")
    with serving_api(mosquitto_url, f"sqlite:///{tmp_path / 'anju.db'}", path) as server:
        yield server
    clear_retained(mosquitto_url, site_id)


def qr_data_url(url: str) -> str:
    return segno.make_qr(url, error="m").png_data_uri(scale=8, border=4)


def test_a_member_walks_a_round_by_scanning_and_a_missed_point_is_alerted(
        rounds_site: ApiServer, browser: Any, site_id: str) -> None:
    api = rounds_site
    member = api.token("patrol", name="巡逻员 张建国", team=f"{site_id}-t1")
    with api.admin() as admin:
        points = {p["id"]: p for p in admin.get("/patrol/points", params={"site": site_id}).json()}
    codes = {i: qr_data_url(points[f"{site_id}-p{i}"]["url"]) for i in (1, 2, 3)}

    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1)
    context.add_init_script(FAKE_CAMERA)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, api, member)
    page.get_by_test_id("alert-list").wait_for()
    page.get_by_test_id("tab-rounds").click()
    night = page.locator(f"[data-testid=round-card][data-route='{site_id}-night']")
    night.wait_for(timeout=10_000)
    assert night.get_attribute("data-state") == "open"

    def scan(i: int) -> None:
        page.evaluate("u => window.__cameraShows(u)", codes[i])
        page.locator(f"[data-testid=scanner-seen-item][data-point='{site_id}-p{i}']").wait_for(timeout=10_000)
        page.evaluate("() => window.__cameraShows(null)")

    page.get_by_test_id("scan-open").click()
    page.locator("[data-testid=scanner][data-ready=true]").wait_for(timeout=10_000)
    assert page.evaluate("window.__cameraAsked.video.facingMode") == "environment"
    scan(1)
    shoot(page, "patrol-scanner")
    with api.admin() as admin:
        wait_for(lambda: admin.get("/patrol/checkins", params={"member": "巡逻员 张建国"}).json(),
                 what="the first check-in at the server")

    context.set_offline(True)  # the basement: no network
    scan(2)
    page.get_by_test_id("scanner-close").click()
    queued = page.locator(f"[data-testid=queued-item][data-point='{site_id}-p2'][data-state=queued]")
    queued.wait_for(timeout=5_000)
    shoot(page, "patrol-rounds-offline")
    with api.admin() as admin:
        assert len(admin.get("/patrol/checkins", params={"member": "巡逻员 张建国"}).json()) == 1
    context.set_offline(False)  # back: the queue is sent
    queued.wait_for(state="detached", timeout=15_000)
    night.locator(f"[data-testid=round-point][data-point='{site_id}-p2'][data-state=checked]").wait_for(
        timeout=20_000)

    page.get_by_test_id("scan-open").click()
    page.locator("[data-testid=scanner][data-ready=true]").wait_for(timeout=10_000)
    scan(3)
    page.get_by_test_id("scanner-close").click()
    page.locator(f"[data-testid=round-card][data-route='{site_id}-night'][data-state=completed]").wait_for(
        timeout=10_000)
    with api.admin() as admin:
        [done] = admin.get("/patrol/rounds", params={"route": f"{site_id}-night"}).json()
        assert (done["state"], done["checked"], done["total"]) == ("completed", 3, 3)
        assert [p["method"] for p in done["points"]] == ["qr", "qr", "qr"]
        assert {p["member"] for p in done["points"]} == {"巡逻员 张建国"}

        # the other route's only point was never scanned: its window runs out, the team is alerted
        alert = wait_for(lambda: [a for a in admin.get("/alerts", params={"audience": "patrol"}).json()
                                  if a["rule"] == "patrol-point-missed"], timeout=20, interval=0.3,
                         what="the missed-point alert")[0]
        assert alert["grid"] == f"{site_id}-g1" and "北门" in alert["title"] and alert["severity"] == "minor"
    page.locator(f"[data-testid=round-card][data-route='{site_id}-gate'] [data-testid=round-point]"
                 f"[data-state=missed]").wait_for(timeout=20_000)
    shoot(page, "patrol-rounds")
    page.get_by_test_id("tab-alerts").click()
    page.locator("[data-testid=alert-item]").filter(has_text="北门").first.wait_for(timeout=10_000)

    # the phone's own camera app opens the code's link: on to the console, which checks in
    p1 = points[f"{site_id}-p1"]
    page.goto(p1["url"].replace("http://127.0.0.1:8080", api.url))
    page.get_by_test_id("round-list").wait_for()
    assert page.evaluate("location.hash") == "#/patrol/rounds"
    with api.admin() as admin:
        wait_for(lambda: len(admin.get("/patrol/checkins", params={"member": "巡逻员 张建国"}).json()) == 4,
                 what="the check-in from the link")
    assert not errors, errors
    context.close()

    # the admin's side: points and routes listed, the printable sheet of QR codes
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, api, api.admin_token)
    page.get_by_test_id("nav-patrol").click()
    page.get_by_test_id("tab-manage").click()
    page.locator("[data-testid=patrol_points-row]").nth(3).wait_for(timeout=10_000)
    page.locator(f"[data-testid=patrol_routes-row][data-id='{site_id}-gate']").wait_for()
    page.locator(f"[data-testid=print-site] option[value='{site_id}']").wait_for(state="attached")
    page.get_by_test_id("print-site").select_option(site_id)
    page.get_by_test_id("print-open").click()
    images = page.locator("[data-testid=qr-img]")
    images.nth(3).wait_for(timeout=10_000)
    shown = "[...document.querySelectorAll('[data-testid=qr-img]')].every(i => i.complete && i.naturalWidth > 0)"
    wait_for(lambda: page.evaluate(shown), 10, 0.1, "the QR codes shown")
    assert images.count() == 4
    shoot(page, "patrol-qr-sheet")
    assert not errors, errors
