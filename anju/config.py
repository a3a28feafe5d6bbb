"""Settings: one YAML file, overridable by `ANJU_<SECTION>__<KEY>` environment variables (SPEC §1).

Environment variables win over the file so that a container can change one
value without rewriting the config; defaults alone give a working embedded set-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


class _Section(BaseModel):
    # A misspelt key is an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid")


class MqttSettings(_Section):
    url: str = "mqtt://127.0.0.1:1883"
    client_id: str = "anju-gateway"
    """Fixed, so the broker keeps the gateway's persistent session across restarts."""
    protocol: Literal["3.1.1", "5"] = "3.1.1"
    shared_group: str | None = None
    """Subscribe through `$share/<group>/...` so several workers split the traffic."""
    keepalive: int = 30
    session_expiry: int = 7 * 24 * 3600
    """MQTT 5 only: how long the broker keeps our session (and queued messages) while we are away."""
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None


class DbSettings(_Section):
    url: str = "sqlite:///anju.db"


class ApiSettings(_Section):
    host: str = "127.0.0.1"
    port: int = 8080
    admin_token: str | None = None
    """A bearer token with role admin, for first set-up and automation (never stored)."""
    cors_origins: list[str] = Field(default_factory=list)
    """Other web origins allowed to call the API from a browser; none by default (the console is same-origin)."""


class GatewaySettings(_Section):
    max_payload_bytes: int = 256 * 1024
    batch_size: int = 500
    """Messages committed in one transaction; acknowledgements go out after the commit."""
    queue_limit: int = 20_000
    """Beyond this many queued messages, QoS 0 telemetry is shed (counted); QoS 1 never is."""
    auto_register: bool = False
    """Register unknown devices of a known site and kind on first message instead of dead-lettering them."""
    watchdog_interval: float = 0.5
    dedup_retention_days: int = 7


class RulesSettings(_Section):
    files: list[str] = Field(default_factory=list)
    """Rule files (docs/rules.md); none configured means the built-in rule pack."""


class Settings(BaseSettings):
    """All settings; see docs/configuration.md for every key."""

    model_config = SettingsConfigDict(env_prefix="ANJU_", env_nested_delimiter="__", extra="forbid")

    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    db: DbSettings = Field(default_factory=DbSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    rules: RulesSettings = Field(default_factory=RulesSettings)
    site_file: str | None = None
    """The site configuration (SPEC §4) loaded into the registry at start-up."""
    log_level: str = "INFO"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment first, then values passed in (the config file), then defaults.
        return env_settings, init_settings


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Settings from an optional YAML file, environment variables and explicit overrides."""
    data: dict[str, Any] = {}
    if config_file is not None:
        with open(config_file, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{config_file}: the config file must be a mapping of sections")
    for key, value in overrides.items():
        if isinstance(value, dict):
            data.setdefault(key, {}).update(value)
        else:
            data[key] = value
    return Settings(**data)
