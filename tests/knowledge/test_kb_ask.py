"""`frontdesk kb ask` from a cold start: batch questions, nothing heavy imported, the snapshot
and the lean embedder that make it fast."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from frontdesk.cli import app
from frontdesk.settings import get_settings
from knowledge.embeddings import WordLlamaEmbedder, wordllama_dir
from knowledge.ingest import KnowledgeStore, ingest_directory

ROOT = Path(__file__).resolve().parents[2]
DEMO_DOCS = ROOT / "knowledge" / "docs" / "riverside"


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in [n for n in os.environ if n.startswith("FRONTDESK_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("FRONTDESK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FRONTDESK_ENV", "development")  # a developer's shell (`make`)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_a_file_of_questions_gets_one_json_answer_a_line(cli_env: Path) -> None:
    questions = cli_env / "questions.txt"
    questions.write_text(
        "is parking free?\n\n  are you open on saturday  \ndo you offer hearing aids\n"
    )
    result = CliRunner().invoke(
        app, ["kb", "ask", "--file", str(questions), "--practice", "riverside", "--json"]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [line["question"] for line in lines] == [
        "is parking free?",
        "are you open on saturday",
        "do you offer hearing aids",
    ]
    assert lines[0]["sources"] == [{"source": "parking.md", "section": "Patient parking"}]
    assert lines[1]["sources"] == [{"source": "hours.md", "section": "Office hours"}]
    assert lines[2]["confident"] is False and lines[2]["sources"] == []


def test_questions_from_stdin_in_plain_text(cli_env: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["kb", "ask", "--file", "-", "--practice", "riverside"],
        input="is parking free?\ndo you offer hearing aids\n",
    )
    assert result.exit_code == 0, result.output
    assert "Q: is parking free?" in result.stdout
    assert "source: parking.md - Patient parking" in result.stdout
    assert "(not confident)" in result.stdout


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "either a QUESTION or --file"),
        (["hours?", "--file", "q.txt"], "either a QUESTION or --file"),
        (["--file", "missing.txt"], "cannot read"),
        (["--file", "empty.txt"], "has no questions"),
    ],
)
def test_bad_batch_input_gets_a_clear_error(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch, arguments: list[str], message: str
) -> None:
    monkeypatch.chdir(cli_env)
    (cli_env / "empty.txt").write_text("\n   \n")
    result = CliRunner().invoke(app, ["kb", "ask", *arguments, "--practice", "riverside"])
    assert result.exit_code == 2
    assert message in result.output


def test_a_cold_kb_ask_imports_nothing_the_question_does_not_need(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
    env |= {
        "FRONTDESK_DATA_DIR": str(tmp_path),
        "FRONTDESK_ENV": "development",
        "PYTHONPATH": str(ROOT),
    }
    ask = [sys.executable, "-m", "frontdesk", "kb", "ask", "is parking free?"]
    first = subprocess.run(  # the demo ingest runs once; that one needs chromadb
        [*ask, "--practice", "riverside"], env=env, capture_output=True, text=True, check=True
    )
    assert "parking.md" in first.stdout
    probe = (
        "import runpy, sys; sys.argv = ['frontdesk', 'kb', 'ask', 'is parking free?', "
        "'--practice', 'riverside', '--json']\n"
        "try:\n    runpy.run_module('frontdesk', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "heavy = ['chromadb', 'presidio_analyzer', 'spacy', 'langchain_core', 'wordllama', "
        "'langchain_text_splitters', 'sqlalchemy', 'argon2', 'uvicorn', 'apscheduler']\n"
        "print(json.dumps(sorted(m for m in heavy if m in sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", "import json\n" + probe],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = result.stdout.strip().splitlines()
    assert json.loads(lines[0])["sources"] == [
        {"source": "parking.md", "section": "Patient parking"}
    ]
    assert json.loads(lines[-1]) == []


def test_the_lean_embedder_gives_wordllamas_own_vectors() -> None:
    import wordllama  # type: ignore[import-untyped]
    from wordllama import WordLlama

    model = WordLlama.load(cache_dir=wordllama_dir(), disable_download=True)
    texts = ["where do i park", "", "🙂", "Office hours. We open at 8:00.", "do u take bcbs??"]
    theirs = np.asarray(model.embed(texts, norm=False), dtype=np.float32)
    norms = np.linalg.norm(theirs, axis=1, keepdims=True)
    theirs = np.divide(theirs, norms, out=np.zeros_like(theirs), where=norms > 0)
    assert np.allclose(WordLlamaEmbedder().embed(texts), theirs, atol=1e-6)
    assert Path(wordllama.__file__).parent == wordllama_dir()
    assert WordLlamaEmbedder().embed([]).shape == (0, 256)


def test_answering_reads_the_snapshot_ingest_wrote_not_chroma(tmp_path: Path) -> None:
    store = KnowledgeStore(tmp_path)
    ingest_directory(directory=DEMO_DOCS, practice_slug="riverside", store=store)
    assert store.snapshot_path("riverside").exists()
    fresh = KnowledgeStore(tmp_path)
    passages, vectors = fresh.load("riverside")
    assert len(passages) == len(vectors) == 59
    assert fresh._chroma is None  # answering never opened Chroma
    assert fresh.has_collection("riverside") and fresh._chroma is None
    assert (passages, vectors) == fresh.read_collection("riverside")


def test_a_store_ingested_before_snapshots_existed_gets_one_on_first_read(tmp_path: Path) -> None:
    store = KnowledgeStore(tmp_path)
    ingest_directory(directory=DEMO_DOCS, practice_slug="riverside", store=store)
    store.snapshot_path("riverside").unlink()
    passages, _ = KnowledgeStore(tmp_path).load("riverside")
    assert len(passages) == 59 and store.snapshot_path("riverside").exists()
    assert KnowledgeStore(tmp_path).load("nothing") == ([], [])


def test_lazy_command_groups_still_run_and_list(cli_env: Path) -> None:
    runner = CliRunner()
    listed = runner.invoke(app, ["--help"])
    assert listed.exit_code == 0
    assert all(name in listed.output for name in ("staff", "widget", "phi", "outreach", "kb"))
    scrubbed = runner.invoke(app, ["phi", "scrub"], input="call me at 555-201-7788\n")
    assert scrubbed.exit_code == 0, scrubbed.output
    assert "555-201-7788" not in scrubbed.output
    assert runner.invoke(app, ["nope"]).exit_code == 2
