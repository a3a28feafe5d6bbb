"""JSON columns are written with orjson, falling back to the standard library (kernel/db/engine.py)."""

from __future__ import annotations

import json

from kernel.db.engine import dump_json


def test_what_orjson_writes_reads_back_the_same() -> None:
    value = {"type": "heartbeat", "voltage_kv": 8.25, "zones": ["北墙", None], "armed": True, "n": -3}
    assert json.loads(dump_json(value)) == value


def test_what_orjson_refuses_still_goes_in() -> None:
    assert json.loads(dump_json({"big": 2**70})) == {"big": 2**70}  # beyond 64 bits
    assert json.loads(dump_json({1: "a"})) == {"1": "a"}  # a non-string key, as json.dumps writes it
