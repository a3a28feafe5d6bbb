"""The MQTT hub: collects every device's messages, keeps the registry and its health."""
