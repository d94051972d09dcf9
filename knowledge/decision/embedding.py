"""Sentence embeddings in-process: all-MiniLM-L6-v2, int8, under ONNX Runtime with `tokenizers`.

The model file is exported once by tools/export_embedding_model.py and kept in the repository
(provenance, licence and checksums in knowledge/embedding/MODEL.md). A sentence's embedding is the
mean of its token embeddings over the attention mask, L2-normalised: what sentence-transformers
does for this model, so cosine similarity is a dot product.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime
from tokenizers import Tokenizer

MODEL_DIR = Path(__file__).resolve().parents[1] / "embedding"
MODEL_FILE = MODEL_DIR / "minilm-l6-v2.int8.onnx"
TOKENIZER_FILE = MODEL_DIR / "tokenizer.json"
MODEL_SHA256 = "fc33129ae77205846d13890837a67fa5bf678912fb0344723bcff4055f60452d"
DIMENSIONS = 384
MAX_TOKENS = 128  # what the model was trained with; a longer message keeps its first 128 tokens


class EmbeddingError(RuntimeError):
    """The model file is missing or is not the one this code was written for."""


class Embedder:
    """Embeds texts; remembers the embeddings of texts it has seen, by content hash."""

    def __init__(self, model_file: Path = MODEL_FILE, tokenizer_file: Path = TOKENIZER_FILE,
                 threads: int = 1, cache_dir: Path | None = None, memory_items: int = 4096) -> None:
        if not model_file.is_file():
            raise EmbeddingError(f"{model_file}: embedding model missing (see knowledge/embedding/MODEL.md)")
        with model_file.open("rb") as model:
            self.model_sha256 = hashlib.file_digest(model, "sha256").hexdigest()
        if model_file == MODEL_FILE and self.model_sha256 != MODEL_SHA256:
            raise EmbeddingError(f"{model_file}: checksum {self.model_sha256[:16]}… is not the exported model's "
                                 f"({MODEL_SHA256[:16]}…); see knowledge/embedding/MODEL.md")
        options = onnxruntime.SessionOptions()
        # One thread per question: the bot serves many questions at once, and on a small machine
        # intra-op threads would fight the event loop for the cores.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # From the path, not from bytes in memory: ONNX Runtime would keep a second copy (~75 MB more).
        self._session = onnxruntime.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        # The file pads every text to 128 tokens; padding to the longest (one text: none) is 7x faster.
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self._lock = threading.Lock()
        self._memory: OrderedDict[str, np.ndarray] = OrderedDict()
        self._memory_items = memory_items
        # `cache_dir` (the settings' EMBEDDING_CACHE_DIR) keeps phrasing embeddings between runs; None: memory only.
        self._disk = DiskCache(cache_dir / f"embeddings-{self.model_sha256[:16]}") if cache_dir else None

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One L2-normalised row per text (float32).

        Texts run one at a time: the int8 model quantises activations per run, so in a padded batch
        the other texts would shift each text's vector (cosine ~0.99 to its own), and on the CPU
        batching is no faster (4.2 ms a text in batches of 8 against 2.6 ms one by one)."""
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        return np.vstack([self._run([text]) for text in texts])

    def _run(self, texts: Sequence[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        (tokens,) = self._session.run(None, {"input_ids": ids, "attention_mask": mask,
                                             "token_type_ids": np.zeros_like(ids)})
        weights = mask[:, :, None].astype(np.float32)
        pooled = (tokens * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)

    def embed_cached(self, texts: Sequence[str]) -> np.ndarray:
        """As `embed`, reusing the embeddings of texts seen before (in memory, and on disk between runs)."""
        keys = [hashlib.sha256(t.encode("utf-8")).hexdigest()[:32] for t in texts]
        rows: dict[str, np.ndarray] = {}
        missing: dict[str, str] = {}
        with self._lock:
            for text, key in zip(texts, keys, strict=True):
                if key in rows or key in missing:
                    continue
                row = self._memory.get(key)
                if row is None and self._disk is not None:
                    row = self._disk.get(key)
                if row is None:
                    missing[key] = text
                else:
                    rows[key] = row
        if missing:
            fresh = dict(zip(missing, self.embed(list(missing.values())), strict=True))
            rows.update(fresh)
            with self._lock:
                for key, row in fresh.items():
                    self._remember(key, row)
                if self._disk is not None:
                    self._disk.add(fresh)
        return np.vstack([rows[k] for k in keys]) if keys else self.embed([])

    def _remember(self, key: str, row: np.ndarray) -> None:
        self._memory[key] = row
        self._memory.move_to_end(key)
        while len(self._memory) > self._memory_items:
            self._memory.popitem(last=False)


class DiskCache:
    """Embeddings by key in two files beside each other: the keys, and the vectors, memory-mapped so that
    a process reads only the rows it asks for (a cache that once held a 10,000-entry FAQ's 110,000
    phrasings costs a 32-entry FAQ's process its 1,700 rows, not 170 MB)."""

    def __init__(self, stem: Path) -> None:
        self.keys_file = stem.with_name(stem.name + ".keys.npy")
        self.vectors_file = stem.with_name(stem.name + ".vectors.npy")
        self._index: dict[str, int] = {}
        self._vectors: np.ndarray | None = None
        self._open()

    def _open(self) -> None:
        try:
            keys = np.load(self.keys_file, allow_pickle=False)
            vectors = np.load(self.vectors_file, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError, EOFError):
            self._index, self._vectors = {}, None  # none yet, or damaged: only a slower start
            return
        if vectors.ndim != 2 or vectors.shape != (len(keys), DIMENSIONS) or vectors.dtype != np.float32:
            self._index, self._vectors = {}, None
            return
        self._index = {key.decode("ascii"): i for i, key in enumerate(keys.tolist())}
        self._vectors = vectors

    def __len__(self) -> int:
        return len(self._index)

    def get(self, key: str) -> np.ndarray | None:
        i = self._index.get(key)
        return None if i is None or self._vectors is None else np.array(self._vectors[i])

    def add(self, rows: dict[str, np.ndarray]) -> None:
        """Append `rows` (written whole to new files, then renamed over the old: readers never see half)."""
        new = {k: v for k, v in rows.items() if k not in self._index}
        if not new:
            return
        old_keys = list(self._index)
        keys = np.array([k.encode("ascii") for k in (*old_keys, *new)], dtype="S32")
        fresh = np.vstack(list(new.values())).astype(np.float32)
        vectors = np.vstack([self._vectors, fresh]) if self._vectors is not None and len(old_keys) else fresh
        try:
            self.keys_file.parent.mkdir(parents=True, exist_ok=True)
            suffix = f".{os.getpid()}.{threading.get_ident()}.tmp"
            for target, data in ((self.vectors_file, vectors), (self.keys_file, keys)):
                tmp = target.with_name(target.name + suffix)
                with tmp.open("wb") as out:
                    np.save(out, data, allow_pickle=False)
                os.replace(tmp, target)
        except OSError:
            return  # a read-only home only costs the cache
        self._open()


_shared: dict[Path | None, Embedder] = {}
_shared_lock = threading.Lock()


def shared_embedder(cache_dir: Path | None = None) -> Embedder:
    """The process's embedder for `cache_dir` (the model takes ~25 MB and a session per process is enough;
    a process uses one cache folder, so in practice there is one)."""
    with _shared_lock:
        if cache_dir not in _shared:
            _shared[cache_dir] = Embedder(cache_dir=cache_dir)
        return _shared[cache_dir]
