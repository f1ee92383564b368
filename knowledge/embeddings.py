"""Text embeddings that work offline without torch.

The default is WordLlama's static token embeddings: the weights ship inside the `wordllama`
wheel (numpy only), load in well under a second and embed a question in about 0.1 ms.
Anything with an `embed(texts) -> array` method can replace it (tests, a sentence-transformer
where torch is acceptable).
"""

from __future__ import annotations

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
    """WordLlama `l2_supercat` 256-d static embeddings, loaded from the installed wheel."""

    def __init__(self) -> None:
        """Load the bundled weights; never touches the network."""
        import wordllama  # type: ignore[import-untyped]
        from wordllama import WordLlama

        # Point the cache at the package folder: the wheel keeps the tokenizer under
        # `tokenizers/`, which WordLlama's own lookup misses, and it would then download it.
        package_dir = Path(wordllama.__file__).parent
        self._model = WordLlama.load(cache_dir=package_dir, disable_download=True)
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> Vectors:
        """Embed texts; rows are L2-normalised."""
        with self._lock:  # the tokenizer is shared; keep calls from threads serial
            vectors = np.asarray(self._model.embed(texts, norm=False), dtype=np.float32)
        vectors = vectors.reshape(len(texts), -1)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        # A text with no known tokens ("", emoji) embeds to zeros: keep it zero, not NaN.
        unit: Vectors = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
        return unit


@lru_cache(maxsize=1)
def default_embedder() -> Embedder:
    """The process-wide default embedder (loaded once)."""
    return WordLlamaEmbedder()
