"""Sentence embeddings in-process: all-MiniLM-L6-v2, int8, under ONNX Runtime with `tokenizers`.

The model file is exported once by tools/export_embedding_model.py and kept in the repository
(provenance, licence and checksums in knowledge/embedding/MODEL.md). A sentence's embedding is the
mean of its token embeddings over the attention mask, L2-normalised: what sentence-transformers
does for this model, so cosine similarity is a dot product.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime
from tokenizers import Tokenizer

from ..content.files import KnowledgeError, Problem
from ..forking import matching, renew_after_fork

log = logging.getLogger(__name__)

MODEL_DIR = Path(__file__).resolve().parents[1] / "embedding"
MODEL_FILE = MODEL_DIR / "minilm-l6-v2.int8.onnx"
TOKENIZER_FILE = MODEL_DIR / "tokenizer.json"
MODEL_SHA256 = "343d5a82609719911e595feaaf8c9850109f21b05b3f9315e1f473c7d382c700"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"  # as MODEL.md lists
DIMENSIONS = 384
MAX_TOKENS = 128  # what the model was trained with; a longer message keeps its first 128 tokens
# ONNX Runtime fusions left out. Its SkipLayerNormalization kernel (the residual Add and the LayerNorm after it, fused)
# costs ~11 µs a token over the 6 layers, 10x the plain LayerNormalization it replaces: unfused, a run takes 12%
# less (1.57 against 1.79 ms over 8-45 tokens; `benchmarks/cost.py`). Same model, same arithmetic in another order:
# the vectors move by ~1e-6, and an embedding cache is keyed on this too (`Embedder.fingerprint`).
UNFUSED = ("SkipLayerNormFusion",)


class EmbeddingError(KnowledgeError):
    """The model or tokenizer file is missing, unreadable or not the one this code was written for: one problem,
    naming the file, on one line."""

    def __init__(self, file: Path, reason: str) -> None:
        super().__init__([Problem(str(file), 0, f"{reason}; see knowledge/embedding/MODEL.md")])


def _sha256(file: Path, what: str) -> str:
    if not file.is_file():
        raise EmbeddingError(file, f"embedding {what} missing")
    try:
        with file.open("rb") as opened:
            return hashlib.file_digest(opened, "sha256").hexdigest()
    except OSError as exc:
        raise EmbeddingError(file, f"cannot read the embedding {what}: {exc.strerror or exc}") from None


def _checked(file: Path, shipped: Path, expected: str, what: str) -> str:
    """The file's SHA-256; the shipped file must be the one exported (a model or tokenizer with two ids swapped
    would otherwise be used silently)."""
    digest = _sha256(file, what)
    if file == shipped and digest != expected:
        raise EmbeddingError(file, f"checksum {digest[:16]}… is not the exported {what}'s ({expected[:16]}…)")
    return digest


class Embedder:
    """Embeds texts; remembers the embeddings of texts it has seen, by content hash."""

    def __init__(self, model_file: Path = MODEL_FILE, tokenizer_file: Path = TOKENIZER_FILE,
                 threads: int = 1, cache_dir: Path | None = None, memory_items: int = 4096) -> None:
        self.model_sha256 = _checked(model_file, MODEL_FILE, MODEL_SHA256, "model")
        self.tokenizer_sha256 = _checked(tokenizer_file, TOKENIZER_FILE, TOKENIZER_SHA256, "tokenizer")
        # What an embedding depends on: both files and how the graph is run (the cache on disk and the classifiers
        # built are keyed on it).
        self.fingerprint = hashlib.sha256(
            f"{self.model_sha256}:{self.tokenizer_sha256}:{','.join(UNFUSED)}".encode()).hexdigest()
        options = onnxruntime.SessionOptions()
        # One thread per question: the bot serves many questions at once, and on a small machine
        # intra-op threads would fight the event loop for the cores.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # From the path, not from bytes in memory: ONNX Runtime would keep a second copy (~75 MB more).
        try:
            self._session = onnxruntime.InferenceSession(str(model_file), options,
                                                         providers=["CPUExecutionProvider"],
                                                         disabled_optimizers=list(UNFUSED))
        except Exception as exc:  # onnxruntime raises its own types, for a file that is not a model among others
            raise EmbeddingError(model_file, f"not an ONNX model ONNX Runtime can run: {_first_line(exc)}") from None
        try:
            self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        except Exception as exc:  # tokenizers raises a bare Exception for a file it cannot read
            raise EmbeddingError(tokenizer_file, f"not a tokenizer file: {_first_line(exc)}") from None
        self._tokenizer.enable_truncation(MAX_TOKENS)
        # The file pads every text to 128 tokens; padding to the longest (one text: none) is 7x faster.
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self._lock = threading.Lock()
        renew_after_fork(self, "_lock")
        self._memory: OrderedDict[str, np.ndarray] = OrderedDict()
        self._memory_items = memory_items
        # `cache_dir` (the settings' EMBEDDING_CACHE_DIR) keeps phrasing embeddings between runs; None: memory only.
        # The classifiers trained on them are kept there too (hybrid.py).
        self.cache_dir = cache_dir
        self._disk = DiskCache(cache_dir / f"embeddings-{self.fingerprint[:16]}") if cache_dir else None

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One L2-normalised row per text (float32).

        Texts run one at a time: the int8 model quantises activations per run, so in a padded batch
        the other texts would shift each text's vector (cosine ~0.99 to its own), and on the CPU
        batching is no faster (4.2 ms a text in batches of 8 against 2.6 ms one by one)."""
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        return np.vstack([self._run(text) for text in texts])

    def _run(self, text: str) -> np.ndarray:
        encoding = self._tokenizer.encode(text)  # one text: no padding, every token attended to
        ids = np.array([encoding.ids], dtype=np.int64)
        with matching():  # a fork of this process waits for the run to end (knowledge/forking.py)
            (tokens,) = self._session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids),
                                                 "token_type_ids": np.zeros_like(ids)})
        pooled = tokens.sum(axis=1) / np.float32(max(ids.shape[1], 1))  # the mean over the tokens
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)

    def embed_one(self, text: str) -> np.ndarray:
        """One text's row, as `embed` gives it; kept in memory only (a question's text is never written to disk), so
        that the same words asked again, or the same part of two questions ("llama 3 vs mixtral"), run the model
        once. The row is read-only: it is shared."""
        key = _key(text)
        with self._lock:
            row = self._memory.get(key)
        if row is None:
            row = self._run(text)[0]
            row.flags.writeable = False
        with self._lock:
            self._remember(key, row)  # the last used is the last to go
        return row

    def forget(self) -> None:
        """Drop the embeddings kept in memory (those on disk stay)."""
        with self._lock:
            self._memory.clear()

    def embed_cached(self, texts: Sequence[str]) -> np.ndarray:
        """As `embed`, reusing the embeddings of texts seen before (in memory, and on disk between runs)."""
        keys = [_key(t) for t in texts]
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
                    self._disk.add(rows)  # those read from it too: a cache found damaged is written afresh
        return np.vstack([rows[k] for k in keys]) if keys else self.embed([])

    def _remember(self, key: str, row: np.ndarray) -> None:
        self._memory[key] = row
        self._memory.move_to_end(key)
        while len(self._memory) > self._memory_items:
            self._memory.popitem(last=False)


