"""The web console in real headless Chromium (Debian's package), driven by Playwright, against the real stack.

Simulated devices (the `sos` and `offline` scenarios of the sample community)
publish through Mosquitto; the gateway, rules and API run as in production; the
browser logs in the way a person does. Screenshots of each view are written to
the folder named by ANJU_SCREENSHOTS (the ones in docs/screenshots came from here).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kernel.siteconfig import sample_community_path
from tests.api.browser import CHROMIUM, CHROMIUM_ARGS, login, shoot
from tests.conftest import serving_api, unavailable
from tests.helpers import ApiServer, clear_retained, wait_for

pytestmark = [pytest.mark.broker, pytest.mark.timeout(180)]


@pytest.fixture
def community(mosquitto_url: str, tmp_path: Path) -> Iterator[ApiServer]:
    """The sample community's gateway and API (site `hexie`), as `anju serve` runs them."""
    with serving_api(mosquitto_url, f"sqlite:///{tmp_path / 'anju.db'}", sample_community_path()) as server:
        yield server
    clear_retained(mosquitto_url, "hexie")


def simulate(broker_url: str, scenario: str, seconds: float, speed: float) -> Callable[[], None]:
    """Run a simulator scenario of the sample community in the background; returns a stop function."""
    from simulators.runner import run_simulation

    stop = threading.Event()
    thread = threading.Thread(target=run_simulation, daemon=True, kwargs={
        "broker_url": broker_url, "scenario": scenario, "speed": speed, "duration": seconds, "stop_event": stop,
        "site_file": str(sample_community_path())})
    thread.start()

    def finish() -> None:
        stop.set()
        thread.join(timeout=15)
    return finish


def test_patrol_sees_a_simulated_sos_live_and_handles_it(community: ApiServer, browser: Any,
                                                         mosquitto_url: str) -> None:
    api = community
    patrol = api.token("patrol", name="巡逻员 张建国", grids=["g1", "g2", "g3", "g4"])
    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=1)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, api, patrol)
    page.get_by_test_id("alert-list").wait_for()
    loaded_at = page.evaluate("performance.timeOrigin")

    stop = simulate(mosquitto_url, "sos", seconds=60, speed=30)  # the first press comes 30 simulated s in
    try:
        item = page.locator("[data-testid=alert-item][data-severity=critical][data-state=open]").first
        item.wait_for(timeout=20_000)
    finally:
        stop()
    assert page.evaluate("performance.timeOrigin") == loaded_at, "the alert must arrive without a reload"
    page.get_by_test_id("critical-banner").wait_for(state="visible")
    shoot(page, "patrol-sos")
    alert_id = item.get_attribute("data-alert-id")

    item.get_by_test_id("ack-button").click()
    handled = page.locator(f"[data-testid=alert-item][data-alert-id='{alert_id}']")
    handled.and_(page.locator("[data-state=acknowledged]")).wait_for(timeout=10_000)
    handled.get_by_test_id("alert-summary").click()  # the detail: history, location, the elder's family
    handled.get_by_test_id("alert-history").wait_for()
    page.get_by_test_id("resolve-note").wait_for()
    shoot(page, "patrol-detail")
    page.get_by_test_id("resolve-note").fill("已上门，老人摔倒无大碍，已通知家属 / visited, family informed")
    page.get_by_test_id("resolve-button").click()  # a critical alert must say how it ended: asked before sending
    error = page.get_by_test_id("resolve-error")
    error.wait_for()
    assert "处置结果" in error.inner_text()
    assert handled.get_attribute("data-state") == "acknowledged"
    page.get_by_test_id("resolve-disposition").select_option("handled")
    assert error.is_hidden()
    page.get_by_test_id("resolve-button").click()

    with httpx.Client(base_url=api.url + "/api/v1", headers={"Authorization": f"Bearer {patrol}"}) as http:
        done = wait_for(lambda: (a := http.get(f"/alerts/{alert_id}").json())["state"] == "resolved" and a,
                        what="the alert resolved through the console")
    steps = [h["action"] for h in done["history"]]
    assert "acknowledged" in steps and steps[-1] == "resolved" and done["disposition"] == "handled"
    handled.get_by_test_id("disposition-badge").filter(has_text="现场处置").wait_for()
    assert all(h["by"] == "巡逻员 张建国" for h in done["history"] if h["action"] in ("acknowledged", "resolved"))
    assert not errors, errors


