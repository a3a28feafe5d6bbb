"""`anju broker-config`: Mosquitto users, ACL and settings from the site file (docs/security.md).

Every device gets its own broker user (user name = device id) and may publish
only on its own `event`/`telemetry`/`status` topics and read only its own `cmd`;
the gateway gets one user that reads everything under `anju/v1/` and writes
commands and alerts. The gateway takes a device's identity from the topic, so
this is what stops one device (or one stolen password) speaking for another.

The ACL uses one explicit `user` block per device rather than `pattern` lines
with `%u`: a pattern could pin the device id but not its site and kind, so
`eb1` could still publish as `anju/v1/<any site>/<any kind>/eb1/event`.

Passwords are only ever stored in clear in `credentials.csv` and `gateway.env`
(mode 0600); `passwd` holds PBKDF2-SHA512 hashes in Mosquitto 2's format. A
re-run keeps every existing password (devices stay provisioned), gives new
devices new ones and drops removed devices; `rotate` issues new passwords to
all. It refuses to run when `passwd` names a user whose password it cannot
find in those two files, rather than silently locking that user out.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from kernel.mqtt import parse_broker_url
from kernel.siteconfig import CommunityConfig, load_site_config
from kernel.topics import CHANNELS, PREFIX, is_valid_id

GATEWAY_USER = "anju-gateway"
DEFAULT_BROKER = "mqtt://127.0.0.1:1883"

PASSWD = "passwd"
ACL = "acl"
CREDENTIALS = "credentials.csv"
GATEWAY_ENV = "gateway.env"
CONF = "mosquitto.conf"

CSV_FIELDS = ("device", "username", "password", "site", "kind")

# mosquitto_passwd's defaults (Mosquitto 2.x, hash type 7): 12-byte salt, 101 rounds, 64-byte digest.
# The broker computes the hash on every CONNECT, so a high round count mostly slows the reconnect
# storm after an outage; the passwords are 192 random bits, which no round count needs to protect.
HASH_ITERATIONS = 101
SALT_BYTES = 12
DIGEST_BYTES = 64

MAX_QUEUED_MESSAGES = 100_000
MAX_INFLIGHT_MESSAGES = 1000


class BrokerConfigError(ValueError):
    """The files cannot be generated as asked; the message says why and what to do."""


# -- the password file format ----------------------------------------------------------------------


def hash_password(password: str, salt: bytes | None = None, iterations: int = HASH_ITERATIONS) -> str:
    """`$7$<iterations>$<base64 salt>$<base64 PBKDF2-SHA512>`, the form `mosquitto_passwd` writes."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, DIGEST_BYTES)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, encoded: str) -> bool:
    """True when `password` matches a type 7 hash from a Mosquitto password file."""
    parts = encoded.split("$")
    if len(parts) != 5 or parts[0] or parts[1] != "7":
        raise ValueError("not a Mosquitto type 7 (PBKDF2-SHA512) password hash")
    iterations, salt, digest = int(parts[2]), base64.b64decode(parts[3]), base64.b64decode(parts[4])
    actual = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, len(digest))
    return hmac.compare_digest(actual, digest)


def new_password() -> str:
    """32 URL-safe characters: fits any URL, CSV cell or env file without quoting."""
    return secrets.token_urlsafe(24)


# -- accounts --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceAccount:
    device: str
    site: str
    kind: str
    password: str

    @property
    def username(self) -> str:
        return self.device

    def topic(self, channel: str) -> str:
        return f"{PREFIX}/{self.site}/{self.kind}/{self.device}/{channel}"


