"""Text embeddings that work offline without torch.

The default is WordLlama's static token embeddings: the weights ship inside the `wordllama`
wheel (numpy only), load in a fraction of a second and embed a question in about 0.1 ms.
Anything with an `embed(texts) -> array` method can replace it (tests, a sentence-transformer
where torch is acceptable).
"""

from __future__ import annotations

import importlib.util
import json
import threading
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]


class Embedder(Protocol):
    """Turns texts into unit-length vectors (one row per text)."""

    def embed(self, texts: list[str]) -> Vectors:
        """Embed texts; rows are L2-normalised."""
        ...


class WordLlamaEmbedder:
    """WordLlama `l2_supercat` 256-d static embeddings, loaded from the installed wheel.

    The model is a token embedding table and a tokenizer; a text's vector is the mean of its
    tokens' rows. Both files are read here directly (`tokenizers`, `safetensors`), exactly as
    `WordLlama.load` reads them, without importing the `wordllama` package itself: its import
    pulls in `requests` and pydantic configuration and costs more than the model, which matters
    for `frontdesk kb ask` from a cold start. `tests/knowledge` checks the vectors against
    WordLlama's own `embed`.
    """

    CONFIG = "l2_supercat"
    DIM = 256

    def __init__(self) -> None:
        """Map the bundled weights and load the tokenizer; never touches the network."""
        from tokenizers import Tokenizer

        package_dir = wordllama_dir()
        tokenizer = Tokenizer.from_file(
            str(package_dir / "tokenizers" / f"{self.CONFIG}_tokenizer_config.json")
        )
        tokenizer.enable_padding()
        tokenizer.no_truncation()
        self._table = map_safetensor(
            package_dir / "weights" / f"{self.CONFIG}_{self.DIM}.safetensors", "embedding.weight"
        )
        self._tokenizer = tokenizer
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> Vectors:
        """Embed texts; rows are L2-normalised."""
        if not texts:
            return np.zeros((0, self._table.shape[1]), dtype=np.float32)
        with self._lock:  # the tokenizer's padding state is shared; keep calls serial
            encoded = self._tokenizer.encode_batch(texts, add_special_tokens=False)
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        np.clip(ids, 0, self._table.shape[0] - 1, out=ids)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.float32)
        rows = self._table[ids].astype(np.float32)  # only the rows these tokens use are read
        summed = np.sum(rows * mask[..., np.newaxis], axis=1, dtype=np.float32)
        vectors = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1.0)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        # A text with no known tokens ("", emoji) embeds to zeros: keep it zero, not NaN.
        unit: Vectors = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
        return unit


_SAFETENSOR_DTYPES = {"F16": np.float16, "F32": np.float32}


def map_safetensor(path: Path, key: str) -> npt.NDArray[np.floating]:
    """One tensor of a .safetensors file, memory-mapped read-only (nothing read up front).

    The format is an 8-byte little-endian header length, a JSON header giving each tensor's
    dtype, shape and byte range, then the raw data.
    """
    with path.open("rb") as handle:
        header_length = int.from_bytes(handle.read(8), "little")
        header = json.loads(handle.read(header_length))
    entry = header[key]
    start, _end = entry["data_offsets"]
    dtype = _SAFETENSOR_DTYPES[entry["dtype"]]
    table: npt.NDArray[np.floating] = np.memmap(
        path, dtype=dtype, mode="r", offset=8 + header_length + start, shape=tuple(entry["shape"])
    )
    return table


def wordllama_dir() -> Path:
    """The installed `wordllama` package's folder, found without importing the package."""
    spec = importlib.util.find_spec("wordllama")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the wordllama package is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


@lru_cache(maxsize=1)
def default_embedder() -> Embedder:
    """The process-wide default embedder (loaded once)."""
    return WordLlamaEmbedder()
