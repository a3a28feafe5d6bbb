"""The real photographs that plate reading and face matching are measured on (never copied into the repo).

- Plates: the labelled development photographs in ``../shared/vision/plates`` next
  to the repository (``labels.tsv``: file, plate, source), or ``ANJU_PLATES_DIR``.
- Faces: the test photographs that the ``face_recognition`` 1.3.0 source
  distribution on PyPI carries (``tests/test_images/``: Barack Obama and Joe
  Biden). They are fetched once with pip into a cache directory and only the
  image files are kept. ``32bit.png`` is ``obama2.jpg`` saved again as a 32-bit
  PNG: it is labelled obama, but it is left out of the probes so that one photo
  is not counted twice.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PLATES_DIR = REPO_ROOT.parent / "shared" / "vision" / "plates"
DEFAULT_PLATES_MORE_DIR = REPO_ROOT.parent / "shared" / "vision" / "plates-more"
DEFAULT_FACES_DIR = REPO_ROOT.parent / "shared" / "vision" / "faces"

FACE_SDIST = "face_recognition==1.3.0"
FACE_SDIST_SHA256 = "5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec"
"""The sdist pip fetched when this was written: a different file is refused rather than measured on."""
FACE_IMAGES = ("32bit.png", "biden.jpg", "obama.jpg", "obama2.jpg", "obama3.jpg", "obama_partial_face.jpg",
               "obama_partial_face2.jpg")
FACE_ENROL = {"obama": "obama.jpg", "biden": "biden.jpg"}
"""One enrolment photo per identity; every other photo is a probe."""
FACE_DUPLICATES = {"32bit.png": "obama2.jpg"}
"""Photos that are another photo in a different format: labelled, never probed (they would count twice)."""
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class EvalSetMissing(RuntimeError):
    """An evaluation set is not there (or could not be fetched); the message says where and why."""


# -- plates ----------------------------------------------------------------------------------------


def _photo_dir(root: Path | None, variable: str, default: Path) -> Path:
    """The argument, else the environment variable, else the shared folder beside the repository."""
    if root is not None:
        return Path(root)
    env = os.environ.get(variable)
    return Path(env) if env else default


def plates_dir(root: Path | None = None) -> Path:
    """Where the plate photos are: the argument, else ``ANJU_PLATES_DIR``, else ``<repo>/../shared/vision/plates``."""
    return _photo_dir(root, "ANJU_PLATES_DIR", DEFAULT_PLATES_DIR)


def plate_set(root: Path | None = None) -> list[tuple[Path, str]]:
    """Every labelled plate photo as (path, plate text), in ``labels.tsv`` order.

    Raises EvalSetMissing naming the path when the labels or a listed photo are absent,
    so a benchmark never reports accuracy on fewer photos than the labels promise.
    """
    root = plates_dir(root)
    labels = root / "labels.tsv"
    if not labels.is_file():
        raise EvalSetMissing(f"plate photos not found: no {labels} (set ANJU_PLATES_DIR or --plates-dir)")
    with labels.open(encoding="utf-8", newline="") as fh:
        rows = [(root / r["file"], r["plate"]) for r in csv.DictReader(fh, delimiter="\t")]
    missing = [str(p) for p, _ in rows if not p.is_file()]
    if missing:
        raise EvalSetMissing(f"{len(missing)} plate photo(s) listed in {labels} are missing: {', '.join(missing)}")
    if not rows:
        raise EvalSetMissing(f"{labels} lists no photos")
    return rows


@dataclass(frozen=True)
class LabelledPlate:
    """One photo of ``plates-more``: its true plate, what kind of picture it is, and which split it falls in."""

    path: Path
    plate: str
    kind: str
    """``crop`` (the plate picture a camera sends beside the scene) or ``scene``."""
    colour: str
    low_light: bool
    split: str
    """``tuning`` (what the reader may be adjusted on) or ``validation`` (what is reported)."""
    others: tuple[str, ...] = ()
    """Other plates in view (scenes), from the source's annotation: right readings, though not the labelled one."""

    @property
    def category(self) -> str:
        return f"{self.kind}/{self.colour}"


