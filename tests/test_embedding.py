"""The embedding model in-process matches the PyTorch original, and its cache is keyed by content."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from repo_paths import ROOT

from knowledge.decision.embedding import DIMENSIONS, MODEL_FILE, Embedder, EmbeddingError

REFERENCE = json.loads((ROOT / "tests" / "fixtures" / "embedding_reference.json").read_text())


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder(cache_dir=None)


def test_embeddings_match_the_pytorch_reference_vectors(embedder: Embedder) -> None:
    ours = embedder.embed(REFERENCE["sentences"])
    reference = np.array(REFERENCE["vectors"], dtype=np.float32)
    assert ours.shape == (len(REFERENCE["sentences"]), DIMENSIONS)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)
    # int8 weights: each sentence points where the fp32 model's does, to within a small angle
    assert (ours * reference).sum(axis=1).min() > 0.985


def test_the_nearest_reference_of_each_sentence_is_itself(embedder: Embedder) -> None:
    similarities = embedder.embed(REFERENCE["sentences"]) @ np.array(REFERENCE["vectors"], dtype=np.float32).T
    assert (similarities.argmax(axis=1) == np.arange(len(REFERENCE["sentences"]))).all()


def test_a_batch_gives_the_same_vectors_as_one_at_a_time(embedder: Embedder) -> None:
    texts = REFERENCE["sentences"][:3]
    one_by_one = np.vstack([embedder.embed([t]) for t in texts])
    assert np.allclose(embedder.embed(texts), one_by_one, atol=1e-5)


def test_cached_embeddings_are_kept_on_disk_by_content(tmp_path: Path) -> None:
    first = Embedder(cache_dir=tmp_path)
    vectors = first.embed_cached(["hugging face", "what is the attention mechanism"])
    second = Embedder(cache_dir=tmp_path)
    assert np.array_equal(second.embed_cached(["what is the attention mechanism"]), vectors[1:])
    assert second._disk is not None and len(second._disk) == 2
    second.embed_cached(["a third text"])
    assert len(Embedder(cache_dir=tmp_path)._disk or ()) == 3


def test_a_damaged_cache_only_costs_time(tmp_path: Path) -> None:
    Embedder(cache_dir=tmp_path).embed_cached(["hugging face"])
    for damaged in tmp_path.glob("embeddings-*.npy"):
        damaged.write_bytes(b"not a cache")
    assert Embedder(cache_dir=tmp_path).embed_cached(["hugging face"]).shape == (1, DIMENSIONS)


def test_the_disk_cache_is_read_a_row_at_a_time(tmp_path: Path) -> None:
    from knowledge.decision.embedding import DiskCache

    cache = DiskCache(tmp_path / "embeddings-test")
    rows = {f"{n:032x}": np.full(DIMENSIONS, n, dtype=np.float32) for n in range(1000)}
    cache.add(rows)
    again = DiskCache(tmp_path / "embeddings-test")
    assert isinstance(again._vectors, np.memmap)  # mapped, not read into memory whole
    assert np.array_equal(again.get(f"{999:032x}"), rows[f"{999:032x}"])
    assert again.get("absent") is None


def test_a_model_file_that_is_not_the_exported_one_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / MODEL_FILE.name
    fake.write_bytes(MODEL_FILE.read_bytes()[:-1] + b"x")
    monkeypatch.setattr("knowledge.decision.embedding.MODEL_FILE", fake)
    with pytest.raises(EmbeddingError, match="checksum"):
        Embedder(fake, cache_dir=None)


def test_a_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingError, match="embedding model missing"):
        Embedder(tmp_path / "absent.onnx", cache_dir=None)


def test_embedding_more_texts_than_the_memory_holds_at_once() -> None:
    small = Embedder(cache_dir=None, memory_items=2)
    texts = [f"question number {n}" for n in range(5)]
    assert small.embed_cached(texts).shape == (5, DIMENSIONS)