def test_maintenance_sees_a_simulated_device_go_offline(community: ApiServer, browser: Any,
                                                        mosquitto_url: str) -> None:
    api = community
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, api, api.token("maintenance", name="运维 李工"))
    page.get_by_test_id("device-table").wait_for()

    stop = simulate(mosquitto_url, "offline", seconds=90, speed=30)  # two buttons drop 60 and 90 simulated s in
    try:
        with api.admin() as http:
            dropped = wait_for(lambda: http.get("/devices", params={"state": "offline", "kind": "elder_button"})
                               .json(), timeout=30, what="a simulated button going offline")[0]["id"]
        row = page.locator(f"[data-testid=device-row][data-device-id='{dropped}'][data-online=false]")
        row.wait_for(timeout=20_000)
        page.get_by_test_id("device-voltages").first.wait_for(timeout=20_000)  # fence zones' latest voltage
        shoot(page, "maintenance")
    finally:
        stop()
    assert not errors, errors


def test_screens_of_every_view(community: ApiServer, browser: Any) -> None:
    """Integrator and admin views load without errors (and are photographed for the docs)."""
    api = community
    for role, name in (("integrator", "integrator"), ("admin", "admin")):
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
        login(page, api, api.token(role))
        page.get_by_test_id(f"nav-{name}").wait_for()
        page.get_by_test_id(f"nav-{name}").click()
        page.wait_for_load_state("networkidle")
        shoot(page, name)
        assert not errors, f"{role}: {errors}"


def test_patrol_sees_the_picture_of_a_blacklisted_car(community: ApiServer, browser: Any, mosquitto_url: str) -> None:
    """A camera sends only a picture; the gateway reads the plate; the patrol sees the alert with the picture."""
    from tests.helpers import Publisher
    from tests.vision.test_e2e import _plates, camera_jpeg

    photo, plate = _plates()[0]
    api = community
    with api.admin() as admin:
        assert admin.post("/watchlists/blacklist/entries", json={"value": plate}).status_code in (200, 201)
    patrol = api.token("patrol", name="巡逻员 李娜", grids=["g1"])
    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=1)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, api, patrol)
    page.get_by_test_id("alert-list").wait_for()
    publisher = Publisher(mosquitto_url, "hexie")
    try:
        publisher.send("lpr-n", "plate_camera", "event", type="plate", direction="in", snapshot=camera_jpeg(photo))
    finally:
        publisher.close()
    item = page.locator("[data-testid=alert-item][data-state=open]").filter(has_text=plate).first
    item.wait_for(timeout=60_000)
    item.get_by_test_id("alert-summary").click()  # the card's top: the controls below it act
    picture = page.get_by_test_id("alert-picture")
    picture.wait_for(timeout=10_000)
    wait_for(lambda: picture.evaluate("img => img.complete && img.naturalWidth > 0"), 10, 0.1, "the picture shown")
    # No screenshot: it would copy a development-set photo into docs/ (they stay in ../shared).
    assert not errors, errors


