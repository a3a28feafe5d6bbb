"""Issue 18 in the console, in real headless Chromium against the real stack: a patrol member reports from the
phone (a photo attached as the camera input gives it) and the report becomes an alert with its picture; a
camera's live view is linked from its alert and its device sheet, and an address that is not http(s) is never a
link."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.api.browser import login, shoot
from tests.api.test_reports import photo
from tests.helpers import ApiServer, Publisher, wait_for

pytestmark = [pytest.mark.broker, pytest.mark.timeout(120)]
LIVE = "https://cams.example/hls/cam1.m3u8"


def test_a_field_report_with_a_photo_becomes_an_alert_and_cameras_link_their_live_view(
        make_api: Callable[..., ApiServer], mosquitto_url: str, sqlite_url: str, site_id: str,
        browser: Any) -> None:
    api = make_api(mosquitto_url, sqlite_url)
    with api.admin() as admin:
        assert admin.patch("/devices/cam1", json={"attributes": {"live_url": LIVE}}).status_code == 200
        unsafe = {"attributes": {"live_url": "javascript:alert(1)"}}
        assert admin.patch("/devices/face1", json=unsafe).status_code == 200
        assert admin.post("/watchlists/blacklist/entries", json={"value": "辽A88888"}).status_code in (200, 201)
    publisher = Publisher(mosquitto_url, site_id)
    try:
        publisher.send("cam1", "plate_camera", "event", type="plate", plate="辽A88888", direction="in")
    finally:
        publisher.close()
    patrol = api.token("patrol", name="巡逻员 赵六", grids=["g1"])
    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=1)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, api, patrol)
    page.get_by_test_id("alert-list").wait_for()

    # The report, as on a phone: what, where, how bad, a photo from the camera input, with its preview.
    page.get_by_test_id("report-open").click()
    form = page.get_by_test_id("report-form")
    form.wait_for()
    assert form.get_by_test_id("report-photo").get_attribute("capture") == "environment"
    form.get_by_test_id("report-what").fill("井盖缺失")
    form.get_by_test_id("report-where").fill("3号楼东侧车棚")
    form.get_by_test_id("report-severity").select_option("minor")
    form.get_by_test_id("report-photo").set_input_files(
        files=[{"name": "IMG_0001.jpg", "mimeType": "image/jpeg", "buffer": photo(1600, 1200)}])
    preview = form.get_by_test_id("report-preview")
    preview.wait_for()
    wait_for(lambda: preview.evaluate("img => img.complete && img.naturalWidth > 0"), 5, 0.05, "the preview")
    shoot(page, "patrol-report")
    form.get_by_test_id("report-submit").click()
    page.locator("[data-testid=toast][data-kind=ok]").wait_for(timeout=10_000)
    assert page.get_by_test_id("report-form").count() == 0

    item = page.locator("[data-testid=alert-item][data-state=open]").filter(has_text="井盖缺失 @ 3号楼东侧车棚")
    item.wait_for(timeout=10_000)
    assert item.get_attribute("data-severity") == "minor"
    picture = item.get_by_test_id("alert-picture")  # the new alert is opened, with the photo
    picture.wait_for(timeout=10_000)
    wait_for(lambda: picture.evaluate("img => img.complete && img.naturalWidth > 0"), 10, 0.05, "the picture shown")
    shoot(page, "patrol-report-alert")
    assert item.get_by_test_id("alert-history").filter(has_text="巡逻员 赵六").count() == 1
    with api.client(patrol) as http:
        alert = http.get(f"/alerts/{item.get_attribute('data-alert-id')}").json()
    assert alert["rule"] == "field-report" and alert["grid"] == "g1"
    assert [h["by"] for h in alert["history"] if h["action"] == "reported"] == ["巡逻员 赵六"]
    assert isinstance(alert["evidence"][0]["data"]["snapshot_id"], str)

    # Video patrol: the camera's alert links to its live view, in a new tab that cannot reach back.
    camera = page.locator("[data-testid=alert-item]").filter(has_text="辽A88888")
    camera.wait_for(timeout=20_000)
    camera.get_by_test_id("alert-summary").click()
    link = camera.get_by_test_id("live-view-link")
    link.wait_for(timeout=10_000)
    assert link.get_attribute("href") == LIVE and link.get_attribute("target") == "_blank"
    assert "noopener" in (link.get_attribute("rel") or "")
    link.scroll_into_view_if_needed()
    shoot(page, "patrol-live-view")
    checked = page.evaluate("""import('/console/liveview.js').then((m) => [
        'javascript:alert(1)', ' JavaScript:alert(1)', 'data:text/html,x', 'http://admin:pw@10.0.0.7/', 'ftp://x/y',
        'https://cams.example/a b', 'https://cams.example/hls/cam1.m3u8'].map(m.safeLiveUrl))""")
    assert checked == [None] * 6 + [LIVE]
    assert not errors, errors

    # The device sheet (maintenance): the camera's link, and none for the device whose address is javascript:.
    maintenance = browser.new_page(viewport={"width": 1280, "height": 900})
    maintenance.on("pageerror", lambda exc: errors.append(str(exc)))
    login(maintenance, api, api.token("maintenance"))
    for device, shown in (("face1", False), ("cam1", True)):
        maintenance.locator(f"[data-testid=device-row][data-device-id={device}]").click()
        sheet = maintenance.locator("[data-testid=device-sheet]").first
        sheet.wait_for()
        maintenance.get_by_test_id("device-charts").wait_for()
        links = sheet.get_by_test_id("live-view-link")
        assert links.count() == (1 if shown else 0), device
        if shown:
            assert links.get_attribute("href") == LIVE and links.get_attribute("target") == "_blank"
        assert sheet.locator("a[href^='javascript']").count() == 0
        maintenance.get_by_test_id("device-close").click()
        sheet.wait_for(state="detached")
    assert not errors, errors
