"""Rules: what is active, checking a file, and the rule files managed through the API.

API-managed files are added to the configured pack (`rules.pack`): a rule with
the id of a pack rule replaces it, so a limit is changed or a pack rule switched
off without copying the pack. A file is validated before it is stored, with
every mistake reported by line, and takes effect at once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field
from sqlalchemy import select

from api.deps import DB, Svc, errors
from api.routers._common import (
    ConfigReader,
    ConfigWriter,
    PathId,
    get_or_404,
    put_responses,
    remove,
    save,
    unprocessable,
)
from kernel.db.models import RuleFileRow
from kernel.timeutil import utcnow
from kernel.vocabulary import Severity
from rules import pack
from rules.loader import RuleError, builtin_rules_path, check_text

router = APIRouter(prefix="/rules", tags=["rules"])
MAX_FILE_CHARS = 512 * 1024


class RuleOut(BaseModel):
    id: str
    name: str
    description: str | None
    severity: Severity
    audience: Literal["patrol", "maintenance"]
    enabled: bool
    silenceable: bool
    condition: str = Field(description="event, threshold, count, correlation, duration or absence")
    source: str = Field(description='"pack" (the configured rule files or the built-in pack) or "api:<file>"')


class Content(BaseModel):
    content: str = Field(max_length=MAX_FILE_CHARS, description="rule-file YAML (docs/rules.md)")


class ErrorLine(BaseModel):
    line: int
    reason: str


class CheckOut(BaseModel):
    ok: bool
    errors: list[ErrorLine]


class FileSummary(BaseModel):
    name: str
    updated_at: datetime
    updated_by: str | None


class FileOut(FileSummary):
    content: str


def _lines(found: list[RuleError]) -> list[ErrorLine]:
    return [ErrorLine(line=e.line, reason=e.reason) for e in found]


def _file(row: RuleFileRow) -> FileOut:
    return FileOut(name=row.name, content=row.content, updated_at=row.updated_at, updated_by=row.updated_by)


@router.get("", response_model=list[RuleOut], responses=errors())
def list_rules(svc: Svc, session: DB, _who: ConfigReader) -> list[RuleOut]:
    """Every rule the engine runs now, disabled ones included, with where each comes from."""
    engine = svc.engine
    pack_rules = {rule.id: rule for rule in engine.base_rules}
    defined_in: dict[str, str] = {}
    for name, content, _at in pack.stored_files(session):
        for rule_id in check_text(content, pack.api_file_label(name)).id_lines:
            defined_in.setdefault(rule_id, pack.api_file_label(name))
    return [RuleOut(id=rule.id, name=rule.name, description=rule.description, severity=rule.severity,
                    audience=rule.audience, enabled=rule.enabled, silenceable=rule.silenceable,
                    condition=rule.condition_name,
                    source="pack" if pack_rules.get(rule.id) is rule else defined_in.get(rule.id, "api"))
            for rule in engine.all_rules.values()]


@router.get("/builtin", response_model=Content, responses=errors())
def builtin(_who: ConfigReader) -> Content:
    """The built-in rule pack, as a starting point for a file of your own."""
    return Content(content=builtin_rules_path().read_text(encoding="utf-8"))


@router.post("/check", response_model=CheckOut, responses=errors(422))
def check(body: Content, _who: ConfigReader) -> CheckOut:
    """Check rule-file text without storing it: every mistake with its line (always 200)."""
    result = check_text(body.content)
    return CheckOut(ok=result.ok, errors=_lines(result.errors))


@router.get("/files", response_model=list[FileSummary], responses=errors())
def list_files(session: DB, _who: ConfigReader) -> list[FileSummary]:
    return [FileSummary(name=r.name, updated_at=r.updated_at, updated_by=r.updated_by)
            for r in session.scalars(select(RuleFileRow).order_by(RuleFileRow.name))]


@router.get("/files/{name}", response_model=FileOut, responses=errors(404, 422))
def get_file(name: PathId, session: DB, _who: ConfigReader) -> FileOut:
    return _file(get_or_404(session, RuleFileRow, name, "rule file"))


@router.put("/files/{name}", response_model=FileOut, responses=put_responses(FileOut))
def put_file(name: PathId, body: Content, response: Response, svc: Svc, session: DB, who: ConfigWriter) -> FileOut:
    """Store a rule file (201 when new) and apply it at once. An invalid file changes nothing: 422 with
    `detail = {"errors": [{line, reason}]}`. Rule ids must be unique across API files (pack ids may be reused:
    that rule replaces the pack's)."""
    others = [(n, c) for n, c, _at in pack.stored_files(session) if n != name]
    result = pack.check_api_file(name, body.content, others=others)
    if not result.ok:
        raise unprocessable({"errors": [e.model_dump() for e in _lines(result.errors)]})

    def store(row: RuleFileRow) -> None:
        row.content, row.updated_at, row.updated_by = body.content, utcnow(), who.name

    return _file(save(session, svc, RuleFileRow, name, "rule file", store, replace=response))


@router.delete("/files/{name}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 422))
def delete_file(name: PathId, svc: Svc, session: DB, _who: ConfigWriter) -> None:
    """Remove a rule file: the pack rules it replaced are active again."""
    remove(session, svc, get_or_404(session, RuleFileRow, name, "rule file"), f"rule file {name}")
