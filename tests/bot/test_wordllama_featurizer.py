"""The dense NLU featurizer, run inside Rasa's environment as `rasa train` runs it."""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest

from frontdesk.botctl import RASA_PYTHONPATH
from frontdesk.settings import Settings
from knowledge.embeddings import WordLlamaEmbedder

TEXTS = [
    "book an appointment",
    "schedule a visit",
    "what is my balance",
    "necesito una cita para mi hijo",
    "\U0001f44d",
    "!!!",
    "",
]

# Rasa's own tokenizer, then our featurizer, on plain Rasa messages.
FEATURIZE = r"""
import json, sys
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.training_data.message import Message
import wordllama_featurizer

texts = json.loads(sys.argv[1])
context = ExecutionContext(graph_schema=None, node_name="dense")
tokenizer = WhitespaceTokenizer(WhitespaceTokenizer.get_default_config())
featurizer = wordllama_featurizer.WordLlamaFeaturizer.create(
    {**wordllama_featurizer.WordLlamaFeaturizer.get_default_config(), "alias": "dense"},
    LocalModelStorage("/tmp"), Resource("dense"), context,
)
messages = [Message(data={"text": text}) for text in texts]
tokenizer.process(messages)
featurizer.process(messages)
out = []
for message in messages:
    sequence, sentence = message.get_dense_features("text")
    out.append({
        "sentence": sentence.features.tolist() if sentence else None,
        "sequence_rows": len(sequence.features) if sequence else 0,
        "tokens": len(message.get("text_tokens") or []),
    })
print(json.dumps(out))
"""


def _featurize_in_rasa(texts: list[str]) -> list[dict[str, object]]:
    python = Settings(_env_file=None, env="development").rasa_venv / "bin" / "python"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(p) for p in RASA_PYTHONPATH),
        "RASA_TELEMETRY_ENABLED": "false",
    }
    result = subprocess.run(
        [str(python), "-c", FEATURIZE, json.dumps(texts)], env=env, capture_output=True,
        text=True, check=True, timeout=180,
    )  # fmt: skip
    rows: list[dict[str, object]] = json.loads(result.stdout.strip().splitlines()[-1])
    return rows


@pytest.mark.rasa
def test_rasa_gets_the_knowledge_base_embedding_of_each_message_weighted() -> None:
    rows = _featurize_in_rasa(TEXTS)
    expected = WordLlamaEmbedder().embed([text.lower() for text in TEXTS]) * 3.0
    sentences = np.array([row["sentence"] for row in rows], dtype=np.float32).reshape(
        len(TEXTS), -1
    )
    # Both environments pin the same wordllama and tokenizers: the same vectors either side.
    np.testing.assert_allclose(sentences, expected, atol=1e-5)
    for row in rows:
        assert row["sequence_rows"] == row["tokens"]  # one row per Rasa token
    # The point of the feature: a request in other words lands near the plain one.
    unit = sentences / np.maximum(np.linalg.norm(sentences, axis=1, keepdims=True), 1e-9)
    assert float(unit[0] @ unit[1]) > float(unit[0] @ unit[2])
    # Every message gets the columns, emoji, punctuation and empty text too, and no NaN.
    assert np.isfinite(sentences).all()
    assert not np.any(sentences[TEXTS.index("")])
