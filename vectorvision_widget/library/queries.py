"""Queries over a Library: text search, similar images (to a row, to an image from anywhere, to
a set of rows and away from another), colour search, duplicates, hybrid neighbour tables.
`Library` methods delegate here; the storage stays in `store` and `rows`.

Queries run near the floor of one matmul + top-k: a library's matrices are unit rows and
finite by construction (checked once, on load/upsert), so no query re-normalises or re-scans
the whole matrix. Derived data (palette Lab values, neighbour tables, hybrid candidates) is
cached per library `rows_version` (in the library's `QueryCache`, passed in) and rebuilt after any
change but a tag edit.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import numpy as np

import vectorvision_widget.images.colors as colors
from vectorvision_widget.library.fields import normalize_colour
from vectorvision_widget.library.provenance import (
    ModelMismatchError,
    VisualFeaturesMissingWarning,
    same_model,
)
from vectorvision_widget.neighbours.join import EXACT_MAX_N, neighbour_table
from vectorvision_widget.neighbours.spaces import SIDES, SPACES, HybridNeighbours, weight_value
from vectorvision_widget.neighbours.topk import _select_rows, top_k

if TYPE_CHECKING:  # store imports this module; models sit beside library, not below it
    from vectorvision_widget.library.store import Library
    from vectorvision_widget.models.encoders import Encoders

T = TypeVar("T")

__all__ = [
    "QueryCache",
    "by_colour",
    "clustering_features",
    "duplicates",
    "hybrid_neighbours",
    "search",
    "similar",
    "similar_to_image",
    "similar_to_rows",
    "space_table",
]


class QueryCache:
    """Derived data of one library, valid for one `version`; thread-safe, built once per key.

    A slow build (hybrid candidates at 100k: minutes) holds only its own key's lock, so other
    queries keep answering meanwhile.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version = -1
        self._items: dict[Hashable, object] = {}
        self._key_locks: dict[Hashable, threading.Lock] = {}

    def get(self, version: int, key: Hashable, make: Callable[[], T]) -> T:
        """The value of `key` for this library version, built by `make` the first time. A key
        always holds what its own `make` builds (callers spell a key in one place only)."""
        with self._lock:
            if version != self._version:
                self._items.clear()
                self._key_locks.clear()
                self._version = version
            if key in self._items:
                return cast(T, self._items[key])
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if self._version == version and key in self._items:
                    return cast(T, self._items[key])
            value = make()
            with self._lock:
                if self._version == version:
                    self._items[key] = value
            return value


def _pairs(idx: np.ndarray, scores: np.ndarray) -> list[tuple[int, float]]:
    return list(zip(idx.tolist(), scores.astype(np.float64).tolist(), strict=True))


def _has_all_visual(lib: Library) -> bool:
    return bool(len(lib) and lib.visual_dim and lib.missing_visual_count == 0)


def visual_or_features(lib: Library, purpose: str) -> np.ndarray:
    """Visual vectors when every image has one, else `features` with a warning."""
    n = len(lib)
    if _has_all_visual(lib):
        return lib.visual_features
    if n:
        msg = f"using features for {purpose}: {lib.missing_visual_count} images need a rescan"
        warnings.warn(VisualFeaturesMissingWarning(msg), stacklevel=4)
    return lib.features


def clustering_features(lib: Library) -> np.ndarray:
    return visual_or_features(lib, "clustering")


def search(
    lib: Library, text: str | np.ndarray, encoders: Encoders | None, k: int
) -> list[tuple[int, float]]:
    if isinstance(text, str):
        if encoders is None:
            msg = "search needs encoders=vv.Encoders.load() to embed the text"
            raise ValueError(msg)
        _check_models(lib, encoders, ("features",))
        query = np.asarray(encoders.embed_texts([text]), dtype=np.float32)[0]
    else:
        query = np.asarray(text, dtype=np.float32).reshape(-1)
    k = _k(k)
    if not len(lib):
        return []
    dim = lib.feature_dim or 0
    if query.size != dim:
        msg = (
            f"the query has {query.size} dims but the library's features have {dim}: "
            "the encoders do not match this library; rescan it"
        )
        raise ModelMismatchError(msg)
    if not np.isfinite(query).all():
        msg = "the query vector contains NaN or Inf"
        raise ValueError(msg)
    idx, scores = top_k(lib.features, query, min(k, len(lib)), check=False)
    return _pairs(idx, scores)


