"""The load of `anju bench ingest`: publisher processes that send pre-serialised payloads at a fixed rate.

The gateway's rate means something only if whatever offers the load could offer
more. `anju simulate` builds each message from its device model and encodes
it as it goes, in one process; here each publisher is its own process, has
every payload built before the timed run (`tools.bench.mixes`: a ring of
templates per device, only the msg_id and the time patched in), writes what is
due as one batch of MQTT packets (`tools.bench.wire`), and takes every
`--of`-th device of the run, so N of them share the devices and the rate.
Each reports what it published and the CPU it used, so a run can show when the
load generator, not the gateway, was the limit.

Run as `python -m tools.bench.loadgen URL --index I --of N --rate R ...` (the
rate is this publisher's share). It prints `ready` once connected with its
payloads built, starts on a line `go` on stdin, and ends with one JSON line:
`{"published", "confirmed", "seconds", "cpu_seconds", "backpressure_waits"}`.
`Publishers` is the parent's side.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from simulators.messages import epoch_ms
from tools.bench.mixes import Template, device_templates, mix_devices
from tools.bench.wire import WirePublisher, publish_packet, topic_field

BATCH = 500
"""Messages published at most between two looks at the clock."""
MAX_UNCONFIRMED = 20_000
"""Beyond this many QoS 1 messages not yet acknowledged the broker is not keeping up: wait rather than queue
without bound in the socket (counted as a backpressure wait). Below 65,535, so packet ids never collide."""
DRAIN_SECONDS = 30.0
TICK = 0.005
"""Seconds between batches at low rates: a wake-up per message would cost more than the messages."""


def schedule(mix: str, devices: int, kind: str | None, index: int, of: int, seed: int) -> list[Template]:
    """This publisher's messages in sending order: its devices round-robin, each walking its own ring."""
    mine = mix_devices(mix, devices, kind)[index::of]
    if not mine:
        raise ValueError(f"publisher {index} of {of} has no devices: more publishers than devices")
    rings = [device_templates(mix, d, seed, kind) for d in mine]
    return [ring[k] for k in range(len(rings[0])) for ring in rings]


def publish(url: str, templates: list[Template], rate: float, duration: float, client_id: str,
            id_prefix: str, go: threading.Event | None = None) -> dict[str, Any]:
    """Connect, wait for `go` (if given), publish at `rate` for `duration` seconds, wait for the PUBACKs.

    Paced by a target count (rate x elapsed), so short sleeps that overshoot do
    not lower the average rate; what is due goes out as one write. `confirmed`
    counts QoS 0 messages written and QoS 1 messages acknowledged.
    """
    wire = WirePublisher(url, client_id, "bench-load")
    topics = [(topic_field(t.topic), t.qos, t) for t in templates]
    print("ready", flush=True)
    if go is not None:
        go.wait()
    prefix = id_prefix.encode()
    sent = qos1 = waits = 0
    cpu0, start = time.process_time(), time.monotonic()
    while (now := time.monotonic()) < start + duration:
        due = min(int((now - start) * rate) - sent, BATCH)
        if due <= 0:
            time.sleep(TICK)
            continue
        if qos1 - wire.acked > MAX_UNCONFIRMED:
            waits += 1
            time.sleep(0.005)
            continue
        ts = str(epoch_ms()).encode()
        packets = []
        for n in range(sent, sent + due):
            topic, qos, template = topics[n % len(topics)]
            if qos:
                qos1 += 1
            packets.append(publish_packet(topic, qos, qos1 % 65535 + 1, template.payload(prefix + b"%d" % n, ts)))
        wire.send(packets)
        sent += due
    elapsed = time.monotonic() - start
    deadline = time.monotonic() + DRAIN_SECONDS
    while wire.acked < qos1 and not wire.closed and time.monotonic() < deadline:
        time.sleep(0.01)
    confirmed = sent - qos1 + wire.acked
    wire.close()
    return {"published": sent, "confirmed": confirmed, "seconds": elapsed,
            "cpu_seconds": time.process_time() - cpu0, "backpressure_waits": waits}


@dataclass
class LoadReport:
    """All publishers of one run, summed; `offered_rate` is what they achieved, not what was asked."""

    publishers: int
    published: int
    confirmed: int
    seconds: float
    cpu_seconds: float
    backpressure_waits: int

    @property
    def offered_rate(self) -> float:
        return self.published / self.seconds if self.seconds > 0 else 0.0


class Publishers:
    """N `tools.bench.loadgen` processes sharing the run's devices and its rate, started together."""

    def __init__(self, url: str, count: int, mix: str, kind: str | None, devices: int, rate: float,
                 duration: float, run: str, seed: int = 1) -> None:
        self.duration = duration
        self.processes = [
            subprocess.Popen([sys.executable, "-m", "tools.bench.loadgen", url, "--mix", mix, "--devices",
                              str(devices), "--index", str(i), "--of", str(count), "--rate", str(rate / count),
                              "--duration", str(duration), "--seed", str(seed), "--run", run,
                              *(["--kind", kind] if kind else [])],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            for i in range(count)]
        for proc in self.processes:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                self.stop()
                raise RuntimeError("a load generator did not start (its error is above)")

    def go(self) -> None:
        for proc in self.processes:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()

    def running(self) -> bool:
        return any(proc.poll() is None for proc in self.processes)

    def finish(self) -> LoadReport:
        """Wait for every publisher to end and sum their reports."""
        reports = []
        for proc in self.processes:
            out, _ = proc.communicate(timeout=self.duration + DRAIN_SECONDS + 30)
            if proc.returncode != 0 or not out.strip():
                raise RuntimeError(f"a load generator exited with {proc.returncode}")
            reports.append(json.loads(out.strip().splitlines()[-1]))
        return LoadReport(publishers=len(reports), published=sum(r["published"] for r in reports),
                          confirmed=sum(r["confirmed"] for r in reports),
                          seconds=max(r["seconds"] for r in reports),
                          cpu_seconds=sum(r["cpu_seconds"] for r in reports),
                          backpressure_waits=sum(r["backpressure_waits"] for r in reports))

    def stop(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.bench.loadgen")
    parser.add_argument("url")
    parser.add_argument("--mix", default="issue")
    parser.add_argument("--kind")
    parser.add_argument("--devices", type=int, required=True)
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--of", type=int, default=1)
    parser.add_argument("--rate", type=float, required=True, help="this publisher's messages per second")
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--run", required=True, help="a token unique to the run: msg_ids never repeat across runs")
    args = parser.parse_args()
    templates = schedule(args.mix, args.devices, args.kind, args.index, args.of, args.seed)
    go = threading.Event()

    def wait_for_go() -> None:
        sys.stdin.readline()
        go.set()

    threading.Thread(target=wait_for_go, daemon=True).start()
    result = publish(args.url, templates, args.rate, args.duration, f"bench-load-{args.run}-{args.index}",
                     f"{args.run}{args.index:x}-", go)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
