"""Reading a practice's documents into passages and a persistent Chroma collection.

A passage is one heading's text, and it keeps its file name and heading: answers cite both.
Re-ingesting a folder is incremental: a file's passages carry the file's content hash, so
unchanged files are skipped, changed ones replaced and removed ones deleted.

Every ingest also writes a snapshot of the collection (`<slug>.index.npz`: passages, vectors
and the knowledge base's calibration, see `knowledge.calibrate`) next to the Chroma files.
Answering reads only the snapshot, so a question never imports chromadb (about a second and
a half of a cold `frontdesk kb ask`); Chroma stays the store of record that ingest updates.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from knowledge.embeddings import Embedder, default_embedder

logger = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".md", ".markdown", ".txt", ".pdf")
_HEADERS = [("#", "h1"), ("##", "h2"), ("###", "h3")]
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class KnowledgeError(ValueError):
    """A knowledge base request that cannot be served (bad practice slug, missing folder)."""


@dataclass(frozen=True)
class Passage:
    """One heading's worth of a practice document."""

    source: str  # file name, e.g. "parking.md"
    section: str  # the heading the text sits under
    title: str  # the document's top heading (helps retrieval; not cited)
    text: str

    @property
    def passage_id(self) -> str:
        """Stable id within a practice's collection."""
        digest = hashlib.sha256(f"{self.source}\x00{self.section}\x00{self.text}".encode())
        return f"{self.source}#{digest.hexdigest()[:16]}"

    @property
    def indexed_text(self) -> str:
        """What is embedded and indexed: title and heading carry much of the meaning."""
        return f"{self.title}. {self.section}. {self.text}"


@dataclass
class IngestReport:
    """What an ingest run did."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    passages: int = 0


def check_slug(practice_slug: str) -> str:
    """A practice slug safe to use in a collection name."""
    if not _SLUG.match(practice_slug):
        raise KnowledgeError(f"not a practice slug: {practice_slug!r}")
    return practice_slug


def split_markdown(text: str, *, source: str) -> list[Passage]:
    """Split Markdown by headings into passages that keep the file name and heading."""
    from langchain_text_splitters import MarkdownHeaderTextSplitter

    splitter = MarkdownHeaderTextSplitter(_HEADERS, strip_headers=True)
    title = Path(source).stem.replace("-", " ").replace("_", " ").capitalize()
    passages = []
    for document in splitter.split_text(text):
        meta = document.metadata
        title = str(meta.get("h1") or title)
        section = str(meta.get("h3") or meta.get("h2") or meta.get("h1") or title)
        body = " ".join(document.page_content.split())
        if body:
            passages.append(Passage(source=source, section=section, title=title, text=body))
    return passages


def split_plain_text(text: str, *, source: str) -> list[Passage]:
    """Plain text has no headings: each paragraph is a passage under the file's name."""
    title = Path(source).stem.replace("-", " ").replace("_", " ").capitalize()
    return [
        Passage(source=source, section=title, title=title, text=" ".join(block.split()))
        for block in re.split(r"\n\s*\n", text)
        if block.strip()
    ]


def split_pdf(path: Path) -> list[Passage]:
    """One passage per PDF page (PDFs carry no reliable headings)."""
    from pypdf import PdfReader

    title = path.stem.replace("-", " ").replace("_", " ").capitalize()
    passages = []
    for number, page in enumerate(PdfReader(path).pages, start=1):
        body = " ".join((page.extract_text() or "").split())
        if body:
            passages.append(
                Passage(source=path.name, section=f"{title}, page {number}", title=title, text=body)
            )
    return passages


def read_passages(path: Path) -> list[Passage]:
    """Passages of one supported file."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return split_pdf(path)
    text = path.read_text(encoding="utf-8", errors="replace")
    if suffix == ".txt":
        return split_plain_text(text, source=path.name)
    return split_markdown(text, source=path.name)


def document_files(directory: Path) -> list[Path]:
    """Supported files directly in a folder, in a stable order (README.md is not content)."""
    if not directory.is_dir():
        raise KnowledgeError(f"not a folder: {directory}")
    return sorted(
        p
        for p in directory.iterdir()
        if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES and p.name != "README.md"
    )


def file_hash(path: Path) -> str:
    """Content hash that decides whether a file changed since the last ingest."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class Snapshot:
    """What answering needs of a practice's collection, read without chromadb."""

    passages: list[Passage]
    vectors: list[list[float]]
    calibration: dict[str, float]


