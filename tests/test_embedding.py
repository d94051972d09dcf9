"""The embedding model in-process matches the PyTorch original, and its cache is keyed by content."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from repo_paths import ROOT

from knowledge import KnowledgeError
from knowledge.decision.embedding import DIMENSIONS, MODEL_FILE, TOKENIZER_FILE, DiskCache, Embedder, EmbeddingError

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


def test_the_model_reads_the_attention_mask_in_a_padded_batch(embedder: Embedder) -> None:
    """The fused attention (tools/fuse_attention.py) takes the mask as a key padding mask: a short text padded beside
    a long one still points where it does alone (the batch's shared int8 scale moves it a little); read as unmasked,
    its padding would pull it away."""
    texts = ["llama", "can we use llama commercially in our product without asking a lawyer first?"]
    alone = embedder.embed(texts)
    encoded = embedder._tokenizer.encode_batch(texts)
    ids = np.array([e.ids for e in encoded], dtype=np.int64)
    mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
    assert mask[0].sum() < mask.shape[1]  # the short text is padded

    def pooled(attended: np.ndarray) -> np.ndarray:
        (tokens,) = embedder._session.run(None, {"input_ids": ids, "attention_mask": attended,
                                                 "token_type_ids": np.zeros_like(ids)})
        mean = (tokens * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        return mean / np.linalg.norm(mean, axis=1, keepdims=True)

    assert float(pooled(mask)[0] @ alone[0]) > 0.97
    assert float(pooled(np.ones_like(mask))[0] @ alone[0]) < 0.95


def test_a_question_embedded_again_runs_the_model_once_and_stays_off_disk(tmp_path: Path) -> None:
    embedder = Embedder(cache_dir=tmp_path)
    runs: list[str] = []
    run = embedder._run

    def counted(text: str) -> np.ndarray:
        runs.append(text)
        return run(text)

    embedder._run = counted  # type: ignore[method-assign]
    asked = "is llama 3 free for commercial use"
    first, again = embedder.embed_one(asked), embedder.embed_one(asked)
    assert runs == [asked]
    assert np.array_equal(first, again) and np.array_equal(first, embedder.embed([asked])[0])
    assert not first.flags.writeable  # shared: nobody may change it
    assert not list(tmp_path.iterdir())  # what people ask is not written to disk


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


def _keys_and_vectors(tmp_path: Path) -> tuple[Path, Path]:
    """A cache of two texts written by the embedder, and its two files."""
    Embedder(cache_dir=tmp_path).embed_cached(["hugging face", "what is the attention mechanism"])
    [keys] = tmp_path.glob("embeddings-*.keys.npy")
    return keys, keys.with_name(keys.name.replace(".keys.", ".vectors."))


def _nan_vectors(keys: Path, vectors: Path) -> None:
    data = np.load(vectors)
    data[1, 7] = np.nan
    np.save(vectors, data)


@pytest.mark.parametrize("damage", [
    lambda keys, vectors: np.save(keys, np.array(b"0" * 32, dtype="S32")),  # a 0-d array
    lambda keys, vectors: np.save(keys, np.array([b"\xc3\xa9" * 16, b"a" * 32], dtype="S32")),  # not ASCII
    lambda keys, vectors: np.save(keys, np.array([1, 2])),  # integers
    lambda keys, vectors: np.save(keys, np.array([b"zz" * 16, b"a" * 32], dtype="S32")),  # not hexadecimal
    lambda keys, vectors: np.save(keys, np.load(keys)[:1]),  # fewer keys than vectors
    lambda keys, vectors: np.save(vectors, np.load(vectors).astype(np.float64)),
    _nan_vectors,
    lambda keys, vectors: vectors.unlink(),
    lambda keys, vectors: vectors.write_bytes(vectors.read_bytes()[:200]),  # cut short
], ids=["0-d keys", "non-ASCII keys", "integer keys", "keys not hexadecimal", "fewer keys", "float64 vectors",
        "NaN in a vector", "vectors missing", "vectors cut short"])
def test_a_damaged_cache_is_one_warning_then_ignored_and_written_afresh(tmp_path: Path, damage,  # type: ignore[no-untyped-def]
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    keys, vectors = _keys_and_vectors(tmp_path)
    expected = Embedder(cache_dir=None).embed(["hugging face", "what is the attention mechanism"])
    damage(keys, vectors)
    with caplog.at_level(logging.WARNING, logger="knowledge.decision.embedding"):
        got = Embedder(cache_dir=tmp_path).embed_cached(["hugging face", "what is the attention mechanism"])
    assert np.allclose(got, expected, atol=1e-6)  # computed afresh: never a damaged row
    [warning] = [r.getMessage() for r in caplog.records]
    assert "embedding cache" in warning and "damaged" in warning and "slower start" in warning
    caplog.clear()
    again = Embedder(cache_dir=tmp_path)
    assert again._disk is not None and len(again._disk) == 2  # written afresh
    assert np.allclose(again.embed_cached(["hugging face"]), expected[:1], atol=1e-6) and not caplog.records


def test_no_cache_yet_is_no_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        Embedder(cache_dir=tmp_path / "new").embed_cached(["hugging face"])
    assert not caplog.records


def test_a_tokenizer_file_that_is_not_the_exported_one_is_refused(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # Two token ids swapped: the file still loads, and every embedding would silently be wrong.
    data = json.loads(TOKENIZER_FILE.read_text(encoding="utf-8"))
    vocab = data["model"]["vocab"]
    vocab["open"], vocab["model"] = vocab["model"], vocab["open"]
    fake = tmp_path / TOKENIZER_FILE.name
    fake.write_text(json.dumps(data), encoding="utf-8")
    monkeypatch.setattr("knowledge.decision.embedding.TOKENIZER_FILE", fake)
    with pytest.raises(EmbeddingError, match="checksum") as info:
        Embedder(tokenizer_file=fake, cache_dir=None)
    [problem] = info.value.problems
    assert str(problem).startswith(f"{fake}: checksum ")
    assert str(problem).endswith("is not the exported tokenizer's (be50c3628f2bf5bb…); see "
                                 "knowledge/embedding/MODEL.md")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text, reason", [(None, "embedding tokenizer missing"),
                                          ("{not json", "not a tokenizer file")])
def test_a_missing_or_broken_tokenizer_is_one_line_naming_it(tmp_path: Path, text: str | None, reason: str) -> None:
    tokenizer = tmp_path / "tokenizer.json"
    if text is not None:
        tokenizer.write_text(text, encoding="utf-8")
    with pytest.raises(EmbeddingError) as info:
        Embedder(tokenizer_file=tokenizer, cache_dir=None)
    [problem] = info.value.problems
    assert str(problem).startswith(f"{tokenizer}: {reason}") and "\n" not in str(problem)
    assert isinstance(info.value, KnowledgeError)  # reported like any knowledge file's problem, never a traceback


def test_the_cache_is_kept_apart_for_another_tokenizer(tmp_path: Path) -> None:
    other = tmp_path / "tokenizer.json"
    other.write_text(TOKENIZER_FILE.read_text(encoding="utf-8") + "\n", encoding="utf-8")  # same tokens, other file
    shipped, changed = Embedder(cache_dir=tmp_path), Embedder(tokenizer_file=other, cache_dir=tmp_path)
    assert shipped.model_sha256 == changed.model_sha256 and shipped.fingerprint != changed.fingerprint
    shipped.embed_cached(["hugging face"])
    changed.embed_cached(["hugging face"])
    assert len(list(tmp_path.glob("embeddings-*.keys.npy"))) == 2


def test_the_checksums_checked_are_those_model_md_lists() -> None:
    from knowledge.decision.embedding import MODEL_SHA256, TOKENIZER_SHA256

    listed = (MODEL_FILE.parent / "MODEL.md").read_text(encoding="utf-8")
    assert f"`{MODEL_FILE.name}` | SHA-256 `{MODEL_SHA256}`" in listed
    assert f"`{TOKENIZER_FILE.name}` | SHA-256 `{TOKENIZER_SHA256}`" in listed
