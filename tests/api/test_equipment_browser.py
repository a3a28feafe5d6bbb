"""The maintenance view's equipment per building and an equipment alert's affected residents, in headless Chromium
against the real stack (MQTT → gateway → rules → API → console)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.api.browser import login, shoot
from tests.api.test_equipment import equipment_site
from tests.conftest import serving_api
from tests.helpers import ApiServer, Publisher, clear_retained

pytestmark = [pytest.mark.broker, pytest.mark.timeout(120)]


@pytest.fixture
def stack(mosquitto_url: str, tmp_path: Path, site_id: str) -> Iterator[ApiServer]:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(equipment_site(site_id), allow_unicode=True), encoding="utf-8")
    with serving_api(mosquitto_url, f"sqlite:///{tmp_path / 'anju.db'}", path) as server:
        yield server
    clear_retained(mosquitto_url, site_id)


def test_maintenance_sees_equipment_per_building_and_who_a_water_cut_affects(
        stack: ApiServer, browser: Any, mosquitto_url: str, site_id: str) -> None:
    pub = Publisher(mosquitto_url, site_id)
    try:
        pub.send(f"{site_id}-lift-20", "elevator", "telemetry", type="status", running=False, in_service=True,
                 floor=1, door="closed")
        pub.send(f"{site_id}-pump-7", "water", "telemetry", type="reading", pressure_mpa=0.32, level_pct=71)
        pub.send(f"{site_id}-pump-7", "water", "event", type="supply_interrupted")
    finally:
        pub.close()
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, stack, stack.token("maintenance", name="运维 李工"))

    card = page.locator("[data-testid=equipment-building][data-building=b20]")
    card.locator("[data-testid=lift-state][data-state=in_service]").wait_for(timeout=30_000)
    card.get_by_test_id("water-values").filter(has_text="0.32").wait_for(timeout=30_000)
    page.locator("[data-testid=outage-row][data-ongoing=true]").first.wait_for(timeout=30_000)
    card.locator(f"[data-device-id='{site_id}-pump-7'] [data-testid=equipment-chart-toggle]").click()
    card.locator("[data-testid=chart-pressure_mpa], [data-testid=chart-pressure_mpa-empty]").first.wait_for()
    page.get_by_test_id("equipment-panel").scroll_into_view_if_needed()
    shoot(page, "maintenance-equipment")

    page.get_by_test_id("alert-summary").filter(has_text="停水").first.click()
    affected = page.locator("[data-testid=alert-affected][data-households='42']")
    affected.wait_for(timeout=20_000)
    text = affected.inner_text()
    assert "杨长海" in text and "程广才" in text and "于志刚" not in text, text
    affected.scroll_into_view_if_needed()
    shoot(page, "alert-affected")
    assert not errors, errors