@dataclass
class BrokerConfigResult:
    out: Path
    gateway_user: str
    gateway_url: str
    """`ANJU_MQTT__URL` with the gateway's credentials (it is in gateway.env)."""
    devices: list[DeviceAccount]
    new: list[str] = field(default_factory=list)
    """Users (devices or the gateway) that were given a new password in this run."""
    kept: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    """Users of the previous run no longer in the site file: they can no longer connect."""

    def summary(self) -> str:
        lines = [
            f"wrote {', '.join((PASSWD, ACL, CREDENTIALS, GATEWAY_ENV, CONF))} to {self.out}",
            f"{len(self.devices)} device users and gateway user {self.gateway_user}: "
            f"{len(self.new)} new password(s), {len(self.kept)} kept, {len(self.removed)} removed",
        ]
        for label, names in (("new", self.new), ("removed", self.removed)):
            if names:
                more = f" and {len(names) - 10} more" if len(names) > 10 else ""
                lines.append(f"{label}: {', '.join(names[:10])}{more}")
        lines.append(f"provision devices from {self.out / CREDENTIALS}; give the gateway {self.out / GATEWAY_ENV}")
        lines.append(f"include {self.out / CONF} in the broker's configuration (see docs/security.md)")
        return "\n".join(lines)


def _device_entries(community: CommunityConfig, gateway_user: str) -> list[tuple[str, str, str]]:
    """(device, site, kind) for every device, refusing what would make a wrong or ambiguous ACL."""
    entries: list[tuple[str, str, str]] = []
    where: dict[str, str] = {}
    for site in community.sites:
        for device in site.devices:
            if not is_valid_id(device.kind):
                raise BrokerConfigError(f"device {device.id} of site {site.id}: kind {device.kind!r} cannot be "
                                        "a topic level (allowed: A-Z a-z 0-9 _ -)")
            if device.id in where:
                raise BrokerConfigError(f"device id {device.id} appears twice (sites {where[device.id]} and "
                                        f"{site.id}): the broker user name is the device id, so ids must be unique")
            if device.id == gateway_user:
                raise BrokerConfigError(f"device id {device.id} is the gateway's user name; choose another "
                                        "--gateway-user")
            where[device.id] = site.id
            entries.append((device.id, site.id, device.kind))
    return entries


