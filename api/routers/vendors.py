"""Vendor HTTP pushes: devices that post their own event format (Hikvision ISAPI) into the MQTT processing path.

One generic route for every vendor: `{vendor}` names a driver that takes pushes (`devices.push_driver`: the
built-in Hikvision driver, or a plugin overriding `DeviceDriver.parse_push`). The driver turns the body into
canonical messages, each validated like an MQTT payload,
then injected into the gateway's processing queue (`MqttHub.inject`): the same decode, dedup, storage,
rules and alerts as a device publishing on `anju/v1/{site}/{kind}/{device}/event`. The answer comes after
the batch holding the event has committed, so a 200 means stored; a camera that gets no 200 retries, and
the retry is a duplicate (the event id is derived from the camera's event identity).
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field

from api.auth import Permission, Principal
from api.deps import BEARER, DB, Services, Svc, bearer_token, errors, permitted
from api.schemas import ErrorBody
from api.visibility import can_see_device
from devices import get_driver, push_driver
from devices.base import DeviceDriver, Push, PushError, PushTarget
from devices.registry import KIND_PATTERN
from gateway import snapshots, store
from gateway.decode import RawMessage, Rejection, decode
from gateway.mqtt_hub import HubUnavailable
from kernel.db.models import Device, Site
from kernel.siteconfig import ID_PATTERN
from kernel.timeutil import utcnow

log = logging.getLogger(__name__)
router = APIRouter(prefix="/vendors", tags=["vendors"])
MAX_BODY = 4 * 1024 * 1024
"""A camera's event with its pictures (plate + scene JPEGs): a few hundred KiB; anything past this is refused."""
COMMIT_TIMEOUT = 10.0
VendorId = Annotated[str, Path(pattern=KIND_PATTERN.pattern)]
SiteId = Annotated[str, Path(pattern=ID_PATTERN)]
DeviceId = Annotated[str, Path(pattern=ID_PATTERN)]


def require_header_or_query(permission: Permission) -> Any:
    """Like `require`, but also accepts `?token=`: not every camera firmware can send an Authorization header.

    A token in a URL ends up in the camera's configuration and in proxy logs: give each camera (or each
    site's cameras) an integrator token of its own, revocable, and prefer the header where the firmware can.
    """

    def check(request: Request, session: DB,
              credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
              token: Annotated[str | None, Query(max_length=512, description="the bearer token, for cameras that "
                                                 "cannot send an Authorization header (see docs)")] = None,
              ) -> Principal:
        return permitted(request, session, bearer_token(credentials) or token, permission)

    check.permission = permission  # type: ignore[attr-defined]  # read by the role-matrix test and docs
    return check


Writer = Annotated[Principal, Depends(require_header_or_query(Permission.DEVICES_WRITE))]


class VendorResult(BaseModel):
    accepted: int = Field(description="events processed as new (stored, rules run)")
    duplicates: int = Field(description="events already processed (a camera's retry)")
    events: list[str] = Field(description="the canonical msg_id of each event in the body")
    ignored: str | None = Field(default=None, description="why nothing was done (an event type Anju does not use)")


@dataclass(slots=True)
class _Ready:
    topics: list[tuple[str, bytes, str | None]]
    ignored: str | None


_BODY_DOC = {
    "description": "An ISAPI `EventNotificationAlert` as XML or JSON, or a multipart body with it as one part "
                   "and the JPEG pictures (licensePlatePicture, detectionPicture, faceImage, background) as others",
    "content": {"application/xml": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "object"}},
                "multipart/form-data": {"schema": {"type": "object"}}},
}
_EXTRA: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorBody, "description": f"the body is larger than {MAX_BODY} bytes"},
    503: {"model": ErrorBody, "description": "the gateway is busy or stopping, or did not commit in time: retry"},
}


@router.post("/{vendor}/{site}/{device_id}", response_model=VendorResult,
             responses={**errors(404, 422), **_EXTRA}, openapi_extra={"requestBody": _BODY_DOC})
async def vendor_event(request: Request, vendor: VendorId, site: SiteId, device_id: DeviceId, svc: Svc,
                       who: Writer) -> VendorResult:
    """A device's own event format pushed over HTTP, for the driver named `{vendor}` to read. `hikvision`: a
    camera's ISAPI event notification (HTTP listening host): ANPR → `plate`, face capture or face comparison →
    `face`, the `videoloss`/`inactive` heartbeat → `heartbeat`; others are ignored (200)."""
    driver = push_driver(vendor)
    if driver is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no vendor driver {vendor!r} takes HTTP pushes")
    body = await _read_limited(request)
    ready = await asyncio.to_thread(_prepare, svc, who, driver, site, device_id, request.headers, body)
    ids = [msg_id for _topic, _payload, msg_id in ready.topics if msg_id]
    try:
        futures = [svc.gateway.hub.inject(topic, payload) for topic, payload, _ in ready.topics]
    except HubUnavailable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc), headers={"Retry-After": "5"}) from None
    try:
        results = await asyncio.wait_for(asyncio.gather(*(asyncio.wrap_future(f) for f in futures)),
                                         COMMIT_TIMEOUT)
    except TimeoutError:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "not committed in time; retry",
                            headers={"Retry-After": "5"}) from None
    fresh = sum(1 for ok in results if ok)
    return VendorResult(accepted=fresh, duplicates=len(results) - fresh, events=ids, ignored=ready.ignored)


