"""Neighbours: top-k kernels, the all-rows neighbour table, similarity spaces, duplicates.

The public facade: import the names from here (`neighbour_table`, `top_k`, `similar`,
`HybridNeighbours`, `duplicates`, ...). Where things live: `topk` (exact top-k kernels and the
exact all-rows table), `join` (the neighbour table: a blocked self-join over k-means cells with a
recall target, exact below `EXACT_MAX_N`), `spaces` (visual / semantic / hybrid / fused,
`HybridNeighbours`), `incremental` (a table brought up to date after a rescan changed a few
rows, without a full recompute) and `duplicates`.

May import: `vectors`, `modes` and numpy: takes plain arrays, knows nothing of libraries.
"""

from __future__ import annotations

import numpy as np

from vectorvision_widget.neighbours.duplicates import (
    NEAR_DUPLICATE_COSINE,
    SIMILAR_COSINE,
    _components,
    _pairs_above,
    duplicates,
)
from vectorvision_widget.neighbours.join import EXACT_MAX_N, NeighbourTable, neighbour_table
from vectorvision_widget.neighbours.spaces import (
    SPACES,
    VISUAL_SPACES,
    HybridNeighbours,
    Space,
    fused_vectors,
    hybrid_scores,
    similar,
    weight_value,
)
from vectorvision_widget.neighbours.topk import (
    _select,
    _select_rows,
    exact_neighbour_table,
    top_k,
)
from vectorvision_widget.vectors import l2_normalise

__all__ = [
    "EXACT_MAX_N",
    "NEAR_DUPLICATE_COSINE",
    "SIMILAR_COSINE",
    "SPACES",
    "VISUAL_SPACES",
    "HybridNeighbours",
    "NeighbourTable",
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