def test_a_login_link_leaves_no_token_in_the_tab_and_logout_forgets_the_session(community: ApiServer,
                                                                                  browser: Any,
                                                                                  mosquitto_url: str) -> None:
    """Issue 15: a `/console/#token=…` link is taken out of the address bar before anything else runs, so no entry
    of the tab's history holds the token (Back never shows it), whether the link opens a new page or the console
    already open; logging out forgets the token, everything else the console stored but the language, and the
    camera pictures it had fetched (their blob URLs no longer load)."""
    import base64

    from tests.devices.hikvision_payloads import jpeg
    from tests.helpers import Publisher

    api = community
    token = api.token("patrol", name="巡逻员 王芳", grids=["g1"])
    with api.admin() as admin:
        assert admin.post("/watchlists/blacklist/entries", json={"value": "辽E99999"}).status_code in (200, 201)
    page = browser.new_page(viewport={"width": 390, "height": 844})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    cdp = page.context.new_cdp_session(page)

    def entries() -> list[str]:
        return [e["url"] for e in cdp.send("Page.getNavigationHistory")["entries"]]

    page.goto(api.url + f"/console/#token={token}")  # a new page from the link
    page.get_by_test_id("alert-list").wait_for()
    assert token not in page.url and not any(token in url for url in entries()), entries()
    assert page.evaluate("history.length") == len(entries())
    page.get_by_test_id("logout").click()
    page.get_by_test_id("login-token").wait_for()

    page.goto(api.url + f"/console/#token={token}")  # the link opened in the console already showing
    page.get_by_test_id("alert-list").wait_for()
    assert not any(token in url for url in entries()), entries()
    page.go_back()
    page.wait_for_timeout(300)
    assert token not in page.url
    page.go_forward()
    page.get_by_test_id("alert-list").wait_for()

    page.get_by_test_id("lang-toggle").click()  # a choice worth keeping across users
    page.evaluate("sessionStorage.setItem('anju.scratch', 'x')")
    publisher = Publisher(mosquitto_url, "hexie")
    try:
        publisher.send("lpr-n", "plate_camera", "event", type="plate", plate="辽E99999", direction="in",
                       snapshot=base64.b64encode(jpeg(seed=99)).decode())
    finally:
        publisher.close()
    item = page.locator("[data-testid=alert-item][data-state=open]").filter(has_text="辽E99999").first
    item.wait_for(timeout=20_000)
    item.get_by_test_id("alert-summary").click()  # the card's top: the controls below it act
    picture = page.get_by_test_id("alert-picture")
    picture.wait_for(timeout=10_000)
    wait_for(lambda: picture.evaluate("img => img.complete && img.naturalWidth > 0"), 10, 0.1, "the picture shown")
    src = picture.get_attribute("src")
    assert src and src.startswith("blob:")

    page.get_by_test_id("logout").click()
    page.get_by_test_id("login-token").wait_for()
    assert page.evaluate("Object.keys(localStorage)") == ["anju.lang"]
    assert page.evaluate("sessionStorage.length") == 0
    assert page.evaluate("src => fetch(src).then(() => 'loaded', () => 'gone')", src) == "gone"
    page.reload()
    page.get_by_test_id("login-token").wait_for()  # nothing left to log back in with
    assert not errors, errors


def test_a_one_time_login_link_leaves_nothing_usable_in_the_browsers_history(community: ApiServer,
                                                                              tmp_path: Path) -> None:
    """Issue 15: the browser's list of visited pages keeps a login link as it was opened (whatever the page does
    afterwards: checked in Chromium's own History database), so a link that carried the token kept a working
    token there. Links now carry a code that works once: the history holds a used code, never the token."""
    import sqlite3

    if not Path(CHROMIUM).exists():
        unavailable("no Chromium at /usr/bin/chromium (Debian package `chromium`; .ci/run installs it)")
    from playwright.sync_api import sync_playwright

    api = community
    with api.admin() as admin:
        made = admin.post("/tokens", json={"name": "巡逻员 赵敏", "role": "patrol", "grids": ["g1"],
                                           "login_link": True}).json()
    token, link = made["token"], made["login_link"]
    assert link.startswith("/console/#login=") and token not in link
    profile = tmp_path / "profile"
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(str(profile), executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = context.new_page()
        page.goto(api.url + link)
        page.get_by_test_id("alert-list").wait_for()  # logged in with the token the code stood for
        assert page.evaluate("localStorage.getItem('anju.token')") == token and "#login=" not in page.url
        again = context.new_page()  # the link opened a second time (from the history, say): it is spent
        again.goto(api.url + link)
        again.get_by_test_id("login-error").wait_for()
        context.close()
    visited = [url for (url,) in sqlite3.connect(profile / "Default" / "History").execute("SELECT url FROM urls")]
    assert any("#login=" in url for url in visited), visited  # the browser did keep the link as opened ...
    assert not any(token in url for url in visited), visited  # ... but never the token
    code = link.split("#login=", 1)[1]
    assert httpx.post(api.url + "/api/v1/login", json={"code": code}).status_code == 401
