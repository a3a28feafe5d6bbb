"""The traffic `anju bench ingest` offers, built before the timed run so publishing costs next to nothing.

A mix says which devices exist and what each sends. `issue` is the mixed
traffic the throughput targets are stated on (issue 22): 60 % elder-button
heartbeats at QoS 0, 30 % gate passes at QoS 1, 10 % fence telemetry at QoS 0.
The devices are in those proportions and all send at the same rate, so the
round-robin over devices gives the mix. `all-kinds` is the earlier load: the
five kinds in turn, each with its routine mix (`simulators.load.load_message`,
event-heavy: plates, faces and passes); `--kind K` is every device of kind K
with that routine mix. `telemetry` is every device a fence sending only its
heartbeats at QoS 0: the background of `anju bench latency` (the issue's
"background telemetry": no alarms of its own competing with the presses).

Each device gets a small ring of payload templates, encoded once. A template
is the JSON split around its `msg_id` and `ts` values, so a message on the wire
is four byte strings joined: a fresh, per-publisher-unique msg_id (the gateway
drops a repeated one as a duplicate) and the current time, without building a
dict or calling the JSON encoder in the timed loop.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from devices import KINDS
from kernel.topics import device_topic
from simulators.device import EVENT_QOS, TELEMETRY_QOS
from simulators.kinds import AccessGateModel, KindModel, make_model
from simulators.load import LoadDevice, load_message, synthetic_devices
from simulators.messages import Message, build_payload, encode_payload

SITE = "bench"
MIXES = ("issue", "all-kinds", "telemetry")
ISSUE_SHARES = (("elder_button", 0.6), ("access_gate", 0.3), ("fence", 0.1))
"""Kind and share of devices (and so of messages) in the `issue` mix."""
RING = 16
"""Templates per device: enough variety (credentials, voltages, the rare routine event) for the rules."""

_ID_MARK = "@@msg-id@@"
_TS_MARK = 1_111_111_111_111_111  # an int: `ts` stays a JSON number once patched


@dataclass(frozen=True)
class Template:
    """One message of one device, encoded, with the holes where the msg_id and the time go."""

    topic: str
    qos: int
    head: bytes
    """Up to the msg_id's value, inside its quotes."""
    middle: bytes
    """Between the msg_id and the `ts` value."""
    tail: bytes

    def payload(self, msg_id: bytes, ts_ms: bytes) -> bytes:
        return self.head + msg_id + self.middle + ts_ms + self.tail


def check_mix(mix: str, kind: str | None) -> None:
    """Raise ValueError before anything starts: an unknown mix or kind."""
    if mix not in MIXES:
        raise ValueError(f"--mix {mix!r}: one of {', '.join(MIXES)}")
    if kind is not None and kind not in KINDS:
        raise ValueError(f"--kind {kind!r}: one of {', '.join(KINDS)}")


def describe_mix(mix: str, kind: str | None) -> str:
    if kind is not None:
        return f"every device {kind}, its routine mix"
    if mix == "issue":
        return "60 % elder heartbeats QoS 0, 30 % gate passes QoS 1, 10 % fence telemetry QoS 0"
    if mix == "telemetry":
        return "fence heartbeats QoS 0"
    return "the five kinds in turn, each its routine mix"


def mix_devices(mix: str, devices: int, kind: str | None = None) -> list[LoadDevice]:
    """The devices of a run; the same list in every process that asks (the site file, each publisher).

    `issue`: the kinds of `ISSUE_SHARES` interleaved by largest remainder, so any
    slice `devices[i::n]` a publisher takes keeps close to the same proportions.
    """
    check_mix(mix, kind)
    if kind is not None or mix in ("all-kinds", "telemetry"):
        return synthetic_devices(devices, "fence" if mix == "telemetry" and kind is None else kind)
    if devices < len(ISSUE_SHARES):
        raise ValueError(f"the issue mix needs at least {len(ISSUE_SHARES)} devices")
    out: list[LoadDevice] = []
    given = dict.fromkeys((k for k, _s in ISSUE_SHARES), 0)
    for i in range(devices):
        k = max(ISSUE_SHARES, key=lambda ks: ks[1] * (i + 1) - given[ks[0]])[0]
        given[k] += 1
        out.append(LoadDevice(k, f"load-{k.replace('_', '-')}-{i + 1:05d}"))
    return out


def _issue_message(model: KindModel, rng: random.Random) -> Message:
    """Only heartbeats and passes: the issue's mix has no presses, alarms or held-open events."""
    if isinstance(model, AccessGateModel):
        return model.passage(rng.choice(("in", "out")), "card", f"{rng.getrandbits(32):08X}")
    return model.heartbeat()


def device_templates(mix: str, device: LoadDevice, seed: int, kind: str | None = None) -> list[Template]:
    """`RING` templates of one device's messages, from its kind's simulated model."""
    rng = random.Random(f"{seed}:{device.device_id}")
    model = make_model(device.kind, rng)
    out = []
    for _ in range(RING):
        message = load_message(model, rng) if kind is not None or mix == "all-kinds" else _issue_message(model, rng)
        encoded = encode_payload(build_payload(message, _ID_MARK, _TS_MARK))
        head, rest = encoded.split(_ID_MARK.encode("utf-8"), 1)
        middle, tail = rest.split(str(_TS_MARK).encode(), 1)
        out.append(Template(device_topic(SITE, device.kind, device.device_id, message.channel),
                            EVENT_QOS if message.channel == "event" else TELEMETRY_QOS, head, middle, tail))
    return out