class KnowledgeStore:
    """The persistent Chroma store: one collection per practice, under the data directory."""

    def __init__(self, directory: Path) -> None:
        """Open (or create) the store in `directory`; nothing is downloaded.

        Chroma itself is opened on first use: answering reads snapshots only.
        """
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self._chroma: Any = None
        self._opening = threading.Lock()

    @property
    def client(self) -> Any:
        """The Chroma client (imported and opened on first use).

        Opened under a lock: two first questions at once (thread-pool actions) would each
        open a client on the same directory, and Chroma fails the second half-way
        ("Could not connect to tenant default_tenant").
        """
        with self._opening:
            if self._chroma is None:
                self._chroma = self._open()
        return self._chroma

    def _open(self) -> Any:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        return chromadb.PersistentClient(
            path=str(self.directory),
            settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False),
        )

    @staticmethod
    def collection_name(practice_slug: str) -> str:
        """Chroma collection name for a practice."""
        return f"practice-{check_slug(practice_slug)}"

    def collection(self, practice_slug: str) -> Any:
        """The practice's collection (created empty if missing). Embeddings are ours."""
        return self.client.get_or_create_collection(
            self.collection_name(practice_slug),
            embedding_function=None,
            metadata={"hnsw:space": "cosine"},
        )

    def has_collection(self, practice_slug: str) -> bool:
        """Whether anything was ever ingested for the practice."""
        if self.snapshot_path(practice_slug).exists():
            return True
        names = {c.name for c in self.client.list_collections()}
        return self.collection_name(practice_slug) in names

    def snapshot_path(self, practice_slug: str) -> Path:
        """Where the practice's answering snapshot lives."""
        return self.directory / f"{check_slug(practice_slug)}.index.npz"

    def load(self, practice_slug: str) -> tuple[list[Passage], list[list[float]]]:
        """Every passage of a practice with its stored embedding."""
        snapshot = self.load_snapshot(practice_slug)
        return snapshot.passages, snapshot.vectors

    def load_snapshot(self, practice_slug: str) -> Snapshot:
        """The practice's snapshot; written from Chroma first if an older ingest left none."""
        path = self.snapshot_path(practice_slug)
        if not path.exists():
            if not self.has_collection(practice_slug):
                return Snapshot([], [], {})
            self.write_snapshot(practice_slug)
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            matrix = data["vectors"]
            vectors = [list(map(float, row)) for row in matrix] if len(meta["passages"]) else []
        passages = [Passage(**p) for p in meta["passages"]]
        return Snapshot(passages, vectors, dict(meta.get("calibration") or {}))

    def read_collection(self, practice_slug: str) -> tuple[list[Passage], list[list[float]]]:
        """Every passage and embedding as Chroma holds them (the store of record)."""
        if not self.has_chroma_collection(practice_slug):
            return [], []
        got = self.collection(practice_slug).get(include=["documents", "metadatas", "embeddings"])
        passages = []
        for text, meta in zip(got["documents"] or [], got["metadatas"] or [], strict=True):
            passages.append(
                Passage(
                    source=str(meta["source"]),
                    section=str(meta["section"]),
                    title=str(meta["title"]),
                    text=str(text),
                )
            )
        embeddings = got["embeddings"]
        vectors = [list(map(float, v)) for v in embeddings] if embeddings is not None else []
        # A stable order, whatever Chroma returns: ties between passages rank alike everywhere.
        order = sorted(range(len(passages)), key=lambda i: (passages[i].source, i))
        return [passages[i] for i in order], [vectors[i] for i in order]

    def has_chroma_collection(self, practice_slug: str) -> bool:
        """Whether Chroma holds a collection for the practice."""
        names = {c.name for c in self.client.list_collections()}
        return self.collection_name(practice_slug) in names

    def write_snapshot(
        self, practice_slug: str, *, calibration: dict[str, float] | None = None
    ) -> None:
        """Rewrite the practice's snapshot from Chroma (atomically: readers never see half)."""
        passages, vectors = self.read_collection(practice_slug)
        meta = {
            "passages": [
                {"source": p.source, "section": p.section, "title": p.title, "text": p.text}
                for p in passages
            ],
            "calibration": calibration or {},
        }
        matrix = np.asarray(vectors, dtype=np.float32) if vectors else np.zeros((0, 1), np.float32)
        path = self.snapshot_path(practice_slug)
        partial = path.with_name(path.name + ".partial.npz")
        np.savez(partial, meta=np.array(json.dumps(meta)), vectors=matrix)
        os.replace(partial, path)

    def file_hashes(self, practice_slug: str) -> dict[str, str]:
        """File name -> content hash of what is stored for a practice."""
        got = self.collection(practice_slug).get(include=["metadatas"])
        return {str(m["source"]): str(m["file_hash"]) for m in got["metadatas"] or []}