def _check_models(lib: Library, encoders: Encoders, keys: tuple[str, ...]) -> None:
    """ModelMismatchError unless `encoders` made the library's `keys` vectors."""
    provenance = encoders.provenance()
    for key in keys:
        stored = lib.models.get(key)
        theirs = provenance.get(key, {})
        if stored and not same_model(stored, theirs):
            msg = (
                f"this library's {key} come from {stored.get('name')} but the encoders "
                f"use {theirs.get('name')}: load the matching models or rescan"
            )
            raise ModelMismatchError(msg)


def _k(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        msg = f"k must be a whole number >= 0, got {k!r}"
        raise ValueError(msg)
    return int(k)


def similar(
    lib: Library, row: object, k: int, space: str, weight: float
) -> list[tuple[int, float]]:
    if space not in SPACES:
        msg = f"space must be one of {SPACES}, got {space!r}"
        raise ValueError(msg)
    n = len(lib)
    if isinstance(row, bool) or not isinstance(row, (int, np.integer)) or not 0 <= row < n:
        msg = f"row {row!r} is out of range for a library of {n} images"
        raise IndexError(msg)
    row = int(row)
    w = weight_value(weight) if space == "hybrid" else 0.5
    k = min(_k(k), n - 1)
    if k <= 0:
        return []
    sem = lib.features
    if space == "semantic":
        return _pairs(*top_k(sem, sem[row], k, exclude=row, check=False))
    vis = visual_or_features(lib, "similarity")
    if space == "visual":
        return _pairs(*top_k(vis, vis[row], k, exclude=row, check=False))
    # hybrid, and fused = (visual_cos + semantic_cos) / 2 (hybrid at 0.5: the visual rows used
    # here are never all-zero, so the concatenation's norm is √2 for every row)
    scores = vis @ vis[row]
    scores *= np.float32(w)
    scores += np.float32(1.0 - w) * (sem @ sem[row])
    scores[row] = -np.inf
    idx, vals = _select_rows(scores[None, :], k)
    return _pairs(idx[0], vals[0])


def by_colour(
    lib: Library, cache: QueryCache, rgb: Any, k: int, rank_weight: float
) -> list[tuple[int, float]]:
    target = normalize_colour(rgb)
    if target is None:
        msg = f"cannot read a colour from {rgb!r}: give [r, g, b] 0..255 or '#rrggbb'"
        raise ValueError(msg)
    rank_weight = float(rank_weight)
    if not np.isfinite(rank_weight):
        msg = f"rank_weight must be a finite number, got {rank_weight!r}"
        raise ValueError(msg)
    k = _k(k)

    def palettes_lab() -> np.ndarray:
        pals = [r.get("palette") or ([r["color"]] if r.get("color") else []) for r in lib.records]
        return colors.palettes_to_lab(pals)

    lab = cache.get(lib.rows_version, "palette_lab", palettes_lab)
    rows, score = _colour_candidates(lab, target, k, rank_weight)
    if not rows.size:
        return []
    top = np.lexsort((rows, score))[:k]
    return [(int(rows[i]), float(score[i])) for i in top]


def _colour_candidates(
    lab: np.ndarray, target: list[int], k: int, rank_weight: float
) -> tuple[np.ndarray, np.ndarray]:
    """Rows that can be in the top k, with their exact scores; CIEDE2000 only where needed.

    CIEDE2000 ≥ |ΔL| / S_L (its other terms add a non-negative amount: |R_T| ≤ 2), and S_L
    depends on the two lightnesses only, so a cheap lower bound per palette rules out most
    rows: exact scores for the rows closest in plain Lab distance give a k-th best score t,
    and only rows whose bound is ≤ t can still beat it. The result equals scoring every row.
    """
    n, p = lab.shape[0], lab.shape[1]
    if n == 0 or k == 0:
        return np.empty(0, np.int64), np.empty(0)
    tlab = colors.rgb_to_lab(np.asarray(target, dtype=np.float64))
    lt = float(tlab[0])
    light = lab[..., 0]
    d = (light + lt) / 2.0 - 50.0
    d *= d
    sl = 1.0 + 0.015 * d / np.sqrt(20.0 + d)
    ranks = rank_weight * np.arange(p)
    bound = np.fmin.reduce(np.abs(light - lt) / sl + ranks, axis=1)  # NaN padding ignored
    valid = np.flatnonzero(~np.isnan(bound))
    if not valid.size:
        return np.empty(0, np.int64), np.empty(0)
    m = min(valid.size, max(4 * k, 256))
    if m < valid.size:  # first guess: the rows closest in plain Lab distance (CIE76)
        diff = lab[valid] - tlab
        proxy = np.fmin.reduce(np.sqrt(np.einsum("npc,npc->np", diff, diff)) + ranks, axis=1)
        first = valid[np.argpartition(proxy, m - 1)[:m]]
    else:
        first = valid
    exact = colors.palette_distance(target, lab[first], rank_weight=rank_weight)
    kk = min(k, first.size)
    t = np.partition(exact, kk - 1)[kk - 1]
    if np.isfinite(t):
        more = valid[bound[valid] <= t + 1e-9]
        more = np.setdiff1d(more, first, assume_unique=True)
    else:
        more = np.setdiff1d(valid, first, assume_unique=True)
    if more.size:
        first = np.concatenate([first, more])
        exact = np.concatenate(
            [exact, colors.palette_distance(target, lab[more], rank_weight=rank_weight)]
        )
    keep = np.isfinite(exact)
    return first[keep], exact[keep]


def duplicates(lib: Library, **kwargs: Any) -> dict[str, list[list[int]]]:
    from vectorvision_widget.neighbours.duplicates import duplicates as find

    sha = [r.get("sha256") for r in lib.records]
    return find(sha, visual_or_features(lib, "duplicates"), lib.features, **kwargs)


class _GrowingTable:
    """One space's neighbour table, kept at the largest k asked so far: a smaller k is a slice
    (rows are sorted best first, ties by lower row, so the first k of a top-K table is the
    top-k table), a larger one is computed once and replaces it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.idx = np.zeros((0, 0), np.int32)
        self.scores = np.zeros((0, 0), np.float32)

    def at_least(
        self, k: int, make: Callable[[int], tuple[np.ndarray, np.ndarray]]
    ) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            if self.idx.shape[1] < k:
                idx, scores = make(k)
                idx.setflags(write=False)  # shared by every caller of this library version
                scores.setflags(write=False)
                self.idx, self.scores = idx, scores
            return self.idx, self.scores


def _space_matrix(lib: Library, space: str) -> tuple[str, np.ndarray]:
    """(the space whose vectors are used, the matrix): visual falls back to features."""
    if space == "semantic":
        return "semantic", lib.features
    if space != "visual":
        msg = f"neighbour tables exist for the visual and semantic spaces, got {space!r}"
        raise ValueError(msg)
    if _has_all_visual(lib):
        return "visual", lib.visual_features
    return "semantic", visual_or_features(lib, "neighbour tables")  # features, with the warning


def _cached_table(
    lib: Library,
    cache: QueryCache,
    k: int,
    space: str,
    exact: bool | None,
    progress: Callable[[int, int], object] | None = None,
    *,
    deepen: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """The cached (read-only) table of `space` with at least k columns; `deepen`: compute an
    approximate one as deep as the hybrid candidates for k (the hybrid can then reuse it)."""
    used, X = _space_matrix(lib, space)
    n = len(lib)
    if not 1 <= k <= n - 1:
        msg = f"neighbour table: k must be in [1, N-1] = [1, {n - 1}], got {k}"
        raise ValueError(msg)
    # None above EXACT_MAX_N: the join chooses (probed cells, or exact where probing costs as much)
    resolved = True if exact is None and n <= EXACT_MAX_N else exact
    holder = cache.get(lib.rows_version, ("table", used, resolved), _GrowingTable)

    def make(kk: int) -> tuple[np.ndarray, np.ndarray]:
        if deepen and not resolved:  # a probed join costs ~the same for the hybrid's 4k
            kk = HybridNeighbours.candidate_count(n, kk)
        return neighbour_table(X, kk, exact=resolved, normalize=False, progress=progress)

    return holder.at_least(k, make)


def space_table(
    lib: Library,
    cache: QueryCache,
    k: int,
    space: str,
    exact: bool | None,
    progress: Callable[[int, int], object] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(N, k) int32 neighbours and float32 cosines of every image in `space`, computed once per
    library version: a later call for a smaller k (the widget's Shift+Hover table after the
    hybrid candidates, say) is a slice of the cached table, not a new all-pairs pass."""
    k = _k(k)
    idx, scores = _cached_table(lib, cache, k, space, exact, progress, deepen=True)
    return np.array(idx[:, :k]), np.array(scores[:, :k])  # callers own their copy


def hybrid_neighbours(
    lib: Library, cache: QueryCache, k: int, candidates: int | None, exact: bool | None
) -> HybridNeighbours:
    """The library's HybridNeighbours for k, built once per library version, from the cached
    per-space tables (so the visual and semantic Shift+Hover tables reuse its candidates, and
    it reuses theirs when they are at least as deep)."""

    def make() -> HybridNeighbours:
        vis = visual_or_features(lib, "hybrid neighbours")
        n_cand = HybridNeighbours.candidate_count(len(lib), k, candidates)
        vis_table, sem_table = (_cached_table(lib, cache, n_cand, side, exact)[0] for side in SIDES)
        return HybridNeighbours(
            vis,
            lib.features,
            k,
            candidates,
            exact=exact,
            normalize=False,
            tables=(vis_table, sem_table),
        )

    return cache.get(lib.rows_version, ("hybrid", k, candidates, exact), make)


def _space(space: object, weight: float) -> float:
    """Checks `space`; the visual weight of the scores (1 visual, 0 semantic)."""
    if space not in SPACES:
        msg = f"space must be one of {SPACES}, got {space!r}"
        raise ValueError(msg)
    if space == "hybrid":
        return weight_value(weight)
    return {"visual": 1.0, "semantic": 0.0}.get(str(space), 0.5)


def _scores(
    lib: Library, w: float, semantic: np.ndarray, visual: np.ndarray, vis: np.ndarray
) -> np.ndarray:
    """w × (vis @ visual) + (1 - w) × (features @ semantic) for every row (float32)."""
    scores = np.zeros(len(lib), np.float32)
    if w > 0:
        scores += np.float32(w) * (vis @ visual)
    if w < 1:
        scores += np.float32(1.0 - w) * (lib.features @ semantic)
    return scores


def _best(scores: np.ndarray, k: int, exclude: list[int]) -> list[tuple[int, float]]:
    if exclude:
        scores[np.asarray(exclude, np.int64)] = -np.inf
    k = min(k, scores.size - len(exclude))
    if k <= 0:
        return []
    idx, vals = _select_rows(scores[None, :], k)
    return _pairs(idx[0], vals[0])


def array_image(arr: np.ndarray) -> Any:
    """A PIL image of an (H, W), (H, W, 3) or (H, W, 4) array: uint8 0..255, or floats 0..1."""
    from PIL import Image

    a = np.asarray(arr)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)) or 0 in a.shape[:2]:
        msg = f"an image array must be (H, W), (H, W, 3) or (H, W, 4), got shape {a.shape}"
        raise ValueError(msg)
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    elif np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
            msg = "a float image array must hold finite values in [0, 1]"
            raise ValueError(msg)
        a = np.rint(a * 255.0).astype(np.uint8)
    elif np.issubdtype(a.dtype, np.integer):
        if a.min() < 0 or a.max() > 255:
            msg = "an integer image array must hold values in 0..255"
            raise ValueError(msg)
        a = a.astype(np.uint8)
    else:
        msg = f"cannot make an image of a {a.dtype} array"
        raise ValueError(msg)
    return Image.fromarray(np.ascontiguousarray(a))


