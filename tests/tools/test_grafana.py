"""The Grafana dashboard and what provisions it (docs/deployment.md#grafana), checked without Docker.

A dashboard fails quietly: a misspelt metric or label is an empty panel, not an error. So every PromQL
expression is read for the metric names, label matchers and groupings it uses, and each is checked against
what Anju's `/metrics` serves: the gateway's registry (kernel/metrics.py, with the InfluxDB store's metrics on
it, gateway/timeseries/influx.py) and the gauges the route adds at scrape time (api/routers/health.py). Every
Flux query is checked against the line protocol the InfluxDB writer writes; compose.yaml, deploy/prometheus.yml
and Grafana's provisioning files against each other and against the repository.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.timeseries.influx import FIELD, MEASUREMENT, InfluxMetrics, to_line
from kernel.metrics import GatewayMetrics
from kernel.timeutil import utcnow
from kernel.vocabulary import SEVERITIES

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy/grafana/dashboards/anju.json"
DATASOURCES = ROOT / "deploy/grafana/provisioning/datasources/anju.yaml"
PROVIDERS = ROOT / "deploy/grafana/provisioning/dashboards/anju.yaml"
PROMETHEUS = ROOT / "deploy/prometheus.yml"
COMPOSE = ROOT / "compose.yaml"
ENV_EXAMPLE = ROOT / "deploy/env.example"

REGISTRY_SOURCES = ("kernel/metrics.py", "gateway/timeseries/influx.py")
"""Where the metrics on the gateway's registry are declared (the InfluxDB store puts its own there)."""
ROUTE_SOURCE = "api/routers/health.py"
"""The /metrics route, which adds gauges read from the database at each scrape."""
TARGET_LABELS = frozenset({"instance", "job"})
"""Labels Prometheus attaches to every scraped series."""
FLUX_COLUMNS = frozenset({"_measurement", "_field", "_value", "_time", "_start", "_stop"})
GRAFANA_BUILTINS = frozenset({"__rate_interval", "__interval", "__interval_ms", "__range", "__range_s",
                              "__range_ms", "__all", "__field", "__series", "__name", "__value", "__data",
                              "__from", "__to", "__dashboard", "__org", "__user", "__timezone"})

SAMPLE_SUFFIXES = {"counter": ("_total", "_created"), "gauge": ("",), "histogram": ("_bucket", "_count", "_sum",
                   "_created"), "summary": ("", "_count", "_sum", "_created")}
"""The series a family of each type is exposed as (prometheus_client, text format)."""


# -- what /metrics exposes ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Family:
    name: str
    """As exposed: a counter without its `_total`, as prometheus_client names the family."""
    type: str
    labels: frozenset[str]

    def series(self) -> set[str]:
        return {self.name + suffix for suffix in SAMPLE_SUFFIXES[self.type]}


METRIC_CLASSES = {"Counter": "counter", "Gauge": "gauge", "Histogram": "histogram", "Summary": "summary"}


