"""Library API: construction, alignment under mutation, search/similar/by_colour, fallbacks."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

from vectorvision_widget.images.colors import delta_e, rgb_to_lab
from vectorvision_widget.library.store import (
    Library,
    ModelMismatchError,
    VisualFeaturesMissingWarning,
)


def unit(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return a / np.linalg.norm(a, axis=-1, keepdims=True)


def random_library(n: int = 40, df: int = 12, dv: int = 9, seed: int = 0) -> Library:
    rng = np.random.default_rng(seed)
    return Library.from_arrays(
        [f"/img/{i}.jpg" for i in range(n)], rng.normal(size=(n, df)), rng.normal(size=(n, dv))
    )


def brute_top(matrix: np.ndarray, q: np.ndarray, k: int, exclude: int | None = None) -> list[int]:
    scores = unit(matrix) @ unit(q)
    if exclude is not None:
        scores[exclude] = -np.inf
    return [int(i) for i in np.argsort(-scores, kind="stable")[:k]]


# ---------------------------------------------------------------- from_arrays


def test_from_arrays_normalises_and_marks_missing_visual() -> None:
    feats = np.array([[3.0, 4.0], [0.0, 2.0]])
    vis = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    lib = Library.from_arrays(["a", "b"], feats, vis)
    assert lib.features.dtype == np.float32 and lib.visual_features.dtype == np.float32
    np.testing.assert_allclose(lib.features, unit(feats), rtol=1e-6)
    np.testing.assert_allclose(lib.visual_features[0], unit(vis[0]), rtol=1e-6)
    assert lib.has_visual.tolist() == [True, False]
    assert lib.missing_visual_count == 1
    assert lib.records[1] == {"path": "b", "keywords": [], "color": None, "palette": []}
    assert not lib.features.flags.writeable  # views cannot break the unit-row invariant


def test_from_arrays_without_visual() -> None:
    lib = Library.from_arrays(["a"], [[1.0, 0.0]])
    assert lib.visual_features.shape == (1, 0)
    assert lib.has_visual.tolist() == [False]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"paths": ["a", "b"], "features": np.ones((3, 4))}, "3 rows but 2 paths"),
        ({"paths": ["a"], "features": np.ones(4)}, "2-D"),
        ({"paths": ["a", "b"], "features": [[1.0, np.nan], [1, 1]]}, "row 0 contains NaN"),
        ({"paths": ["a", "b"], "features": [[1.0, 1.0], [0, 0]]}, "row 1 is all zeros"),
        ({"paths": ["a", "a"], "features": np.ones((2, 4))}, "duplicate path 'a'"),
        ({"paths": ["a", ""], "features": np.ones((2, 4))}, "non-empty"),
        (
            {"paths": ["a", "b"], "features": np.ones((2, 4)), "visual_features": np.ones((3, 2))},
            "visual_features has 3 rows",
        ),
        (
            {"paths": ["a"], "features": np.ones((1, 4)), "visual_features": [[np.inf, 1.0]]},
            "visual_features row 0",
        ),
        (
            {"paths": ["a"], "features": np.ones((1, 4)), "records": [{"path": "z"}]},
            "records\\[0\\]\\['path'\\] is 'z'",
        ),
        ({"paths": ["a"], "features": np.ones((1, 4)), "records": []}, "records has 0"),
    ],
)
def test_from_arrays_validation(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Library.from_arrays(**kwargs)


# ---------------------------------------------------------------- mutation keeps rows aligned


def test_upsert_and_remove_keep_rows_aligned_with_a_reference_model() -> None:
    rng = np.random.default_rng(7)
    lib = Library()
    ref: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}  # path -> vectors, insertion order
    version = lib.version
    for step in range(400):
        op = rng.random()
        if op < 0.65 or not ref:
            path = f"/p/{rng.integers(0, 120)}.jpg"
            f = rng.normal(size=6)
            v = rng.normal(size=4) if rng.random() < 0.8 else None
            row = lib.upsert({"path": path, "size": step}, f, v)
            ref[path] = (f, v)  # a known path is replaced in place: dict order is unchanged
            assert lib.paths[row] == path
        else:
            victims = list(rng.choice(list(ref), size=min(len(ref), 3), replace=False))
            assert lib.remove([*victims, "/not/there.jpg"]) == len(victims)
            for p in victims:
                del ref[p]
        assert lib.version > version
        version = lib.version
        if step % 25 == 0 or step == 399:
            paths = list(ref)
            assert lib.paths == paths
            assert [r["path"] for r in lib.records] == paths
            assert all(lib.row_of(p) == i for i, p in enumerate(paths))
            want_f = np.array([ref[p][0] for p in paths]).reshape(-1, 6)
            np.testing.assert_allclose(lib.features, unit(want_f), atol=1e-6)
            has = [ref[p][1] is not None for p in paths]
            assert lib.has_visual.tolist() == has
            for i, p in enumerate(paths):
                v = ref[p][1]
                want = np.zeros(4) if v is None else unit(v)
                np.testing.assert_allclose(lib.visual_features[i], want, atol=1e-6)
    assert len(lib) == len(ref)
    assert lib.remove("/never.jpg") == 0


def test_upsert_rejects_other_dimensions_and_bad_values() -> None:
    lib = Library()
    lib.upsert({"path": "a"}, np.ones(4), np.ones(3))
    with pytest.raises(ValueError, match="5 values but this library holds 4-d"):
        lib.upsert({"path": "b"}, np.ones(5))
    with pytest.raises(ValueError, match="2 values but this library holds 3-d"):
        lib.upsert({"path": "b"}, np.ones(4), np.ones(2))
    with pytest.raises(ValueError, match="NaN"):
        lib.upsert({"path": "b"}, [1.0, np.nan, 0, 0])
    with pytest.raises(ValueError, match="all zeros"):
        lib.upsert({"path": "b"}, np.zeros(4))
    with pytest.raises(ValueError, match="'path'"):
        lib.upsert({}, np.ones(4))
    assert lib.paths == ["a"]


def test_first_visual_vector_after_rows_without_one() -> None:
    lib = Library()
    lib.upsert({"path": "a"}, [1.0, 0.0])
    lib.upsert({"path": "b"}, [0.0, 1.0], [0.0, 3.0, 4.0])
    assert lib.has_visual.tolist() == [False, True]
    np.testing.assert_allclose(lib.visual_features, [[0, 0, 0], [0, 0.6, 0.8]], atol=1e-7)
    lib.upsert({"path": "a"}, [1.0, 0.0], [1.0, 0.0, 0.0])
    assert lib.missing_visual_count == 0
    lib.upsert({"path": "b"}, [0.0, 1.0])  # re-upsert without visual -> missing again
    assert lib.has_visual.tolist() == [True, False]
    np.testing.assert_allclose(lib.visual_features[1], 0.0)


# ---------------------------------------------------------------- provenance


PROV = {
    "features": {"name": "siglip", "sha256": "a" * 64, "dim": 12},
    "visualFeatures": {"name": "dinov2", "sha256": "b" * 64, "dim": 9},
}


def test_set_models_adopts_matches_and_refuses_mixing() -> None:
    lib = random_library()
    lib.set_models(PROV)
    assert lib.models == PROV
    lib.set_models(PROV)  # same files: fine
    other = {**PROV, "features": {"name": "siglip2", "sha256": "c" * 64, "dim": 12}}
    with pytest.raises(ModelMismatchError, match="never mixed") as info:
        lib.set_models(other)
    assert "siglip2" in str(info.value) and "force=True" in str(info.value)
    assert len(lib) == 40 and lib.models == PROV  # unchanged
    wrong_dim = {"features": {"name": "x", "sha256": "d" * 64, "dim": 768}}
    with pytest.raises(ModelMismatchError, match="768-d"):
        Library.from_arrays(["a"], np.ones((1, 12))).set_models(wrong_dim)


def test_set_models_replace() -> None:
    lib = random_library()
    lib.roots = ["/img"]
    lib.set_models(PROV)
    new_visual = {**PROV, "visualFeatures": {"name": "dinov3", "sha256": "e" * 64, "dim": 5}}
    lib.set_models(new_visual, replace=True)  # only the visual vectors go
    assert len(lib) == 40 and lib.missing_visual_count == 40
    lib.upsert({"path": "/img/0.jpg"}, np.ones(12), np.ones(5))
    assert lib.visual_features.shape == (40, 5)
    new_features = {**new_visual, "features": {"name": "f2", "sha256": "f" * 64, "dim": 7}}
    lib.set_models(new_features, replace=True)  # features go: the library empties, roots stay
    assert len(lib) == 0 and lib.roots == ["/img"] and lib.models == new_features
    lib.upsert({"path": "/img/0.jpg"}, np.ones(7), np.ones(5))
    assert len(lib) == 1


def test_empty_library_takes_any_models() -> None:
    lib = Library()
    lib.upsert({"path": "a"}, np.ones(4))
    lib.remove("a")
    lib.set_models(PROV)
    lib.upsert({"path": "b"}, np.ones(12), np.ones(9))
    assert lib.feature_dim == 12 and lib.visual_dim == 9


# ---------------------------------------------------------------- search / similar / colour


class FakeEncoders:
    """embed_texts -> a fixed random vector per text (what matters is the wiring)."""

    def __init__(self, dim: int, sha: str = "a" * 64) -> None:
        self.dim, self.sha = dim, sha

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        out = [np.random.default_rng(abs(hash(t)) % 2**32).normal(size=self.dim) for t in texts]
        return unit(np.array(out)).astype(np.float32)

    def provenance(self) -> dict[str, dict[str, Any]]:
        return {"features": {"name": "siglip", "sha256": self.sha, "dim": self.dim}}


def test_search_matches_brute_force() -> None:
    lib = random_library()
    enc = FakeEncoders(12)
    got = lib.search("a red car", encoders=enc, k=7)
    q = enc.embed_texts(["a red car"])[0]
    assert [r for r, _ in got] == brute_top(lib.features, q, 7)
    np.testing.assert_allclose(
        [s for _, s in got], unit(lib.features[[r for r, _ in got]]) @ q, atol=1e-5
    )
    assert len(lib.search("x", encoders=enc, k=1000)) == 40
    with pytest.raises(ValueError, match="encoders="):
        lib.search("x")
    lib.set_models(PROV)
    with pytest.raises(ModelMismatchError):
        lib.search("x", encoders=FakeEncoders(12, sha="9" * 64))
    with pytest.raises(ModelMismatchError, match="3 dims"):
        lib.search(np.ones(3))


@pytest.mark.parametrize("space", ["visual", "semantic"])
def test_similar_matches_brute_force(space: str) -> None:
    lib = random_library()
    matrix = lib.visual_features if space == "visual" else lib.features
    for row in (0, 17, 39):
        got = lib.similar(row, k=5, space=space)
        assert [r for r, _ in got] == brute_top(matrix, matrix[row], 5, exclude=row)
    with pytest.raises(ValueError, match="space must be"):
        lib.similar(0, space="colour")
    with pytest.raises(IndexError, match="out of range"):
        lib.similar(40)
    assert sorted(r for r, _ in lib.similar(0, k=1000, space=space)) == list(range(1, 40))


def test_missing_visual_falls_back_to_features_with_a_warning() -> None:
    lib = random_library()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # complete visual vectors: no warning
        assert np.array_equal(lib.clustering_features(), lib.visual_features)
    lib.upsert({"path": "/img/3.jpg"}, lib.features[3])  # loses its visual vector
    lib.upsert({"path": "/img/8.jpg"}, lib.features[8])
    with pytest.warns(
        VisualFeaturesMissingWarning, match="using features for clustering: 2 images need a rescan"
    ):
        X = lib.clustering_features()
    assert np.array_equal(X, lib.features)
    with pytest.warns(VisualFeaturesMissingWarning, match="2 images need a rescan"):
        got = lib.similar(5, k=4, space="visual")
    assert [r for r, _ in got] == brute_top(lib.features, lib.features[5], 4, exclude=5)
    assert "2 images have no visual features" in lib.describe()


def brute_by_colour(
    lib: Library, rgb: list[int], k: int, rank_weight: float
) -> list[tuple[int, float]]:
    target = rgb_to_lab(np.array(rgb))
    scores = []
    for row, rec in enumerate(lib.records):
        pal = rec["palette"] or ([rec["color"]] if rec["color"] else [])
        if not pal:
            continue
        s = min(
            float(delta_e(target, rgb_to_lab(np.array(c)))) + rank_weight * j
            for j, c in enumerate(pal)
        )
        scores.append((s, row))
    scores.sort()
    return [(row, s) for s, row in scores[:k]]


def test_by_colour_matches_brute_force() -> None:
    rng = np.random.default_rng(3)
    n = 60
    records = []
    for i in range(n):
        pal = rng.integers(0, 256, size=(int(rng.integers(0, 6)), 3)).tolist()
        records.append({"path": f"/c/{i}", "palette": pal, "color": pal[0] if pal else None})
    records[10].update(palette=[], color=[5, 5, 250])  # no palette but an average colour
    lib = Library.from_arrays(
        [r["path"] for r in records], rng.normal(size=(n, 4)), records=records
    )
    for rgb, rank_weight in (([250, 10, 10], 1.0), ([5, 5, 250], 0.0), ([128, 128, 128], 3.0)):
        got = lib.by_colour(rgb, k=8, rank_weight=rank_weight)
        want = brute_by_colour(lib, rgb, 8, rank_weight)
        assert [r for r, _ in got] == [r for r, _ in want]
        np.testing.assert_allclose([s for _, s in got], [s for _, s in want], atol=1e-9)
    assert lib.by_colour("#0505fa", k=1, rank_weight=0.0)[0] == (10, pytest.approx(0.0, abs=1e-9))
    empty_rows = sum(1 for r in lib.records if not r["palette"] and not r["color"])
    assert len(lib.by_colour([0, 0, 0], k=1000)) == n - empty_rows
    with pytest.raises(ValueError, match="cannot read a colour"):
        lib.by_colour("not a colour")


def test_describe_and_repr() -> None:
    lib = random_library(5)
    lib.set_models(PROV)
    lib.roots = ["/img"]
    text = lib.describe()
    assert "5 images" in text and "siglip" in text and "dinov2" in text and "/img" in text
    assert "need" not in text
    assert "5 images" in repr(lib)


def test_duplicates_groups_identical_files_and_warns_without_visual() -> None:
    rng = np.random.default_rng(5)
    records = [{"path": f"/d/{i}.jpg", "sha256": f"{i % 7:064x}"} for i in range(10)]
    lib = Library.from_arrays(
        [r["path"] for r in records], rng.normal(size=(10, 8)), rng.normal(size=(10, 6)), records
    )
    tiers = lib.duplicates()
    exact = sorted(sorted(int(r) for r in group) for group in tiers["exact"])
    assert exact == [[0, 7], [1, 8], [2, 9]]  # same file bytes, nothing else
    lib.upsert(records[4], lib.features[4])  # loses its visual vector
    with pytest.warns(VisualFeaturesMissingWarning, match="1 images need a rescan"):
        lib.duplicates()
