"""The gateway's Prometheus metrics, on a registry of its own so several gateways can live in one process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

RESPONSE_BUCKETS = (15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600, 72 * 3600)
"""Seconds; the default response targets (60 s, 5 min, 30 min, 1 h, 4 h, 24 h, 72 h) are bucket bounds, so the
share within a target is exact from the histogram."""


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.messages = Counter(
            "anju_messages_total", "Device messages by kind, channel and outcome",
            ["kind", "channel", "outcome"], registry=self.registry,
        )
        self.dead_letters = Counter(
            "anju_dead_letters_total", "Rejected messages by reason", ["reason"], registry=self.registry,
        )
        self.tolerated = Counter(
            "anju_tolerated_total", "Messages accepted after repairing a deviation from the contract, by kind and "
            "reason (per device: GET /api/v1/deviations)", ["kind", "reason"], registry=self.registry,
        )
        self.quarantined = Gauge(
            "anju_quarantined_devices", "Devices whose refused messages are over budget (sampled, not all stored)",
            registry=self.registry,
        )
        self.unstored_rejections = Counter(
            "anju_rejections_not_stored_total", "Refused messages of quarantined devices counted but not kept as "
            "dead letters", ["reason"], registry=self.registry,
        )
        self.shed = Counter(
            "anju_qos0_shed_total", "QoS 0 telemetry dropped because the processing queue was full",
            registry=self.registry,
        )
        self.latency = Histogram(
            "anju_processing_seconds", "Arrival at the gateway to committed, per message",
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5), registry=self.registry,
        )
        self.queue_depth = Gauge("anju_queue_depth", "Messages waiting to be processed", registry=self.registry)
        self.mqtt_connected = Gauge("anju_mqtt_connected", "1 while connected to the broker", registry=self.registry)
        self.status_changes = Counter(
            "anju_device_status_changes_total", "Devices going online/offline", ["online", "reason"],
            registry=self.registry,
        )

        self.rule_evaluations = Counter(
            "anju_rule_evaluations_total", "Rule evaluations (one rule against one observation) by outcome",
            ["outcome"], registry=self.registry,
        )
        self.alert_changes = Counter(
            "anju_alert_changes_total", "Announced alert changes by action (created, escalated, ...) and severity",
            ["action", "severity"], registry=self.registry,
        )
        self.time_to_acknowledge = Histogram(
            "anju_alert_acknowledge_seconds", "An alert raised to acknowledged by a person, by severity (the office's "
            "targets: critical 60 s, major 5 min; docs/office.md)", ["severity"],
            buckets=RESPONSE_BUCKETS, registry=self.registry,
        )
        self.time_to_resolve = Histogram(
            "anju_alert_resolve_seconds", "An alert raised to resolved, by severity", ["severity"],
            buckets=RESPONSE_BUCKETS, registry=self.registry,
        )
        self.pictures = Counter(
            "anju_vision_pictures_total", "Camera pictures the gateway read, by task (plate, face) and outcome "
            "(found, unknown, none, unreadable, refused: the recognition queue was full)", ["task", "outcome"],
            registry=self.registry,
        )
        self.vision_seconds = Histogram(
            "anju_vision_seconds", "Picture stored to its reading known (queue wait + recognition)", ["task"],
            buckets=(0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30), registry=self.registry,
        )
        self.deliveries = Counter(
            "anju_notification_attempts_total", "Notification send attempts by channel (wecombot, dingtalk, mailto, "
            "json, sms, voice, ...) and outcome (delivered, retry, failed)", ["channel", "outcome"],
            registry=self.registry,
        )
        self.notification_seconds = Histogram(
            "anju_notification_seconds", "An alert step to its notification delivered (queue, claim, send), by "
            "channel", ["channel"], buckets=(0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 300), registry=self.registry,
        )
        self.outbox_depth = Gauge(
            "anju_notifications_pending", "Notifications due and not yet sent (as last seen by this process's "
            "senders)", registry=self.registry,
        )

    def total(self, name: str, **labels: str) -> float:
        """Sum of a metric's samples whose labels include `labels` (e.g. every accepted message)."""
        return sum(
            sample.value
            for family in self.registry.collect()
            for sample in family.samples
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
        )

    def value(self, name: str, **labels: str) -> float:
        """Current value of a sample (0 when never set): for tests and the health endpoint."""
        return self.registry.get_sample_value(name, labels) or 0.0
