"""Similarity: the public facade over the top-k kernels, the spaces and the duplicate finder.

Where things live: ``topk.py`` (exact top-k, neighbour tables, the switch to ``ann.py`` above
``EXACT_MAX_N``), ``spaces.py`` (visual / semantic / hybrid / fused, ``HybridNeighbours``) and
``dedupe.py`` (duplicate groups). Import the names from here; they stay put when modules move.
"""

from __future__ import annotations

import numpy as np

from .dedupe import NEAR_DUPLICATE_COSINE, SIMILAR_COSINE, _components, _pairs_above, duplicates
from .spaces import (
    SPACES,
    VISUAL_SPACES,
    HybridNeighbours,
    Space,
    fused_vectors,
    hybrid_scores,
    similar,
    weight_value,
)
from .topk import EXACT_MAX_N, _select, _select_rows, exact_neighbour_table, neighbour_table, top_k
from .vectors import l2_normalise

__all__ = [
    "EXACT_MAX_N",
    "NEAR_DUPLICATE_COSINE",
    "SIMILAR_COSINE",
    "SPACES",
    "VISUAL_SPACES",
    "HybridNeighbours",
    "Space",
    "duplicates",
    "exact_neighbour_table",
    "fused_vectors",
    "hybrid_scores",
    "l2_normalise",
    "neighbour_table",
    "normalize_rows",
    "similar",
    "top_k",
    "weight_value",
]

_PRIVATE = (_components, _pairs_above, _select, _select_rows)  # re-exported for tests/benchmarks


def normalize_rows(X: np.ndarray) -> np.ndarray:
    """Float32 copy of X with unit-length rows; all-zero rows stay zero (no NaNs).

    Kept for compatibility: an alias of ``vectors.l2_normalise`` without the finiteness check.
    """
    return l2_normalise(X, what="normalize_rows: X", check_finite=False)
