"""Third-party drivers from the `anju.devices` entry-point group: discovery, broken drivers, the harness,
the simulator hook, and the worked example of docs/integrators.md (`examples/anju-driver-acme`) end to end.

The example package is "installed" the way pip would leave it, without network or pip: a
`anju_driver_acme-0.1.0.dist-info` (METADATA + entry_points.txt) in a tmp dir on `sys.path`, next to the
example's source folder. `importlib.metadata.entry_points()` then finds it like any installed distribution.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

import devices
from devices.base import DeviceDriver
from kernel.db.models import Event
from rules import catalog
from testkit.drivers import assert_canonical, assert_rejected, feed, load_payloads
from tests.conftest import GatewayFactory
from tests.helpers import Publisher, make_site, wait_for
from tests.rules.test_e2e import alerts_by_rule

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "anju-driver-acme"
PAYLOADS = EXAMPLE / "tests" / "payloads"
ACME_ENTRY_POINTS = "[anju.devices]\nacme_camera = anju_driver_acme.driver:AcmeVC200\n"
BROKEN_ENTRY_POINTS = """[anju.devices]
missing = anju_no_such_module:Driver
not_a_driver = json:JSONDecoder
clash = bad_drivers:ElderClash
bad_kind = bad_drivers:BadKind
crashes = bad_drivers:Crashes
"""
BAD_DRIVERS = '''
from datetime import timedelta
from devices.base import DeviceDriver

class ElderClash(DeviceDriver):
    kind = "elder_button"
    title = "an impostor"
    heartbeat_interval = offline_timeout = timedelta(minutes=1)

class BadKind(DeviceDriver):
    kind = "Bad Kind"
    title = "bad"
    heartbeat_interval = offline_timeout = timedelta(minutes=1)

class Crashes(DeviceDriver):
    kind = "crashes"
    title = "raises on every message"
    heartbeat_interval = offline_timeout = timedelta(minutes=1)
    def normalize(self, channel, data):
        raise RuntimeError("vendor firmware 1.2 not supported")
'''


def install_dist(where: Path, name: str, entry_points: str) -> None:
    """What `pip install` leaves behind for entry points: a dist-info with METADATA and entry_points.txt."""
    info = where / f"{name.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(entry_points, encoding="utf-8")


@pytest.fixture
def plugins(tmp_path: Path) -> Iterator[Path]:
    """A site-packages-like dir on sys.path; drivers are rediscovered after the test installs into it."""
    site = tmp_path / "site-packages"
    site.mkdir()
    sys.path[:0] = [str(site), str(EXAMPLE)]
    try:
        yield site
    finally:
        sys.path.remove(str(site))
        sys.path.remove(str(EXAMPLE))
        for name in [m for m in sys.modules if m == "bad_drivers" or m.startswith("anju_driver_acme")]:
            del sys.modules[name]
        importlib.invalidate_caches()
        devices.reload_drivers()


def install(site: Path, *, acme: bool = True, broken: bool = False) -> list[devices.DriverError]:
    if acme:
        install_dist(site, "anju-driver-acme", ACME_ENTRY_POINTS)
    if broken:
        install_dist(site, "anju-driver-broken", BROKEN_ENTRY_POINTS)
        (site / "bad_drivers.py").write_text(BAD_DRIVERS, encoding="utf-8")
    importlib.invalidate_caches()
    return devices.reload_drivers()


def test_an_installed_driver_is_discovered_and_maps_to_its_canonical_kind(plugins: Path) -> None:
    assert install(plugins) == []
    acme = devices.DRIVERS["acme_camera"]
    assert type(acme).__name__ == "AcmeVC200" and acme.canonical == "plate_camera"
    assert {cls.kind for cls in devices.BUILTIN_DRIVERS} < set(devices.DRIVERS)
    assert "acme_camera" in devices.KINDS
    # rules name the canonical kind: the vendor's topic kind is not a kind rules could match
    assert "acme_camera" not in catalog.kinds() and "plate_camera" in catalog.kinds()
    assert devices.canonical_kinds() == catalog.kinds()


def test_broken_drivers_are_skipped_each_with_one_clear_reason(plugins: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("ERROR", logger="anju.devices")
    errors = install(plugins, broken=True)
    by_name = {e.entry_point.split(" =")[0]: e for e in errors}
    assert set(by_name) == {"missing", "not_a_driver", "clash", "bad_kind"}
    assert {e.package for e in errors} == {"anju-driver-broken"}
    assert "import failed: ModuleNotFoundError" in by_name["missing"].reason
    assert "not a subclass of devices.base.DeviceDriver" in by_name["not_a_driver"].reason
    assert "'elder_button' is already provided by devices.elder_button.ElderButton" in by_name["clash"].reason
    assert "invalid kind 'Bad Kind'" in by_name["bad_kind"].reason
    assert devices.driver_errors == errors and errors[0].as_dict().keys() == {"package", "entry_point", "reason"}
    lines = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(lines) == 4 and all("anju-driver-broken" in line and "skipped" in line for line in lines)
    # the good drivers are all there, the built-in elder button untouched
    assert type(devices.DRIVERS["elder_button"]).__module__ == "devices.elder_button"
    assert {"acme_camera", "crashes"} <= set(devices.DRIVERS)


def test_a_driver_that_raises_costs_its_message_not_the_gateway(plugins: Path) -> None:
    install(plugins, acme=False, broken=True)
    rejected = feed(devices.DRIVERS["crashes"], "event", {"type": "x"})
    assert rejected.reason == "driver_error" and "vendor firmware 1.2 not supported" in rejected.detail


def test_harness_messages_say_what_is_wrong() -> None:
    from devices.plate_camera import PlateCamera

    cam = PlateCamera()
    assert_canonical(cam, "event", {"type": "plate", "plate": "辽E12345"}, type="plate", fields={"plate": "辽E12345"})
    with pytest.raises(AssertionError, match=r"canonical field 'plate' is '辽E12345', expected '辽E00000'"):
        assert_canonical(cam, "event", {"type": "plate", "plate": "辽E12345"}, fields={"plate": "辽E00000"})
    with pytest.raises(AssertionError, match=r"the gateway would reject .*: unknown_type: plate_camera has no"):
        assert_canonical(cam, "event", b'{"type": "face"}')
    with pytest.raises(AssertionError, match="was accepted as 'plate', expected a rejection"):
        assert_rejected(cam, "event", {"type": "plate", "plate": "辽E12345"})


def test_recorded_payload_files(tmp_path: Path) -> None:
    assert [r.name for r in load_payloads(PAYLOADS)] == ["heartbeat.json", "lpr-more.jsonl:2", "lpr-more.jsonl:3",
                                                       "lpr.json"]
    (tmp_path / "many.json").write_text('[{"a": 1}, {"a": 2}]')
    assert [r.json() for r in load_payloads(tmp_path / "many.json")] == [{"a": 1}, {"a": 2}]
    (tmp_path / "empty").mkdir()
    with pytest.raises(AssertionError, match="no recorded payloads"):
        load_payloads(tmp_path / "empty")


def test_the_example_package_own_tests_pass() -> None:
    """What the integrator runs in their own repository (docs/integrators.md, step 4)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(EXAMPLE), str(ROOT)])}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_docs_show_the_example_files_verbatim() -> None:
    """Every code block in docs/integrators.md that starts with `# <path>` is that file of the example."""
    text = (ROOT / "docs" / "integrators.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```\w*\n# (examples/\S+)\n(.*?)```", text, re.S)
    assert len(blocks) >= 3
    for path, body in blocks:
        assert (ROOT / path).read_text(encoding="utf-8") == body, f"docs/integrators.md is out of date for {path}"