def similar_to_image(
    lib: Library, image: object, encoders: Encoders | None, k: int, space: str, weight: float
) -> list[tuple[int, float]]:
    import os

    from PIL import Image

    w = _space(space, weight)
    k = _k(k)
    if encoders is None:
        msg = "similar_to_image needs encoders=vv.Encoders.load() to embed the image"
        raise ValueError(msg)
    if isinstance(image, np.ndarray):
        image = array_image(image)
    elif isinstance(image, (bytes, bytearray, memoryview)):
        image = encoders.load_image(bytes(image))
    if not isinstance(image, (Image.Image, str, os.PathLike)):
        msg = f"image must be a path, a PIL image, an array or bytes, got {type(image).__name__}"
        raise TypeError(msg)
    _check_models(lib, encoders, ("features", "visualFeatures"))
    if not len(lib):
        return []
    feats, visual = encoders.embed_images([image])
    semantic, query = feats[0], visual[0]
    vis = visual_or_features(lib, "similarity") if w > 0 else lib.visual_features
    if vis is lib.features:  # the visual part falls back to features: so does its query
        query = semantic
    if semantic.size != lib.feature_dim or (w > 0 and query.size != vis.shape[1]):
        msg = "the encoders' vector sizes do not match this library's: rescan it"
        raise ModelMismatchError(msg)
    return _best(_scores(lib, w, semantic, query, vis), k, [])