def split_of(name: str, stratum: list[str]) -> str:
    """``validation`` or ``tuning`` for the file ``name`` among the file names of its stratum.

    Deterministic and independent of the reader: the stratum's names are ordered by
    the SHA-256 of their UTF-8 bytes and alternate validation, tuning, validation, ...
    so every stratum (kind × colour × low light) is halved, its odd one out going to
    validation. A photo keeps its part when other strata change.
    """
    ranked = sorted(stratum, key=lambda n: hashlib.sha256(n.encode("utf-8")).hexdigest())
    return "validation" if ranked.index(name) % 2 == 0 else "tuning"


def plates_more_dir(root: Path | None = None) -> Path:
    """The argument, else ``ANJU_PLATES_MORE_DIR``, else ``<repo>/../shared/vision/plates-more``."""
    return _photo_dir(root, "ANJU_PLATES_MORE_DIR", DEFAULT_PLATES_MORE_DIR)


def plates_more(root: Path | None = None) -> list[LabelledPlate]:
    """Every photo of the second plate set, with its kind, colour and split (``labels.tsv`` order)."""
    root = plates_more_dir(root)
    labels = root / "labels.tsv"
    if not labels.is_file():
        raise EvalSetMissing(f"plate photos not found: no {labels} (set ANJU_PLATES_MORE_DIR)")
    with labels.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    missing = [r["file"] for r in rows if not (root / r["file"]).is_file()]
    if missing or not rows:
        raise EvalSetMissing(f"{labels}: {len(missing)} listed photo(s) missing" if missing else f"{labels} is empty")

    def stratum(r: dict[str, str]) -> tuple[str, str, bool]:
        return r["kind"], r["colour"], "low light" in r.get("notes", "")

    strata: dict[tuple[str, str, bool], list[str]] = {}
    for r in rows:
        strata.setdefault(stratum(r), []).append(r["file"])
    return [LabelledPlate(root / r["file"], r["plate"], r["kind"], r["colour"], stratum(r)[2],
                          split_of(r["file"], strata[stratum(r)]), tuple(_OTHERS.findall(r.get("notes", ""))))
            for r in rows]


_OTHERS = re.compile(r"(\S{7,8}) \((?:blue|yellow|green|white|black)\)")


@dataclass(frozen=True)
class LabelledFace:
    path: Path
    identity: str
    """The person; ``_unknown`` for the strangers (each a different person, never a genuine pair)."""


def faces_dir(root: Path | None = None) -> Path:
    """The argument, else ``ANJU_FACES_DIR``, else ``<repo>/../shared/vision/faces``."""
    return _photo_dir(root, "ANJU_FACES_DIR", DEFAULT_FACES_DIR)


def labelled_faces(root: Path | None = None) -> list[LabelledFace]:
    """Every photo of the shared face set with its identity (``labels.tsv`` order)."""
    root = faces_dir(root)
    labels = root / "labels.tsv"
    if not labels.is_file():
        raise EvalSetMissing(f"face photos not found: no {labels} (set ANJU_FACES_DIR)")
    with labels.open(encoding="utf-8", newline="") as fh:
        rows = [LabelledFace(root / r["file"], r["identity"]) for r in csv.DictReader(fh, delimiter="\t")]
    missing = [str(f.path) for f in rows if not f.path.is_file()]
    if missing or not rows:
        raise EvalSetMissing(f"{labels}: {len(missing)} listed photo(s) missing" if missing else f"{labels} is empty")
    return rows


