"""Vendor event formats (cameras that push over HTTP) turned into Anju's canonical device messages.

Pure parsing, no I/O: the HTTP side is `api/routers/vendors.py`, which injects what
these produce into the same processing path as MQTT (`MqttHub.inject`).
"""
