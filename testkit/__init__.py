"""Test support for driver authors and Anju's own tests: feed payloads through the gateway's decoding
(`testkit.drivers`) without a broker or a database."""