# -- faces -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FaceSet:
    root: Path
    identities: dict[str, list[Path]]
    """Identity → every photo of that person (including the duplicate 32bit.png), sorted by name."""

    def enrolment(self) -> dict[str, Path]:
        """Identity → the one photo enrolled into the gallery."""
        return {identity: self.root / name for identity, name in FACE_ENROL.items()}

    def probes(self) -> list[tuple[str, Path]]:
        """(true identity, photo) for every photo that is neither enrolled nor a duplicate of another one."""
        skip = set(FACE_ENROL.values()) | set(FACE_DUPLICATES)
        return [(identity, path) for identity, paths in sorted(self.identities.items())
                for path in paths if path.name not in skip]

    def distinct(self) -> list[Path]:
        """Every photo once (duplicates left out): what face-finding latency is timed on."""
        return sorted(p for paths in self.identities.values() for p in paths if p.name not in FACE_DUPLICATES)


def face_identity(name: str) -> str:
    """The person in a face_recognition test photo, from its file name (32bit.png is obama2.jpg)."""
    if name in FACE_DUPLICATES:
        return face_identity(FACE_DUPLICATES[name])
    for identity in ("obama", "biden"):
        if name.startswith(identity):
            return identity
    raise ValueError(f"no identity known for {name!r}")


def face_cache_dir(cache: Path | None = None) -> Path:
    """The argument, else ``ANJU_FACE_EVAL_DIR``, else ``$XDG_CACHE_HOME/anju/face-eval`` (``~/.cache`` default)."""
    if cache is not None:
        return Path(cache)
    env = os.environ.get("ANJU_FACE_EVAL_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "anju" / "face-eval"


def face_set(cache: Path | None = None) -> FaceSet:
    """The face test photos, fetched into the cache directory the first time (pip, one sdist, no dependencies)."""
    root = face_cache_dir(cache)
    if not all((root / name).is_file() for name in FACE_IMAGES):
        _fetch_face_images(root)
    identities: dict[str, list[Path]] = {}
    for name in FACE_IMAGES:
        identities.setdefault(face_identity(name), []).append(root / name)
    return FaceSet(root, {k: sorted(v) for k, v in identities.items()})


def _fetch_face_images(root: Path) -> None:
    """Download the sdist into a temporary directory, check it is the expected file, keep only its test images."""
    with tempfile.TemporaryDirectory(prefix="anju-face-eval-") as tmp:
        sdist = _pip_download(Path(tmp))
        digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
        if digest != FACE_SDIST_SHA256:
            raise EvalSetMissing(f"{sdist.name} has sha256 {digest}, expected {FACE_SDIST_SHA256}: not used")
        root.mkdir(parents=True, exist_ok=True)
        _extract_test_images(sdist, root)
    missing = [name for name in FACE_IMAGES if not (root / name).is_file()]
    if missing:
        raise EvalSetMissing(f"{FACE_SDIST} sdist did not contain tests/test_images/{', '.join(missing)}")


def _pip_download(into: Path) -> Path:
    """Run pip with this interpreter; EvalSetMissing carries pip's last lines when it fails (offline, ...)."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               "--disable-pip-version-check", FACE_SDIST, "-d", str(into)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EvalSetMissing(f"could not fetch {FACE_SDIST} with pip: {exc}") from exc
    archives = sorted(into.glob("face_recognition-*.tar.gz"))
    if done.returncode != 0 or not archives:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise EvalSetMissing(f"could not fetch {FACE_SDIST} with pip (exit {done.returncode}): {tail}")
    return archives[0]


def _extract_test_images(sdist: Path, root: Path) -> None:
    """Copy out ``<top>/tests/test_images/<image>`` regular files by base name only: no links, no path traversal."""
    with tarfile.open(sdist, "r:gz") as tar:
        for member in tar.getmembers():
            parts = PurePosixPath(member.name).parts
            if not (member.isfile() and len(parts) == 4 and parts[1:3] == ("tests", "test_images")):
                continue
            name = parts[3]
            if name.startswith(".") or not name.lower().endswith(_IMAGE_SUFFIXES):
                continue
            source = tar.extractfile(member)
            if source is None:
                continue
            partial = root / f".{name}.part"
            partial.write_bytes(source.read())
            partial.replace(root / name)  # whole files only: an interrupted fetch never looks cached