def test_the_simulator_hook_gives_the_vendor_device(plugins: Path) -> None:
    from simulators.kinds import make_model
    from simulators.messages import encode_payload

    install(plugins)
    model = make_model("acme_camera")
    assert type(model).__name__ == "AcmeVC200Model"
    sent = encode_payload(model.encode(model.plate("辽E12345", 93), "m1", 1_795_392_000_000))
    assert sent.decode() == '{"evt":"LPR","plateNo":"辽E12345","conf":93,"time":"2026-11-23T08:00:00+08:00"}'
    assert_canonical(devices.DRIVERS["acme_camera"], "event", sent, fields={"plate": "辽E12345"})
    with pytest.raises(ValueError, match="unknown device kind 'nope'"):
        make_model("nope")


# -- end to end: the real broker, the built-in rules -----------------------------------------------------------


@pytest.fixture
def site_file(tmp_path: Path, site_id: str) -> Path:
    """The tests' site plus the ACME camera at the east gate: a `plate_camera` device (its canonical kind)."""
    site = make_site(site_id)
    site["sites"][0]["devices"].append({"id": "acme1", "kind": "plate_camera", "grid": "g1", "name": "东门 ACME"})
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(site, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.broker
def test_acme_lpr_of_a_blacklisted_plate_raises_the_blacklist_alert(
        plugins: Path, make_gateway: GatewayFactory, mosquitto_url: str, sqlite_url: str, site_id: str) -> None:
    """docs/integrators.md, step 6: with broken driver packages installed next to it, the gateway starts,
    processes the other devices, and the ACME camera's own LPR payload raises `plate-blacklist`."""
    from kernel.timeutil import utcnow
    from rules.watchlists import add_entry
    from simulators import SimulatedDevice
    from simulators.kinds import make_model

    errors = install(plugins, broken=True)
    assert len(errors) == 4
    gw = make_gateway(mosquitto_url, sqlite_url, rules=True, start=False)
    gw.prepare_database()
    with gw.sessions.begin() as s:
        add_entry(s, "blacklist", "辽E12345", utcnow(), added_by="派出所", note="stolen")
    gw.start()
    assert gw.wait_connected(10)
    pub = Publisher(mosquitto_url, site_id)
    try:
        [lpr] = load_payloads(PAYLOADS / "lpr.json")
        pub.raw(pub.topic("acme_camera", "acme1", "event"), lpr.payload)
        pub.raw(pub.topic("crashes", "x1", "event"), b'{"type": "x"}')  # the raising driver: dead-lettered
        pub.send("eb1", "elder_button", "event", type="press")
        alerts = wait_for(lambda: (a := alerts_by_rule(gw)).keys() >= {"plate-blacklist", "elder-sos"} and a,
                          what="the blacklist and SOS alerts")
    finally:
        pub.close()
    alert = alerts["plate-blacklist"]
    assert alert.device_id == "acme1" and alert.kind == "plate_camera"
    assert alert.evidence[0]["data"]["plate"] == "辽E12345" and alert.evidence[0]["data"]["vendor"]["conf"] == 93
    # the simulated ACME camera (the driver's own simulator) speaks the vendor format over MQTT too
    from kernel.mqtt import parse_broker_url

    cam = SimulatedDevice(site_id, "acme_camera", "acme1", parse_broker_url(mosquitto_url),
                          model=make_model("acme_camera"))
    cam.connect()
    try:
        cam.publish(cam.model.plate("辽B77777", 95))
        with gw.sessions() as s:
            event = wait_for(lambda: next((e for e in s.scalars(select(Event).where(Event.device_id == "acme1"))
                                           if e.data.get("plate") == "辽B77777"), None),
                             what="the simulated camera's plate event")
        assert event.kind == "plate_camera" and event.type == "plate" and event.data["vendor"]["evt"] == "LPR"
    finally:
        cam.close()
    assert isinstance(devices.DRIVERS["acme_camera"], DeviceDriver)


@pytest.mark.broker
def test_healthz_lists_the_drivers_that_failed_to_load(plugins: Path, mosquitto_url: str, sqlite_url: str,
                                                       site_file: Path) -> None:
    import httpx

    from tests.conftest import serving_api

    install(plugins, broken=True)
    with serving_api(mosquitto_url, sqlite_url, site_file) as api:
        health = httpx.get(api.url + "/healthz", timeout=10).json()
    reported = {e["entry_point"].split(" =")[0]: e for e in health["driver_errors"]}
    assert set(reported) == {"missing", "not_a_driver", "clash", "bad_kind"}
    assert all(e["package"] == "anju-driver-broken" and e["reason"] for e in reported.values())