def _key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:KEY_CHARS]


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]


KEY_CHARS = 32  # a key is the first 32 hexadecimal digits of its text's SHA-256
_HEX = b"0123456789abcdef"


class DiskCache:
    """Embeddings by key in two files beside each other: the keys, and the vectors, memory-mapped so that
    a process reads only the rows it asks for (a cache that once held a 10,000-entry FAQ's 110,000
    phrasings costs a 32-entry FAQ's process its 1,700 rows, not 170 MB).

    A damaged cache (files that are not the arrays it writes, keys that are not its keys, a vector that is not
    finite) is only a slower start: one warning, then it is ignored and written afresh as texts are embedded."""

    def __init__(self, stem: Path) -> None:
        self.keys_file = stem.with_name(stem.name + ".keys.npy")
        self.vectors_file = stem.with_name(stem.name + ".vectors.npy")
        self._index: dict[str, int] = {}
        self._vectors: np.ndarray | None = None
        self._open()

    def _open(self) -> None:
        self._index, self._vectors = {}, None
        if not self.keys_file.exists() and not self.vectors_file.exists():
            return  # none yet
        try:
            keys = np.load(self.keys_file, allow_pickle=False)
            vectors = np.load(self.vectors_file, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:  # missing, truncated, not an array, an array of objects
            self._damaged(f"unreadable: {_first_line(exc)}")
            return
        if keys.ndim != 1 or keys.dtype != np.dtype(f"S{KEY_CHARS}"):
            self._damaged(f"the keys are {keys.dtype} of shape {keys.shape}, not a list of {KEY_CHARS}-character keys")
            return
        if vectors.ndim != 2 or vectors.shape != (len(keys), DIMENSIONS) or vectors.dtype != np.float32:
            self._damaged(f"the vectors are {vectors.dtype} of shape {vectors.shape}, not {len(keys)} of "
                          f"{DIMENSIONS} float32")
            return
        raw = keys.tolist()
        joined = b"".join(raw)
        if len(joined) != KEY_CHARS * len(raw) or joined.translate(None, _HEX):
            self._damaged("a key is not a hexadecimal digest")
            return
        text = joined.decode("ascii")
        self._index = {text[i * KEY_CHARS:(i + 1) * KEY_CHARS]: i for i in range(len(raw))}
        self._vectors = vectors

    def _damaged(self, reason: str) -> None:
        log.warning("the embedding cache %s is damaged (%s): ignored, and written afresh as phrasings are embedded "
                    "(only a slower start)", self.keys_file.parent / self.keys_file.name.removesuffix(".keys.npy"),
                    reason)
        self._index, self._vectors = {}, None

    def __len__(self) -> int:
        return len(self._index)

    def get(self, key: str) -> np.ndarray | None:
        i = self._index.get(key)
        if i is None or self._vectors is None:
            return None
        try:
            row = np.array(self._vectors[i])
        except (OSError, ValueError) as exc:  # the file shrank under the mapping, among others
            self._damaged(f"unreadable: {_first_line(exc)}")
            return None
        if not np.isfinite(row).all():  # checked row by row: the file is mapped, not read whole
            self._damaged(f"the vector of key {key} is not finite")
            return None
        return row

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
renew_after_fork(sys.modules[__name__], "_shared_lock")


def shared_embedder(cache_dir: Path | None = None) -> Embedder:
    """The process's embedder for `cache_dir` (the model takes ~25 MB and a session per process is enough;
    a process uses one cache folder, so in practice there is one)."""
    with _shared_lock:
        if cache_dir not in _shared:
            _shared[cache_dir] = Embedder(cache_dir=cache_dir)
        return _shared[cache_dir]