def _read_existing(out: Path, gateway_user: str) -> tuple[dict[str, str], str | None, str | None, set[str]]:
    """Device passwords from credentials.csv, the gateway's password and URL from gateway.env,
    and the user names in passwd (all empty when this is the first run)."""
    devices: dict[str, str] = {}
    if (out / CREDENTIALS).exists():
        with open(out / CREDENTIALS, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                if row.get("username") and row.get("password"):
                    devices[row["username"]] = row["password"]
    gateway_password = gateway_url = None
    if (out / GATEWAY_ENV).exists():
        for line in (out / GATEWAY_ENV).read_text(encoding="utf-8").splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip() == "ANJU_MQTT__URL":
                gateway_url = value.strip()
                addr = parse_broker_url(gateway_url)
                if addr.username == gateway_user and addr.password:
                    gateway_password = addr.password
    users: set[str] = set()
    if (out / PASSWD).exists():
        for line in (out / PASSWD).read_text(encoding="utf-8").splitlines():
            name, sep, _hash = line.partition(":")
            if sep and name.strip() and not name.startswith("#"):
                users.add(name)
    return devices, gateway_password, gateway_url, users


def _gateway_url(broker: str, user: str, password: str) -> str:
    addr = parse_broker_url(broker)
    host = f"[{addr.host}]" if ":" in addr.host else addr.host
    scheme = "mqtts" if addr.tls else "mqtt"
    return f"{scheme}://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{addr.port}"


# -- file contents ---------------------------------------------------------------------------------


def passwd_text(gateway_user: str, gateway_password: str, devices: list[DeviceAccount]) -> str:
    lines = [f"{gateway_user}:{hash_password(gateway_password)}"]
    lines += [f"{d.username}:{hash_password(d.password)}" for d in devices]
    return "\n".join(lines) + "\n"


def acl_text(gateway_user: str, devices: list[DeviceAccount], source: str) -> str:
    out = [
        f"# Generated by `anju broker-config` from {source}; re-run it instead of editing this file.",
        "# Nothing before the first `user` line and no `pattern` lines: with allow_anonymous false,",
        "# every user may do exactly what its own block grants and nothing else.",
        "",
        f"user {gateway_user}",
        f"topic read {PREFIX}/#",
        f"topic write {PREFIX}/+/+/+/cmd",
        f"topic write {PREFIX}/+/alerts",
    ]
    for d in devices:
        out += ["", f"user {d.username}"]
        out += [f"topic write {d.topic(channel)}" for channel in CHANNELS]
        out.append(f"topic read {d.topic('cmd')}")
    return "\n".join(out) + "\n"


def credentials_text(devices: list[DeviceAccount]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for d in devices:
        writer.writerow((d.device, d.username, d.password, d.site, d.kind))
    return buf.getvalue()


def parse_listen(listen: str) -> tuple[int, str | None]:
    """`PORT` or `ADDRESS:PORT` (`[::1]:1883` for IPv6) -> (port, address or None for all interfaces)."""
    address, sep, port = listen.strip().rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536 or (sep and not address):
        raise BrokerConfigError(f"--listen {listen!r}: expected PORT or ADDRESS:PORT")
    return int(port), (address.strip("[]") or None) if sep else None


def conf_text(out: Path, listen: str = "1883", bind_client_ids: bool = True) -> str:
    port, address = parse_listen(listen)
    listener = f"listener {port}{f' {address}' if address else ''}"
    if bind_client_ids:
        client_ids = """\
# Every client's id is its user name, whatever id it sends. Otherwise any device could connect
# with the gateway's client id: the broker disconnects the gateway, hands the device its session,
# and messages queued for the gateway meanwhile are lost (the device may not read them). Each user
# then has one connection at a time, so gateway workers sharing a subscription need their own users.
# A listener option: it must follow its `listener` line in the same file (elsewhere Mosquitto
# applies it to an extra default listener on port 1883 instead). Repeat it after any other listener.
use_username_as_clientid true
"""
    else:
        client_ids = """\
# Client ids are not bound to users (--no-bind-client-ids): a device that connects with the
# gateway's client id disconnects the gateway and takes over its session (docs/security.md).
"""
    return f"""\
# Generated by `anju broker-config`: Mosquitto 2.x settings for Anju (docs/security.md).
# Include it from the main configuration (Debian: link it into /etc/mosquitto/conf.d/), which
# must not declare the same listener. The files named below must be readable by the user
# Mosquitto runs as (`mosquitto` on Debian): it reads them after dropping root privileges.

allow_anonymous false
password_file {out / PASSWD}
acl_file {out / ACL}

# Mosquitto keeps at most 1000 QoS 1 messages queued per client by default and silently drops
# the rest: a burst while the gateway is busy, restarting or reconnecting would be lost without
# a trace. Keep far more (device messages are mostly well under 1 KiB: about 100 MB of memory).
max_queued_messages {MAX_QUEUED_MESSAGES}

# QoS 1 messages sent to one client before its acknowledgements (default 20). The gateway
# acknowledges only after the batch holding a message is committed (gateway.batch_size, 500 by
# default), so this must be above the batch size or batches never fill and ingest crawls.
max_inflight_messages {MAX_INFLIGHT_MESSAGES}

# Nagle's algorithm off on the broker's sockets (Mosquitto's default is on): otherwise a press sent to
# the gateway right after a small packet (the PUBACK of the gateway's last alert) waits for the
# gateway's delayed TCP acknowledgement, 20-40 ms (`anju bench latency`).
set_tcp_nodelay true

# Plain MQTT (--listen); for TLS add your own listener (docs/security.md).
{listener}
{client_ids}"""


def _old_listen(out: Path) -> str | None:
    """The `--listen` of the previous run, from its mosquitto.conf."""
    if (out / CONF).exists():
        for line in (out / CONF).read_text(encoding="utf-8").splitlines():
            words = line.split()
            if len(words) in (2, 3) and words[0] == "listener":
                return f"{words[2]}:{words[1]}" if len(words) == 3 else words[1]
    return None


# -- writing ---------------------------------------------------------------------------------------


def _write(path: Path, text: str, mode: int) -> None:
    """Replace `path` atomically; a secret file never exists with wider permissions, even briefly."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def generate_broker_config(site_file: str | Path, out: str | Path, gateway_user: str = GATEWAY_USER,
                           broker: str | None = None, listen: str | None = None, rotate: bool = False,
                           bind_client_ids: bool = True) -> BrokerConfigResult:
    """Write passwd, acl, credentials.csv, gateway.env and mosquitto.conf into `out` (created if needed).

    `broker` is the address the gateway connects to (default: the one in an existing gateway.env,
    else mqtt://127.0.0.1:1883). `listen` is Mosquitto's listener, `PORT` (all interfaces) or
    `ADDRESS:PORT` (default: as in an existing mosquitto.conf, else the broker URL's port, or
    127.0.0.1:1883 when that URL is mqtts://).
    `bind_client_ids` makes Mosquitto use each user name as its client id (see `conf_text`).
    Raises `BrokerConfigError` (or `ValueError` for a bad site file).
    """
    if not is_valid_id(gateway_user):
        raise BrokerConfigError(f"gateway user {gateway_user!r}: use A-Z a-z 0-9 _ - only")
    if broker is not None:
        parse_broker_url(broker)  # a typo fails here, not in the gateway
    if listen is not None:
        parse_listen(listen)
    community = load_site_config(site_file)
    entries = _device_entries(community, gateway_user)
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)

    old_devices, old_gateway_password, old_url, passwd_users = _read_existing(out, gateway_user)
    if rotate:
        old_devices, old_gateway_password = {}, None
    else:
        wanted = {gateway_user} | {device for device, _site, _kind in entries}
        known = set(old_devices) | ({gateway_user} if old_gateway_password else set())
        lost = sorted((passwd_users & wanted) - known)
        if lost:
            raise BrokerConfigError(
                f"{out / PASSWD} has user(s) {', '.join(lost[:5])}{' ...' if len(lost) > 5 else ''} whose "
                f"password is not in {CREDENTIALS} or {GATEWAY_ENV}: they cannot be kept. Restore those files, "
                "or pass --rotate to give every device and the gateway a new password (devices must then be "
                "provisioned again)")
    broker = broker or old_url or DEFAULT_BROKER
    if listen is None:
        addr = parse_broker_url(broker)
        # The snippet's listener is plain MQTT: for an mqtts:// gateway it serves only this host, beside
        # the TLS listener the operator adds (docs/security.md).
        listen = _old_listen(out) or ("127.0.0.1:1883" if addr.tls else str(addr.port))

    result = BrokerConfigResult(out, gateway_user, "", [])
    gateway_password = old_gateway_password
    if gateway_password is None:
        gateway_password = new_password()
        result.new.append(gateway_user)
    else:
        result.kept.append(gateway_user)
    for device, site, kind in sorted(entries, key=lambda e: (e[1], e[0])):
        password = old_devices.get(device)
        if password is None:
            password = new_password()
            result.new.append(device)
        else:
            result.kept.append(device)
        result.devices.append(DeviceAccount(device, site, kind, password))
    result.removed = sorted((set(old_devices) | passwd_users) - {gateway_user} - {d.device for d in result.devices})
    result.gateway_url = _gateway_url(broker, gateway_user, gateway_password)

    # Secrets first: if anything fails half-way, the passwords of the new passwd are already on disk.
    _write(out / CREDENTIALS, credentials_text(result.devices), 0o600)
    _write(out / GATEWAY_ENV, f"ANJU_MQTT__URL={result.gateway_url}\n", 0o600)
    _write(out / PASSWD, passwd_text(gateway_user, gateway_password, result.devices), 0o600)
    _write(out / ACL, acl_text(gateway_user, result.devices, Path(site_file).name), 0o644)
    _write(out / CONF, conf_text(out, listen, bind_client_ids), 0o644)
    return result
