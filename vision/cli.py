"""`anju recognize plate|face FILE...` and `anju enroll PERSON_ID PHOTO...`: recognition from the command line.

These run in the calling process (no gateway needed); faces are matched against,
and enrolled into, the database of the settings (`--config`, `ANJU_DB__URL`).
Output is one tab-separated line per file, for scripts; a file that is not an
image is reported on stderr and makes the exit status 1.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from kernel.config import Settings
    from vision.faces import Gallery

recognize_app = typer.Typer(help="Recognise plates and faces in image files.", no_args_is_help=True)
Files = Annotated[list[Path], typer.Argument(help="image files (JPEG, PNG, ...)")]
Config = Annotated[Path | None, typer.Option(help="YAML config file (the database of enrolled faces)")]


def _images(files: list[Path]) -> Iterator[tuple[Path, Any]]:
    """(file, BGR image) for each readable image; the others are reported and make the exit status 1."""
    from vision.worker import decode_image

    failed = False
    for file in files:
        try:
            image = decode_image(file.read_bytes())
        except OSError as exc:
            typer.echo(f"{file}: {exc.strerror or exc}", err=True)
            failed = True
            continue
        if image is None:
            typer.echo(f"{file}: not a readable image", err=True)
            failed = True
            continue
        yield file, image
    if failed:
        raise typer.Exit(1)


@recognize_app.command("plate")
def recognize_plate(files: Files) -> None:
    """Read the Chinese licence plate in each image: FILE<TAB>PLATE<TAB>CONFIDENCE ('-' when none is found)."""
    from vision.plates import read_plates

    for file, image in _images(files):
        readings = read_plates(image)
        typer.echo(f"{file}\t{readings[0].text}\t{readings[0].confidence:.2f}" if readings else f"{file}\t-\t-")


@recognize_app.command("face")
def recognize_face(files: Files, config: Config = None,
                   threshold: Annotated[float | None, typer.Option(help="default: vision.face_threshold")] = None,
                   ) -> None:
    """Match the largest face in each image against the enrolled persons:
    FILE<TAB>PERSON_ID-or-unknown<TAB>SIMILARITY ('-' when no face is found)."""
    from vision.faces import find_faces

    settings, gallery = _gallery(config)
    limit = threshold if threshold is not None else settings.vision.face_threshold
    for file, image in _images(files):
        faces = find_faces(image, settings.vision.face_upsample)
        if not faces:
            typer.echo(f"{file}\t-\t-")
            continue
        match = gallery.match(faces[0].embedding, limit)
        typer.echo(f"{file}\t{match.person_id or 'unknown'}\t{match.similarity:.2f}")


def enroll(
    person_id: Annotated[str, typer.Argument(help="the person's id (create the person first: API or site file)")],
    photos: Annotated[list[Path], typer.Argument(help="photos of this person alone, frontal")],
    config: Config = None,
) -> None:
    """Enrol a person's face from photos into the database (audited as the local user)."""
    import getpass

    from kernel.config import load_settings
    from kernel.db.models import Person
    from vision.enrolment import enrol
    from vision.worker import read_picture

    settings = load_settings(config)
    with _session(settings.db.url) as session:
        if session.get(Person, person_id) is None:
            typer.echo(f"no person {person_id!r}: create them first (PUT /api/v1/persons/{person_id})", err=True)
            raise typer.Exit(1)
        contents = [(p.name, p.read_bytes()) for p in photos]
        read = [(name, content, read_picture("face", content, settings.vision.face_upsample))
                for name, content in contents]
        outcomes = enrol(session, person_id, read, settings.privacy.keep_enrolment_photos,
                         f"cli:{getpass.getuser()}", "admin")
        session.commit()
    for o in outcomes:
        typer.echo(f"{o.source}\t{'face ' + str(o.face_id) if o.face_id else 'refused'}\t{o.reason or ''}".rstrip())
    if not any(o.face_id for o in outcomes):
        raise typer.Exit(1)


@contextmanager
def _session(url: str) -> Iterator[Session]:
    from kernel.db import make_engine, migrate, session_factory

    engine = make_engine(url)
    try:
        migrate(engine)
        with session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()


def _gallery(config: Path | None) -> tuple[Settings, Gallery]:
    from kernel.config import load_settings
    from vision.enrolment import load_gallery

    settings = load_settings(config)
    with _session(settings.db.url) as session:
        return settings, load_gallery(session)
