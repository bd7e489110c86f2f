"""The one L2 row normaliser of the package (encoders, library, file format, similarity).

Every matrix the package compares holds unit rows, so cosine is a plain dot product. Rows are
scaled in float32; a row whose float32 squares overflow (huge but finite values) is measured in
float64 instead, so it still normalises. All-zero rows stay zero (never NaN): they mean "no
vector" (e.g. an image without visual features) and score 0 against everything.
"""

from __future__ import annotations

from typing import Any, Literal, overload

import numpy as np

__all__ = ["NonFiniteRowError", "ZeroRowError", "l2_normalise", "row_norms"]


class NonFiniteRowError(ValueError):
    """A row holds NaN or Inf; ``row`` is the first such row."""

    def __init__(self, message: str, row: int) -> None:
        super().__init__(message)
        self.row = row


class ZeroRowError(ValueError):
    """A row is all zeros where a vector is required; ``row`` is the first such row."""

    def __init__(self, message: str, row: int) -> None:
        super().__init__(message)
        self.row = row


def row_norms(X: np.ndarray) -> np.ndarray:
    """(N,) Euclidean norms of a 2-D float array; NaN where a row is not finite.

    One fused pass (einsum of float32 squares); only rows whose squares overflow are redone in
    float64 (then the result is float64), so a finite row never reports an infinite norm.
    """
    squares: np.ndarray = np.einsum("ij,ij->i", X, X)
    suspect = ~np.isfinite(squares)
    if not suspect.any():
        norms: np.ndarray = np.sqrt(squares)
        return norms
    big = X[suspect].astype(np.float64)
    redo = np.sqrt(np.einsum("ij,ij->i", big, big))
    redo[~np.isfinite(big).all(axis=1)] = np.nan
    norms = np.sqrt(squares.astype(np.float64))
    norms[suspect] = redo
    return norms


@overload
def l2_normalise(
    X: Any,
    *,
    copy: bool = ...,
    tolerance: float = ...,
    allow_zero: bool = ...,
    check_finite: bool = ...,
    what: str = ...,
    return_mask: Literal[False] = ...,
) -> np.ndarray: ...


@overload
def l2_normalise(
    X: Any,
    *,
    copy: bool = ...,
    tolerance: float = ...,
    allow_zero: bool = ...,
    check_finite: bool = ...,
    what: str = ...,
    return_mask: Literal[True],
) -> tuple[np.ndarray, np.ndarray]: ...


def l2_normalise(
    X: Any,
    *,
    copy: bool = True,
    tolerance: float = 0.0,
    allow_zero: bool = True,
    check_finite: bool = True,
    what: str = "vectors",
    return_mask: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Rows of X scaled to unit length, as float32 (a 1-D X is one row and stays 1-D).

    copy: False scales X in place when it already is a writable C-contiguous float32 array.
    tolerance: rows whose norm is within it of 1 are left bit-exact (stable round trips).
    allow_zero: False raises ZeroRowError (a ValueError) naming the first all-zero row.
    check_finite: True raises NonFiniteRowError (a ValueError) naming the first NaN/Inf row;
        False leaves such rows as they are (faster when the caller already checked).
    what: how messages name X (e.g. "features").
    return_mask: also return the (N,) bool mask of non-zero rows.
    """
    arr = np.asarray(X)
    one = arr.ndim == 1
    if copy or arr.dtype != np.float32 or not arr.flags.c_contiguous or not arr.flags.writeable:
        A = np.array(arr, dtype=np.float32, copy=True, order="C", ndmin=2)
    else:
        A = arr.reshape(1, -1) if one else arr
    if A.ndim != 2:
        msg = f"{what} must be a 2-D array (N, D), got shape {arr.shape}"
        raise ValueError(msg)
    if A.shape[0] and A.shape[1] == 0:
        msg = f"{what} has rows of length 0"
        raise ValueError(msg)
    norms = row_norms(A) if A.size else np.zeros(A.shape[0], np.float32)
    finite = np.isfinite(norms)
    if not finite.all():
        if check_finite:
            row = int(np.flatnonzero(~finite)[0])
            msg = f"{what} row {row} contains NaN or Inf"
            raise NonFiniteRowError(msg, row)
        norms = np.where(finite, norms, 1.0)
    nonzero = norms > 0
    if not allow_zero and not nonzero.all():
        row = int(np.flatnonzero(~nonzero)[0])
        msg = f"{what} row {row} is all zeros (cannot be normalised)"
        raise ZeroRowError(msg, row)
    off = nonzero & (np.abs(norms - 1.0) > tolerance)
    if off.all():
        A /= norms[:, None]
    elif off.any():
        A[off] /= norms[off, None]
    out = A[0] if one else A
    return (out, nonzero) if return_mask else out