async def _read_limited(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"the body is larger than {MAX_BODY} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"the body is larger than {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _prepare(svc: Services, who: Principal, driver: DeviceDriver, site: str, device_id: str,
             headers: Mapping[str, str], body: bytes) -> _Ready:
    """Find the device, let the driver parse the body, and validate each canonical message as the pipeline will
    (worker thread)."""
    vendor = driver.kind
    kinds = driver.push_kinds or (driver.canonical,)
    with svc.sessions() as session:
        row = session.get(Device, device_id)
        if row is None or row.site_id != site or not can_see_device(who, row):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no device {device_id} at site {site}")
        if row.kind not in kinds:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                f"device {device_id} is a {row.kind}; {driver.title} events go to a "
                                f"{' or '.join(kinds)}")
        site_row = session.get(Site, site)
        target = PushTarget(site, device_id, row.kind, dict(row.attributes or {}),
                            _zone(site_row.timezone if site_row is not None else None))
    where = f"http/{vendor}/{site}/{device_id}"
    try:
        pushed = driver.parse_push(body, headers.get("content-type", ""), headers, target)
    except PushError as exc:
        _reject(svc, where, body, Rejection(f"{vendor}_{exc.reason}", exc.detail, device_id))
    except Exception as exc:  # a parser bug costs this body a 422 and a dead letter, never a 500
        log.exception("%s parser failed on a body from %s", vendor, device_id)
        _reject(svc, where, body, Rejection(f"{vendor}_internal", f"{type(exc).__name__}: {exc}", device_id))
    limit = svc.settings.gateway.max_payload_bytes
    topics = []
    for message in pushed.messages:
        topic = f"anju/v1/{site}/{message.kind}/{message.device}/{message.channel}"
        payload = _fit(message, limit)
        decoded = decode(RawMessage(topic, payload, 1, False, 0, utcnow()), limit)
        if isinstance(decoded, Rejection):
            _reject(svc, topic, payload, decoded)
        topics.append((topic, payload, message.payload.get("msg_id")))
    return _Ready(topics, pushed.ignored)


def _fit(message: Push, limit: int) -> bytes:
    """The canonical JSON, its picture as base64 `snapshot`, within the payload limit: a picture too large for it
    is re-encoded smaller; if even that does not fit, it is left out when the device's own result (the payload
    model's `result_field`: plate, person) is there; without one, the event is refused (413)."""
    data = dict(message.payload)
    if message.picture is not None:
        data["snapshot"] = base64.b64encode(message.picture).decode("ascii")
    payload = orjson.dumps(data)
    if len(payload) <= limit:
        return payload
    picture = data.get("snapshot")
    if isinstance(picture, str):
        room = (limit - (len(payload) - len(picture)) - 64) * 3 // 4  # base64 takes 4 bytes per 3
        smaller = snapshots.shrink(base64.b64decode(picture), room) if room > 0 else None
        if smaller is not None:
            data["snapshot"] = base64.b64encode(smaller).decode()
            data["snapshot_resized"] = True
            return orjson.dumps(data)
    if data.pop("snapshot", None) is not None and _has_result(message):
        data["snapshot_omitted"] = f"the picture made the event larger than {limit} bytes"
        return orjson.dumps(data)
    raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                        f"the event with its picture is larger than the {limit}-byte payload limit")


def _has_result(message: Push) -> bool:
    """Whether the event carries the device's own result, so it still means something without its picture."""
    driver = get_driver(message.kind)
    model = driver.schema_for(message.channel, str(message.payload.get("type"))) if driver is not None else None
    field = getattr(model, "result_field", None)
    return isinstance(field, str) and bool(message.payload.get(field))


def _zone(name: str | None) -> ZoneInfo | None:
    try:
        return ZoneInfo(name) if name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _reject(svc: Services, topic: str, body: bytes, rejection: Rejection) -> NoReturn:
    """Keep the refused body as a dead letter (as the pipeline does for MQTT) and answer 422 with the reason."""
    with svc.sessions.begin() as session:
        store.insert_dead_letters(session, [{
            "received_at": utcnow(), "topic": topic[:1024], "reason": rejection.reason,
            "detail": rejection.detail[:2000], "device_id": rejection.device_id, "size": len(body), "payload": body,
        }])
    svc.gateway.metrics.dead_letters.labels(rejection.reason).inc()
    raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{rejection.reason}: {rejection.detail}")