def _centroid(X: np.ndarray, rows: list[int]) -> np.ndarray:
    c: np.ndarray = X[np.asarray(rows, np.int64)].mean(axis=0, dtype=np.float32)
    norm = float(np.linalg.norm(c))
    return c / np.float32(norm) if norm > 0 else c


def _query(X: np.ndarray, rows: list[int], negative: list[int], alpha: float) -> np.ndarray:
    """unit(centroid(rows) − alpha × centroid(negative)), both centroids unit length first."""
    q = _centroid(X, rows)
    if negative:
        q = q - np.float32(alpha) * _centroid(X, negative)
    norm = float(np.linalg.norm(q))
    return (q / norm if norm > 0 else q).astype(np.float32)


def similar_to_rows(
    lib: Library,
    rows: list[int],
    negative: list[int],
    k: int,
    space: str,
    weight: float,
    alpha: float,
) -> list[tuple[int, float]]:
    w = _space(space, weight)
    k = _k(k)
    if not rows:
        msg = "similar_to_rows needs at least one row"
        raise ValueError(msg)
    alpha = float(alpha)
    if not (math.isfinite(alpha) and alpha >= 0):
        msg = f"alpha must be a finite number >= 0, got {alpha!r}"
        raise ValueError(msg)
    exclude = list(dict.fromkeys([*rows, *negative]))
    semantic = _query(lib.features, rows, negative, alpha)
    vis = visual_or_features(lib, "similarity") if w > 0 else lib.visual_features
    query = semantic if vis is lib.features or w == 0 else _query(vis, rows, negative, alpha)
    return _best(_scores(lib, w, semantic, query, vis), k, exclude)
