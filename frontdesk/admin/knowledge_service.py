"""A practice's knowledge documents as the console manages them, and their ingest jobs.

The console keeps each practice's documents in its own folder under the data directory
(`<data_dir>/knowledge-documents/<slug>/`), seeded once from the practice's configured
knowledge folder (or the bundled demo documents), because an ingest mirrors exactly one
folder: a document missing from it is removed from the practice's Chroma collection.

An upload is refused when it is too large, of a kind the ingest cannot read, or when it
holds a patient identifier (date of birth, SSN, record or member number...). Names of
clinicians and the practice's own addresses and numbers are what such documents are for,
so those kinds alone do not refuse a file.

The knowledge modules (numpy, chromadb) are imported on first use, not when the app starts.
"""

from __future__ import annotations

import io
import re
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from frontdesk.settings import PROJECT_ROOT, Settings

MAX_DOCUMENT_BYTES = 2 * 1024 * 1024
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
# What only a patient has. PERSON, STREET_ADDRESS, PHONE_NUMBER, EMAIL_ADDRESS and dates are
# allowed: the practice's documents name its clinicians, offices, numbers and holidays.
PATIENT_IDENTIFIERS = frozenset(
    {
        "DATE_OF_BIRTH",
        "US_SSN",
        "MEDICAL_RECORD_NUMBER",
        "MEMBER_ID",
        "ACCOUNT_NUMBER",
        "CREDIT_CARD",
        "LICENSE_NUMBER",
        "VEHICLE_ID",
        "DEVICE_ID",
    }
)


class DocumentError(ValueError):
    """A document that cannot be stored as given; `status` is the HTTP status to answer."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def documents_folder(settings: Settings, *, slug: str, seed_from: str | None) -> Path:
    """The practice's managed document folder, created (and seeded) on first use.

    Args:
        settings: Where the data directory is.
        slug: The practice.
        seed_from: The practice's configured knowledge folder (relative to the project).
    """
    folder = settings.data_dir / "knowledge-documents" / slug
    if folder.is_dir():
        return folder
    folder.mkdir(parents=True)
    from knowledge.ingest import document_files

    source = _seed_source(slug, seed_from)
    if source is not None:
        for path in document_files(source):
            shutil.copy2(path, folder / path.name)
    return folder


def _seed_source(slug: str, seed_from: str | None) -> Path | None:
    from knowledge.answering import DEMO_DOCS, DEMO_PRACTICE

    if seed_from:
        path = Path(seed_from)
        path = path if path.is_absolute() else PROJECT_ROOT / path
        return path if path.is_dir() else None
    return DEMO_DOCS if slug == DEMO_PRACTICE and DEMO_DOCS.is_dir() else None


def check_name(name: str) -> str:
    """A file name safe to store (no folders) of a kind the ingest reads."""
    from knowledge.ingest import SUPPORTED_SUFFIXES

    if not _NAME.match(name) or name == "README.md" or ".." in name:
        raise DocumentError("name the file with letters, digits, dots, dashes or underscores")
    if Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
        raise DocumentError("upload Markdown (.md), text (.txt) or PDF (.pdf)", status=415)
    return name


def document_text(name: str, content: bytes) -> str:
    """The text the ingest would read from the file (refuses an unreadable PDF)."""
    if Path(name).suffix.lower() != ".pdf":
        return content.decode("utf-8", errors="replace")
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(content)).pages)
    except (PdfReadError, ValueError, KeyError) as exc:
        raise DocumentError("the PDF could not be read") from exc


def patient_identifiers_in(text: str) -> list[str]:
    """The kinds of patient identifier in `text` (none for a document fit to publish)."""
    from frontdesk.phi.scrubber import default_scrubber

    found = {result.entity_type for result in default_scrubber().analyze(text)}
    return sorted(found & PATIENT_IDENTIFIERS)


def store_document(folder: Path, *, name: str, content: bytes, replace: bool) -> bool:
    """Check and write an uploaded document; returns whether it replaced one.

    Raises:
        DocumentError: too large, unreadable, holding PHI, or existing when not replacing.
    """
    check_name(name)
    if len(content) > MAX_DOCUMENT_BYTES:
        raise DocumentError(
            f"the file is over {MAX_DOCUMENT_BYTES // 1024 // 1024} MiB", status=413
        )
    if not content.strip():
        raise DocumentError("the file is empty")
    target = folder / name
    existed = target.exists()
    if existed and not replace:
        raise DocumentError(f"{name} exists: choose replace to overwrite it", status=409)
    kinds = patient_identifiers_in(document_text(name, content))
    if kinds:
        raise DocumentError(
            "the file seems to hold patient information ("
            + ", ".join(kind.lower().replace("_", " ") for kind in kinds)
            + "): remove it and upload again",
            status=422,
        )
    partial = target.with_name(f".{name}.partial")
    partial.write_bytes(content)
    partial.replace(target)
    return existed


def delete_document(folder: Path, *, name: str) -> None:
    """Remove a document from the folder (the next ingest removes its passages)."""
    target = folder / check_name(name)
    if not target.is_file():
        raise DocumentError(f"no document {name}", status=404)
    target.unlink()


@dataclass
class IngestStatus:
    """What the page shows of a practice's latest ingest."""

    state: str = "idle"  # idle, queued, running, done, failed
    done: int = 0
    total: int = 0
    message: str = ""
    finished_at: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The status endpoint's body."""
        return asdict(self)


class IngestJobs:
    """One ingest at a time per practice, with a status the admin page polls.

    Lives in the app (one per process); ingests run off the event loop as background tasks.
    """

    def __init__(self) -> None:
        """No job has run yet."""
        self._status: dict[str, IngestStatus] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def status(self, slug: str) -> IngestStatus:
        """The practice's latest status (a copy)."""
        with self._guard:
            return IngestStatus(**asdict(self._status.get(slug, IngestStatus())))

    def queue(self, slug: str) -> None:
        """Say an ingest is coming (before the background task starts)."""
        with self._guard:
            self._status[slug] = IngestStatus(state="queued")

    def _set(self, slug: str, **changes: Any) -> None:
        with self._guard:
            status = self._status.setdefault(slug, IngestStatus())
            for key, value in changes.items():
                setattr(status, key, value)

    def run(
        self,
        *,
        slug: str,
        folder: Path,
        store: Any,
        on_done: Callable[[], None],
        now: Callable[[], datetime],
    ) -> None:
        """Bring the practice's collection in line with its folder, reporting progress."""
        from knowledge.ingest import KnowledgeError, document_files, ingest_directory

        with self._guard:
            lock = self._locks.setdefault(slug, threading.Lock())
        with lock:
            files = document_files(folder)
            self._set(slug, state="running", done=0, total=len(files), message="")

            def progress(paths: Iterable[Path]) -> Iterator[Path]:
                for count, path in enumerate(paths, start=1):
                    yield path
                    self._set(slug, done=count)

            try:
                report = ingest_directory(
                    directory=folder, practice_slug=slug, store=store, progress=progress
                )
            except (KnowledgeError, OSError, ValueError) as exc:
                self._set(slug, state="failed", message=str(exc), finished_at=now().isoformat())
                return
            on_done()
            message = (
                f"{len(report.added)} added, {len(report.updated)} updated, "
                f"{len(report.removed)} removed, {len(report.unchanged)} unchanged; "
                f"{report.passages} passages"
            )
            self._set(slug, state="done", message=message, finished_at=now().isoformat())
