"""keywords.py: SigLIP sigmoid zero-shot tags, the relative keep rule, and the label cache."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import vectorvision_widget.models.keywords as keywords
from vectorvision_widget.models.keywords import KeywordTagger, default_vocabulary

LABELS = ["red", "green", "blue", "a car", "a yellow flower", "grey wall", "the sea"]
SCALE, BIAS = 117.330765, -12.932437  # exp(logit_scale), logit_bias of siglip-base-patch16-224


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Cache in a temp folder and an empty process-level cache for every test."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("VECTORVISION_CACHE", str(cache))
    monkeypatch.setattr(keywords, "_MEMORY_CACHE", {})
    return cache


@pytest.fixture
def text_calls(encoders: Any, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts embed_texts calls (number of texts per call)."""
    calls: list[int] = []
    original = encoders.embed_texts

    def counting(texts: Any) -> np.ndarray:
        calls.append(len(texts))
        return original(texts)

    monkeypatch.setattr(encoders, "embed_texts", counting)
    return calls


def _expected_tags(
    features: np.ndarray, label_emb: np.ndarray, labels: list[str], top: int = 5
) -> list[list[tuple[str, float]]]:
    """The documented rule, recomputed: top-`top` labels with p >= max(1e-3, 0.1 * best)."""
    logits = SCALE * (features.astype(np.float64) @ label_emb.T.astype(np.float64)) + BIAS
    probs = 1.0 / (1.0 + np.exp(-logits))
    out = []
    for row, lrow in zip(probs, logits, strict=True):
        order = sorted(range(len(labels)), key=lambda i: -lrow[i])[:top]  # probs may tie at 1
        floor = max(1e-3, 0.1 * row[order[0]])
        kept = [i for i in order if row[i] >= floor] or order[:1]
        out.append([(labels[i], float(row[i])) for i in kept])
    return out


def test_default_vocabulary_is_a_useful_list() -> None:
    vocab = default_vocabulary()
    assert 200 <= len(vocab) <= 2000
    assert len(set(vocab)) == len(vocab)
    assert all(v == v.strip() and v and not v.startswith("#") for v in vocab)
    for label in ("a dog", "a beach", "a sunset"):
        assert label in vocab


def test_tags_follow_the_sigmoid_and_relative_rule(encoders: Any) -> None:
    tagger = KeywordTagger(encoders, LABELS)
    label_emb = encoders.embed_texts([f"This is a photo of {lab}." for lab in LABELS])
    rng = np.random.default_rng(3)
    # cosines like real SigLIP ones (about -0.1..0.2), so probabilities spread without ties at 1.0
    noise = rng.normal(size=(3 * len(LABELS), label_emb.shape[1]))
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    feats = noise + 0.15 * np.tile(label_emb, (3, 1))
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    cos = feats @ label_emb.T
    assert cos.max() < 0.6  # far from saturation
    got = tagger.tag(feats)
    want = _expected_tags(feats, label_emb, LABELS)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert [k["label"] for k in g] == [lab for lab, _ in w]
        np.testing.assert_allclose([k["score"] for k in g], [p for _, p in w], rtol=1e-2, atol=1e-6)
        assert len(g) >= 1


def test_top_limits_the_number_of_keywords(encoders: Any) -> None:
    tagger = KeywordTagger(encoders, LABELS, top=2, min_score=0.0, relative=0.0)
    feats = encoders.embed_texts(["red"])
    tags = tagger.tag(feats)[0]
    assert len(tags) == 2
    assert tags[0]["score"] >= tags[1]["score"]


def test_every_image_gets_at_least_one_keyword(encoders: Any) -> None:
    # an absurd min_score that no label reaches: the best label is still kept
    tagger = KeywordTagger(encoders, LABELS, min_score=2.0)
    feats = np.random.default_rng(0).normal(size=(4, encoders.feature_dim))
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    tags = tagger.tag(feats)
    cos = feats @ encoders.embed_texts([f"This is a photo of {lab}." for lab in LABELS]).T
    for row, t in zip(cos, tags, strict=True):
        assert [k["label"] for k in t] == [LABELS[int(np.argmax(row))]]


def test_bad_arguments(encoders: Any) -> None:
    with pytest.raises(ValueError, match="at least one label"):
        KeywordTagger(encoders, [])
    with pytest.raises(ValueError, match="top"):
        KeywordTagger(encoders, LABELS, top=0)


def test_label_embeddings_are_cached_in_memory_and_on_disk(
    encoders: Any, text_calls: list[int], _isolated_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = KeywordTagger(encoders, LABELS).embeddings
    assert text_calls == [len(LABELS)]
    files = list(_isolated_cache.glob("labels-*.npy"))
    assert len(files) == 1
    np.testing.assert_array_equal(np.load(files[0], allow_pickle=False), first)

    second = KeywordTagger(encoders, list(LABELS)).embeddings  # same labels: memory cache
    assert text_calls == [len(LABELS)]
    np.testing.assert_array_equal(second, first)

    monkeypatch.setattr(keywords, "_MEMORY_CACHE", {})  # a fresh process: disk cache
    third = KeywordTagger(encoders, LABELS).embeddings
    assert text_calls == [len(LABELS)]
    np.testing.assert_array_equal(third, first)

    other = KeywordTagger(encoders, [*LABELS, "a dog"]).embeddings  # another vocabulary
    assert other.shape[0] == len(LABELS) + 1
    assert text_calls == [len(LABELS), len(LABELS) + 1]
    assert len(list(_isolated_cache.glob("labels-*.npy"))) == 2


@pytest.mark.parametrize("damage", ["garbage", "wrong_rows", "nan"])
def test_a_damaged_disk_cache_is_recomputed(
    encoders: Any,
    text_calls: list[int],
    _isolated_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    damage: str,
) -> None:
    good = KeywordTagger(encoders, LABELS).embeddings.copy()
    (path,) = _isolated_cache.glob("labels-*.npy")
    if damage == "garbage":
        path.write_bytes(b"\x93NUMPY garbage")
    elif damage == "wrong_rows":
        np.save(path, good[:2])
    else:
        bad = good.copy()
        bad[0, 0] = np.nan
        np.save(path, bad)
    monkeypatch.setattr(keywords, "_MEMORY_CACHE", {})
    again = KeywordTagger(encoders, LABELS).embeddings
    assert len(text_calls) == 2
    np.testing.assert_allclose(again, good, atol=1e-6)
    np.testing.assert_allclose(np.load(path, allow_pickle=False), good, atol=1e-6)  # repaired


def test_unwritable_cache_folder_only_costs_recomputation(
    encoders: Any, text_calls: list[int], tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    tagger = KeywordTagger(encoders, LABELS, cache_dir=blocker / "cache")
    assert tagger.embeddings.shape == (len(LABELS), encoders.feature_dim)
    assert text_calls == [len(LABELS)]