def declared(relative: str) -> dict[str, Family]:
    """The prometheus_client metrics a module declares with a literal name (and literal label names)."""
    families = {}
    for node in ast.walk(ast.parse((ROOT / relative).read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in METRIC_CLASSES
                and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            continue
        kind = METRIC_CLASSES[node.func.id]
        labels_node = node.args[2] if len(node.args) > 2 else next(
            (k.value for k in node.keywords if k.arg == "labelnames"), None)
        labels = frozenset(ast.literal_eval(labels_node)) if labels_node is not None else frozenset()
        name = node.args[0].value
        if kind == "counter":
            name = name.removesuffix("_total")
        families[name] = Family(name, kind, labels)
    return families


@pytest.fixture(scope="module")
def registry() -> GatewayMetrics:
    metrics = GatewayMetrics()
    InfluxMetrics(metrics.registry)  # compose.yaml's processes write readings to InfluxDB
    return metrics


@pytest.fixture(scope="module")
def exposed() -> dict[str, Family]:
    families: dict[str, Family] = {}
    for source in (*REGISTRY_SOURCES, ROUTE_SOURCE):
        families.update(declared(source))
    return families


@pytest.fixture(scope="module")
def series(exposed: dict[str, Family]) -> dict[str, Family]:
    """Every series name /metrics can expose → its family (`anju_messages_total` → `anju_messages`)."""
    return {name: family for family in exposed.values() for name in family.series()}


@pytest.fixture(scope="module")
def buckets(registry: GatewayMetrics, exposed: dict[str, Family]) -> dict[str, set[str]]:
    """Each histogram's `le` values exactly as exposed (prometheus_client writes 60 as "60.0")."""
    for family in registry.registry.collect():
        info = exposed[family.name]
        if info.type == "histogram" and info.labels:
            histogram = next(m for m in vars(registry).values()
                             if hasattr(m, "describe") and m.describe()[0].name == family.name)
            histogram.labels(**dict.fromkeys(info.labels, "x"))
    found: dict[str, set[str]] = {}
    for family in registry.registry.collect():
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                found.setdefault(family.name, set()).add(sample.labels["le"])
    return found


def test_the_source_reading_agrees_with_the_live_registry(registry: GatewayMetrics) -> None:
    """What the test reads from the source is what the gateway's registry really holds."""
    live = {family.name: family.type for family in registry.registry.collect()}
    read: dict[str, str] = {}
    for source in REGISTRY_SOURCES:
        read.update({name: family.type for name, family in declared(source).items()})
    assert read == live
    route = declared(ROUTE_SOURCE)
    assert {"anju_open_alerts", "anju_devices"} <= set(route), "the /metrics route's gauges were not found"


# -- the dashboard ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Query:
    where: str
    type: str
    """The data source's type: prometheus or influxdb."""
    uid: str
    text: str


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return load_json(DASHBOARD)


def all_panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for panel in panels:
        out.append(panel)
        out += all_panels(panel.get("panels", []))  # a collapsed row holds its panels
    return out


def variables(dashboard: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in dashboard["templating"]["list"]}


def resolve(source: dict[str, Any], dashboard: dict[str, Any]) -> tuple[str, str]:
    """A panel's or query's data source as (type, uid), through a data-source variable's default."""
    uid = source["uid"]
    match = re.fullmatch(r"\$\{(\w+)\}|\$(\w+)", uid)
    if match:
        variable = variables(dashboard)[match.group(1) or match.group(2)]
        assert variable["type"] == "datasource" and variable["query"] == source["type"], variable["name"]
        uid = variable["current"]["value"]
    return source["type"], uid


def queries(dashboard: dict[str, Any]) -> list[Query]:
    found = []
    for panel in all_panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            kind, uid = resolve(target.get("datasource") or panel["datasource"], dashboard)
            text = target.get("expr") if kind == "prometheus" else target.get("query")
            assert text, f"panel {panel['title']!r}, query {target.get('refId')}: empty"
            found.append(Query(f"panel {panel['title']!r} {target.get('refId')}", kind, uid, text))
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            kind, uid = resolve(variable["datasource"], dashboard)
            text = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
            found.append(Query(f"variable ${variable['name']}", kind, uid, text))
    return found


@pytest.fixture(scope="module")
def provisioned() -> dict[str, dict[str, Any]]:
    return {source["uid"]: source for source in load_yaml(DATASOURCES)["datasources"]}


def test_dashboard_identity(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] == "anju-overview"
    assert dashboard["title"] == "Anju 安居 — gateway and alerts"
    assert dashboard["schemaVersion"] >= 39
    panels = all_panels(dashboard["panels"])
    assert len({p["id"] for p in panels}) == len(panels), "panel ids must be unique"
    assert all({"h", "w", "x", "y"} <= set(p["gridPos"]) for p in panels)


def test_every_panel_reads_a_provisioned_data_source(dashboard: dict[str, Any],
                                                     provisioned: dict[str, dict[str, Any]]) -> None:
    for panel in all_panels(dashboard["panels"]):
        if panel["type"] == "row":
            continue
        kind, uid = resolve(panel["datasource"], dashboard)
        assert uid in provisioned and provisioned[uid]["type"] == kind, f"panel {panel['title']!r}: {uid}"
        assert panel.get("targets"), f"panel {panel['title']!r} has no query"
    for query in queries(dashboard):
        assert query.uid in provisioned and provisioned[query.uid]["type"] == query.type, query.where


def test_every_template_variable_used_is_defined(dashboard: dict[str, Any]) -> None:
    defined = set(variables(dashboard))
    texts = [q.text for q in queries(dashboard)] + [p.get("title", "") for p in all_panels(dashboard["panels"])]
    texts += [p["repeat"] for p in all_panels(dashboard["panels"]) if p.get("repeat")]
    for text in texts:
        for name in re.findall(r"\$\{(\w+)[^}]*\}|\$(\w+)", text):
            used = name[0] or name[1]
            assert used in defined or used in GRAFANA_BUILTINS, f"${used} in {text!r}"
    for panel in all_panels(dashboard["panels"]):
        if panel.get("repeat"):
            assert panel["repeat"] in defined


# -- PromQL ---------------------------------------------------------------------------------------------------------

SELECTOR = re.compile(r"\b(anju_[a-z0-9_]+)\s*(\{[^}]*\})?")
MATCHER = re.compile(r'([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
GROUPING = re.compile(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)")
LABEL_VALUES = re.compile(r"label_values\(\s*(anju_[a-z0-9_]+)\s*,\s*(\w+)\s*\)")


def promql(dashboard: dict[str, Any]) -> list[Query]:
    found = [q for q in queries(dashboard) if q.type == "prometheus"]
    assert found
    return found


def test_every_metric_queried_is_exposed(dashboard: dict[str, Any], series: dict[str, Family]) -> None:
    for query in promql(dashboard):
        names = [m.group(1) for m in SELECTOR.finditer(query.text)]
        assert names, f"{query.where}: no anju_ metric in {query.text!r}"
        for name in names:
            assert name in series, f"{query.where}: {name} is not something /metrics exposes"


def test_every_label_queried_exists(dashboard: dict[str, Any], series: dict[str, Family],
                                    buckets: dict[str, set[str]]) -> None:
    for query in promql(dashboard):
        in_query: set[str] = set(TARGET_LABELS)
        for match in SELECTOR.finditer(query.text):
            name, matchers = match.group(1), match.group(2) or ""
            family = series[name]
            labels = family.labels | TARGET_LABELS | ({"le"} if name.endswith("_bucket") else set())
            in_query |= labels
            for label, op, value in MATCHER.findall(matchers):
                assert label in labels, f"{query.where}: {name} has no label {label}"
                if label == "le":
                    bounds = sorted(buckets[family.name])
                    assert op == "=" and value in bounds, f"{query.where}: {family.name} has no le={value!r}: {bounds}"
                if label == "severity" and op == "=":
                    assert value in SEVERITIES, f"{query.where}: severity {value!r}"
        for grouping in GROUPING.findall(query.text):
            for label in filter(None, (part.strip() for part in grouping.split(","))):
                assert label in in_query, f"{query.where}: no metric in the query has the label {label}"
        for name, label in LABEL_VALUES.findall(query.text):
            assert label in series[name].labels | TARGET_LABELS, f"{query.where}: {name} has no label {label}"


def test_response_targets_are_bucket_bounds(buckets: dict[str, set[str]]) -> None:
    """The share within target is exact only if the targets (critical 60 s, major 5 min) are bounds."""
    assert {"60.0", "300.0"} <= buckets["anju_alert_acknowledge_seconds"]


# -- Flux -------------------------------------------------------------------------------------------------------------

def written() -> tuple[str, set[str], set[str]]:
    """The measurement, tag keys and field keys of a line the InfluxDB writer writes (a zoned reading)."""
    line = to_line({"device_id": "fence-n", "site": "hexie", "kind": "fence", "metric": "voltage_kv", "zone": "Z1",
                    "ts": utcnow(), "value": 8.2})
    series_key, fields, _timestamp = line.split(" ")
    measurement, *tags = series_key.split(",")
    return measurement, {t.split("=")[0] for t in tags}, {f.split("=")[0] for f in fields.split(",")}


def flux(dashboard: dict[str, Any]) -> list[Query]:
    found = [q for q in queries(dashboard) if q.type == "influxdb"]
    assert found
    return found


def test_flux_reads_what_the_writer_writes(dashboard: dict[str, Any], provisioned: dict[str, dict[str, Any]]) -> None:
    measurement, tags, fields = written()
    assert (measurement, fields) == (MEASUREMENT, {FIELD})
    bucket = provisioned["anju-influxdb"]["jsonData"]["defaultBucket"]
    for query in flux(dashboard):
        measurements = re.findall(r'_measurement\s*==\s*"([^"]*)"', query.text)
        assert measurements, f"{query.where}: no measurement filter"
        assert set(measurements) == {measurement}, f"{query.where}: {measurements}"
        assert set(re.findall(r'_field\s*==\s*"([^"]*)"', query.text)) <= fields, query.where
        assert set(re.findall(r"\br\.(\w+)", query.text)) <= tags | FLUX_COLUMNS, query.where
        for columns in re.findall(r"group\(\s*columns:\s*\[([^\]]*)\]", query.text):
            assert set(re.findall(r'"(\w+)"', columns)) <= tags, f"{query.where}: group by {columns}"
        assert set(re.findall(r'\btag:\s*"(\w+)"', query.text)) <= tags, query.where
        assert set(re.findall(r'\bbucket:\s*"([^"]*)"', query.text)) == {bucket}, query.where


# -- provisioning, Prometheus and compose.yaml ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_yaml(COMPOSE)


def binds(service: dict[str, Any]) -> dict[str, Path]:
    """A service's bind mounts: container path → host path (long syntax, or `./host:/container`)."""
    found = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            if volume.get("type") == "bind":
                assert volume.get("read_only"), f"{volume['source']} should be mounted read-only"
                found[volume["target"]] = ROOT / volume["source"]
        elif volume.startswith((".", "/")):
            source, target, *_ = volume.split(":")
            found[target] = ROOT / source
    return found


def host_path(service: dict[str, Any], container_path: str) -> Path:
    """Where a path inside the container comes from on the host, through the service's bind mounts."""
    for target, source in binds(service).items():
        if container_path == target or container_path.startswith(target.rstrip("/") + "/"):
            return source / Path(container_path).relative_to(target)
    raise AssertionError(f"{container_path} is not mounted")


def test_monitoring_services_mount_files_of_the_repository(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["prometheus"]["image"].startswith("prom/prometheus:")
    assert services["grafana"]["image"].startswith("grafana/grafana-oss:")
    for name in ("prometheus", "grafana"):
        mounts = binds(services[name])
        assert mounts
        for target, source in mounts.items():
            assert source.exists(), f"{name} mounts {source.relative_to(ROOT)} at {target}: missing"
        for port in services[name]["ports"]:
            assert re.match(r"\$\{\w+:-127\.0\.0\.1:\d+\}:\d+$", port), f"{name}: {port} is not on 127.0.0.1"
        for volume in services[name]["volumes"]:
            if isinstance(volume, str) and not volume.startswith((".", "/")):
                assert volume.split(":")[0] in compose["volumes"], f"{name}: volume {volume} is not declared"


def test_grafana_is_provisioned_from_the_mounted_files(compose: dict[str, Any],
                                                       provisioned: dict[str, dict[str, Any]]) -> None:
    grafana = compose["services"]["grafana"]
    env = grafana["environment"]
    assert env["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")
    assert host_path(grafana, "/etc/grafana/provisioning/datasources") == DATASOURCES.parent
    assert host_path(grafana, "/etc/grafana/provisioning/dashboards") == PROVIDERS.parent
    [provider] = load_yaml(PROVIDERS)["providers"]
    assert provider["type"] == "file"
    assert DASHBOARD.parent == host_path(grafana, provider["options"]["path"])
    assert host_path(grafana, env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]) == DASHBOARD

    prometheus, influx = provisioned["anju-prometheus"], provisioned["anju-influxdb"]
    assert (prometheus["type"], prometheus["url"]) == ("prometheus", "http://prometheus:9090")
    assert (influx["type"], influx["url"]) == ("influxdb", "http://influxdb:8086")
    assert influx["jsonData"]["version"] == "Flux"
    anju = compose["x-anju-env"]
    assert influx["jsonData"]["organization"] == anju["ANJU_TIMESERIES__ORG"]
    assert influx["jsonData"]["defaultBucket"] == anju["ANJU_TIMESERIES__BUCKET"]
    token = re.fullmatch(r"\$\{?(\w+)\}?", influx["secureJsonData"]["token"])
    assert token and token.group(1) in env, "Grafana's environment must carry the InfluxDB token"
    scrape_interval = load_yaml(PROMETHEUS)["global"]["scrape_interval"]
    assert prometheus["jsonData"]["timeInterval"] == scrape_interval


def test_prometheus_scrapes_what_serves_metrics_with_a_token_kept_out_of_the_repository(
        compose: dict[str, Any]) -> None:
    services = compose["services"]
    prometheus = services["prometheus"]
    assert host_path(prometheus, "/etc/prometheus/prometheus.yml") == PROMETHEUS
    config = load_yaml(PROMETHEUS)
    targets = []
    for job in config["scrape_configs"]:
        assert job["metrics_path"] == "/metrics"
        authorization = job["authorization"]
        assert "credentials" not in authorization, "no token in the repository"
        token = host_path(prometheus, authorization["credentials_file"])
        assert token.parent.is_dir()
        ignored = (token.parent / ".gitignore").read_text(encoding="utf-8").splitlines()
        assert "*" in ignored and f"!{token.name}" not in ignored, "the token file must be ignored by git"
        targets += [t for static in job["static_configs"] for t in static["targets"]]
    assert "api:8080" in targets
    for target in targets:
        host, port = target.split(":")
        env = services[host]["environment"]
        assert env.get("ANJU_API__ENABLED", "true") != "false", f"{host} serves no HTTP, hence no /metrics"
        assert env.get("ANJU_API__PORT", "8080") == port, target


def test_env_example_names_every_variable_the_monitoring_services_use(compose: dict[str, Any]) -> None:
    listed = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(encoding="utf-8"), re.MULTILINE))
    text = json.dumps([compose["services"]["prometheus"], compose["services"]["grafana"]])
    used = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", text))
    assert used and used <= listed, sorted(used - listed)
