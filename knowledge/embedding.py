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

MODEL_DIR = Path(__file__).resolve().parent / "embedding"
MODEL_FILE = MODEL_DIR / "minilm-l6-v2.int8.onnx"
TOKENIZER_FILE = MODEL_DIR / "tokenizer.json"
MODEL_SHA256 = "fc33129ae77205846d13890837a67fa5bf678912fb0344723bcff4055f60452d"
DIMENSIONS = 384
MAX_TOKENS = 128  # what the model was trained with; a longer message keeps its first 128 tokens


class EmbeddingError(RuntimeError):
    """The model file is missing or is not the one this code was written for."""


def _cache_dir() -> Path | None:
    """Where phrasing embeddings are kept between runs: EMBEDDING_CACHE_DIR, else the user's cache."""
    configured = os.environ.get("EMBEDDING_CACHE_DIR")
    if configured is not None:
        return Path(configured) if configured else None  # an empty value turns the disk cache off
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "openllm-bot"


class Embedder:
    """Embeds texts; remembers the embeddings of texts it has seen, by content hash."""

    def __init__(self, model_file: Path = MODEL_FILE, tokenizer_file: Path = TOKENIZER_FILE,
                 threads: int = 1, cache_dir: Path | str | None = "default", memory_items: int = 4096) -> None:
        if not model_file.is_file():
            raise EmbeddingError(f"{model_file}: embedding model missing (see knowledge/embedding/MODEL.md)")
        model_bytes = model_file.read_bytes()
        self.model_sha256 = hashlib.sha256(model_bytes).hexdigest()
        if model_file == MODEL_FILE and self.model_sha256 != MODEL_SHA256:
            raise EmbeddingError(f"{model_file}: checksum {self.model_sha256[:16]}… is not the exported model's "
                                 f"({MODEL_SHA256[:16]}…); see knowledge/embedding/MODEL.md")
        options = onnxruntime.SessionOptions()
        # One thread per question: the bot serves many questions at once, and on a small machine
        # intra-op threads would fight the event loop for the cores.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        # The file pads every text to 128 tokens; padding to the longest (one text: none) is 7x faster.
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self._lock = threading.Lock()
        self._memory: OrderedDict[str, np.ndarray] = OrderedDict()
        self._memory_items = memory_items
        directory = _cache_dir() if cache_dir == "default" else (Path(cache_dir) if cache_dir else None)
        self._disk = directory / f"embeddings-{self.model_sha256[:16]}.npz" if directory else None
        self._disk_keys: set[str] = set()
        self._load_disk()

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
        with self._lock:
            missing = list(dict.fromkeys(t for t, k in zip(texts, keys, strict=True) if k not in self._memory))
        if missing:
            fresh = self.embed(missing)
            with self._lock:
                self._memory_items = max(self._memory_items, len(self._memory) + len(missing))
                for text, row in zip(missing, fresh, strict=True):
                    self._remember(hashlib.sha256(text.encode("utf-8")).hexdigest()[:32], row)
                self._save_disk()
        with self._lock:
            return np.vstack([self._memory[k] for k in keys]) if keys else self.embed([])

    def _remember(self, key: str, row: np.ndarray) -> None:
        self._memory[key] = row
        self._memory.move_to_end(key)
        while len(self._memory) > self._memory_items:
            self._memory.popitem(last=False)

    def _load_disk(self) -> None:
        if self._disk is None or not self._disk.is_file():
            return
        try:
            with np.load(self._disk) as data:
                keys, vectors = data["keys"], data["vectors"]
        except (OSError, ValueError, KeyError):
            return  # a damaged cache is only a slower start
        if vectors.shape[1:] != (DIMENSIONS,):
            return
        self._memory_items = max(self._memory_items, len(keys) + 4096)
        for key, row in zip(keys.tolist(), vectors, strict=True):
            self._memory[key] = row
        self._disk_keys = set(self._memory)

    def _save_disk(self) -> None:
        if self._disk is None or set(self._memory) == self._disk_keys:
            return
        self._memory_items = max(self._memory_items, len(self._memory) + 4096)
        try:
            self._disk.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._disk.with_suffix(f".{os.getpid()}.tmp.npz")
            keys = list(self._memory)
            np.savez(tmp, keys=np.array(keys), vectors=np.vstack([self._memory[k] for k in keys]))
            os.replace(tmp, self._disk)
            self._disk_keys = set(keys)
        except OSError:
            pass  # a read-only home only costs the cache


_shared: Embedder | None = None
_shared_lock = threading.Lock()


def shared_embedder() -> Embedder:
    """The process's one embedder (the model takes ~25 MB and a session per process is enough)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Embedder()
        return _shared
