"""The kernel: what every part of Anju shares, and which imports no other part.

Settings, the database (models, engine, migrations), the topic layout, time,
MQTT client helpers, the site file, and the contract types that cross parts
(observations, device info, metrics, durations, the alert vocabulary).
docs/architecture.md#the-map says which package may import which.
"""

__version__ = "0.1.0"