def _calibration(
    store: KnowledgeStore, practice_slug: str, embedder: Embedder | None
) -> dict[str, float]:
    """The practice's abstention thresholds from its own documents (knowledge.calibrate).

    English passages give `threshold` as before; Spanish passages, when there are any, give
    `threshold_es` from Spanish probes over the Spanish passages alone, since a question is
    answered only from passages in its own language (knowledge.languages).
    """
    from frontdesk.language import Language
    from knowledge.calibrate import (
        PROBES,
        SPANISH_PROBES,
        calibrate,
        confidence,
        spanish_confidence,
    )
    from knowledge.languages import analyzer_for, in_language
    from knowledge.retrieve import HybridRetriever

    passages, vectors = store.read_collection(practice_slug)
    if not passages:
        return {}
    matrix = np.asarray(vectors, dtype=np.float32)
    embedder = embedder or default_embedder()
    result: dict[str, float] = {}
    for language, probes, score, key in (
        (Language.EN, PROBES, confidence, "threshold"),
        (Language.ES, SPANISH_PROBES, spanish_confidence, "threshold_es"),
    ):
        rows = in_language(passages, language)
        if not rows:
            continue
        found = calibrate(
            HybridRetriever(
                [passages[i] for i in rows],
                matrix[rows],
                embedder=embedder,
                analyzer=analyzer_for(language),
            ),
            probes,
            score,
        )
        if language is Language.EN:
            result.update(found)
        elif "threshold" in found:
            result[key] = found["threshold"]
    return result


def ingest_directory(
    *,
    directory: Path,
    practice_slug: str,
    store: KnowledgeStore,
    embedder: Embedder | None = None,
    progress: Callable[[Iterable[Path]], Iterable[Path]] | None = None,
) -> IngestReport:
    """Bring a practice's collection in line with a folder of documents.

    Args:
        directory: Folder with Markdown, text or PDF files (not recursive).
        practice_slug: The practice the documents belong to.
        store: Where collections live.
        embedder: Text embedder; the bundled static embeddings by default.
        progress: Wraps the file iteration (the CLI passes a progress bar).

    Returns:
        Which files were added, updated, removed or left unchanged, and the passage count.
    """
    files = document_files(directory)
    collection = store.collection(practice_slug)
    stored = store.file_hashes(practice_slug)
    report = IngestReport()
    present = {p.name for p in files}
    for gone in sorted(set(stored) - present):
        collection.delete(where={"source": gone})
        report.removed.append(gone)
    for path in progress(files) if progress else files:
        digest = file_hash(path)
        if stored.get(path.name) == digest:
            report.unchanged.append(path.name)
            continue
        passages = read_passages(path)
        if path.name in stored:
            collection.delete(where={"source": path.name})
            report.updated.append(path.name)
        else:
            report.added.append(path.name)
        passages = list({p.passage_id: p for p in passages}.values())  # repeated sections
        if not passages:
            continue
        embedder = embedder or default_embedder()  # loaded only when something changed
        vectors = embedder.embed([p.indexed_text for p in passages])
        collection.upsert(
            ids=[p.passage_id for p in passages],
            documents=[p.text for p in passages],
            embeddings=[list(map(float, v)) for v in vectors],
            metadatas=[
                {"source": p.source, "section": p.section, "title": p.title, "file_hash": digest}
                for p in passages
            ],
        )
    report.passages = collection.count()
    store.write_snapshot(practice_slug, calibration=_calibration(store, practice_slug, embedder))
    logger.info(
        "knowledge ingest: %d added, %d updated, %d removed, %d unchanged, %d passages",
        len(report.added),
        len(report.updated),
        len(report.removed),
        len(report.unchanged),
        report.passages,
    )
    return report
