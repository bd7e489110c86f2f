"""Region labels for the map (semantic zoom): words that say what each region of the layout is.

The map is cut into square blocks of grid cells at a few levels (about 3 blocks across at level
0, each level halving the block side), nested so that level k's block is four of level k+1's.
Each block's label is its most *distinctive* keyword: the SigLIP keywords the scan already gave
the records, scored TF-IDF-like, ``tf × log((N + 1) / (df + 1))`` with ``tf`` the share of the
block's images holding the word and ``df`` the number of images in the library holding it, so a
word every image has ("photo") never labels anything. A finer block does not repeat its parent's
word. Each label also names a representative image, the block's *medoid* in the layout's vector
space: for unit vectors the image with the largest summed cosine to the others is the one with the
largest dot product with the block's vector sum, so the exact medoid costs one pass.

Pure numpy, no network, no model: 0.1-0.15 s for 100k images (docs/benchmarks.md). Rows are
visited in Morton (Z) order of their finest block, so the blocks of every level are runs of
consecutive finest blocks: keyword tallies, centres and vector sums are taken once per finest
block and summed up the levels, and the vectors are read one finest block at a time (no (N, D)
copy).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "LABEL_TEXT_MAX",
    "MAX_LABELS",
    "KeywordIndex",
    "check_labels",
    "keyword_index",
    "level_sides",
    "region_labels",
]

MIN_SIDE = 3  #: smallest block side (cells) of the finest level
MAX_LEVELS = 4
MIN_MEMBERS = 3  #: a block with fewer images gets no label
MIN_SHARE = 0.2  #: a label's word is held by at least this share of its block's images
LABEL_TEXT_MAX = 80
MAX_LABELS = 5000  #: most labels `w.labels` accepts (the browser places them every frame)


@dataclass(frozen=True)
class KeywordIndex:
    """Which images hold which keyword: (row, word id) pairs, built once per library version."""

    words: list[str]
    rows: np.ndarray  #: (E,) int64 row of each pair
    ids: np.ndarray  #: (E,) int64 word id of each pair
    df: np.ndarray  #: (V,) images holding each word
    n: int  #: images in the library


def _label_of(kw: object) -> str:
    if isinstance(kw, Mapping):
        value = kw.get("label", kw.get("className", ""))
        return value.strip() if isinstance(value, str) else ""
    return kw.strip() if isinstance(kw, str) else ""


def keyword_index(records: Sequence[Mapping[str, Any]]) -> KeywordIndex:
    """The keyword pairs of ``records`` (labels as the scan wrote them; any keyword form the
    library reads: ``{label, score}``, ``{className, probability}`` or plain strings)."""
    vocab: dict[str, int] = {}
    rows: list[int] = []
    ids: list[int] = []
    for row, rec in enumerate(records):
        seen: set[int] = set()
        for kw in rec.get("keywords") or ():
            label = _label_of(kw)
            if not label:
                continue
            wid = vocab.setdefault(label, len(vocab))
            if wid not in seen:
                seen.add(wid)
                rows.append(row)
                ids.append(wid)
    ids_arr = np.asarray(ids, np.int64)
    df = np.bincount(ids_arr, minlength=len(vocab)).astype(np.float64)
    return KeywordIndex(list(vocab), np.asarray(rows, np.int64), ids_arr, df, len(records))


def level_sides(grid: tuple[int, int]) -> list[int]:
    """Block side (cells) of each level, coarsest first: about 3 blocks across at level 0, each
    level half the side of the one before, down to :data:`MIN_SIDE`, at most :data:`MAX_LEVELS`."""
    span = max(1, int(grid[0]), int(grid[1]))
    levels = 1
    while levels < MAX_LEVELS and math.ceil(span / (3 * 2**levels)) >= MIN_SIDE:
        levels += 1
    finest = max(1, math.ceil(span / (3 * 2 ** (levels - 1))))
    return [finest * 2 ** (levels - 1 - k) for k in range(levels)]


def _morton(br: np.ndarray, bc: np.ndarray, bits: int) -> np.ndarray:
    """Interleave the bits of block row and column (row bit above column bit)."""
    code = np.zeros(br.shape, np.int64)
    for b in range(bits):
        code |= ((br >> b) & 1) << (2 * b + 1)
        code |= ((bc >> b) & 1) << (2 * b)
    return code


def region_labels(
    cells: np.ndarray,
    grid: tuple[int, int],
    vectors: np.ndarray | None,
    index: KeywordIndex,
    *,
    min_share: float = MIN_SHARE,
    min_members: int = MIN_MEMBERS,
) -> list[dict[str, Any]]:
    """Labels of the layout ``cells`` ((N, 2) int (row, col) per image) on a ``grid``.

    Each label: ``text`` (the word), ``keywords`` (up to three, best first), ``row`` (the
    representative: medoid of the block's ``vectors``, unit rows; without vectors the image
    nearest the block's centre), ``x``/``y`` (centre of the block's images, in grid cells:
    x along columns, y along rows), ``level`` (0 = overview), ``count`` (images in the block)
    and ``score`` (the word's TF-IDF, used to place the best labels first).
    """
    cells = np.asarray(cells).reshape(-1, 2).astype(np.int64)
    n = len(cells)
    if n == 0 or index.n != n or not len(index.words):
        return []
    sides = level_sides(grid)
    finest = sides[-1]
    levels = len(sides)
    br, bc = cells[:, 0] // finest, cells[:, 1] // finest
    code = _morton(br, bc, levels - 1 + int(max(br.max(), bc.max(), 1)).bit_length())
    order = np.argsort(code, kind="stable")
    blocks = _Blocks.of(code[order])
    # which finest block each row is in; the keyword tally of every finest block, once
    block_of_row = np.empty(n, np.int64)
    block_of_row[order] = np.repeat(np.arange(len(blocks.codes)), blocks.counts)
    nwords = len(index.words)
    idf = np.log((index.n + 1.0) / (index.df + 1.0))
    tally_f = np.bincount(
        block_of_row[index.rows] * nwords + index.ids, minlength=len(blocks.codes) * nwords
    ).reshape(len(blocks.codes), nwords)
    centre_f = np.add.reduceat(cells[order], blocks.starts, axis=0)
    dots = _medoid_dots(vectors, order, blocks, levels) if vectors is not None else None
    out: list[dict[str, Any]] = []
    parent_word = np.full(1, -1, np.int64)  # the word of each block of the level above
    parent_of = np.zeros(len(blocks.codes), np.int64)  # level-k block of each finest block
    for level in range(levels):
        group = blocks.group(2 * (levels - 1 - level))
        starts, counts = blocks.starts[group.first], np.add.reduceat(blocks.counts, group.first)
        tf = np.add.reduceat(tally_f, group.first, axis=0) / counts[:, None]
        score = tf * idf[None, :]
        score[tf < min_share] = 0.0
        parents = parent_word[parent_of[group.first]]  # a finer block does not repeat it
        has = np.flatnonzero(parents >= 0)
        score[has, parents[has]] = 0.0
        top3 = _top3(score)
        best = score[np.arange(len(score)), top3[:, 0]]
        centres = np.add.reduceat(centre_f, group.first, axis=0) / counts[:, None]
        words = np.where((best > 0) & (counts >= min_members), top3[:, 0], -1)
        for j in np.flatnonzero(words >= 0).tolist():
            a, b = int(starts[j]), int(starts[j] + counts[j])
            centre = centres[j]
            if dots is not None:  # the medoid: largest summed cosine to the block's images
                rep = int(order[a + int(np.argmax(dots[a:b, level]))])
            else:  # no vectors: the image nearest the centre of the block's cells
                members = order[a:b]
                rep = int(members[int(np.argmin(((cells[members] - centre) ** 2).sum(axis=1)))])
            top = [int(t) for t in top3[j] if score[j, t] > 0]
            out.append(
                {
                    "text": index.words[top[0]],
                    "keywords": [index.words[t] for t in top],
                    "row": rep,
                    "x": float(centre[1] + 0.5),
                    "y": float(centre[0] + 0.5),
                    "level": level,
                    "count": int(counts[j]),
                    "score": float(best[j]),
                }
            )
        parent_word, parent_of = words, group.index
    return out


def _top3(score: np.ndarray) -> np.ndarray:
    """Column indices of each row's three largest scores, best first."""
    if score.shape[1] > 3:
        part = np.argpartition(-score, 2, axis=1)[:, :3]
    else:
        part = np.tile(np.arange(score.shape[1]), (len(score), 1))
    best = np.argsort(-np.take_along_axis(score, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, best, axis=1)


@dataclass(frozen=True)
class _Group:
    """The blocks of one level as runs of finest blocks: ``first`` finest block of each run,
    ``index`` the run of every finest block."""

    first: np.ndarray
    index: np.ndarray


@dataclass(frozen=True)
class _Blocks:
    """The finest blocks as runs of the Morton-sorted rows (``codes`` ascending); a coarser
    level's block is a run of consecutive finest blocks, so every level comes from these."""

    codes: np.ndarray
    starts: np.ndarray
    counts: np.ndarray

    @classmethod
    def of(cls, code_sorted: np.ndarray) -> _Blocks:
        codes, starts, counts = np.unique(code_sorted, return_index=True, return_counts=True)
        return cls(codes, starts, counts)

    def group(self, shift: int) -> _Group:
        """The blocks whose codes agree above the lowest ``shift`` bits."""
        parent = self.codes >> shift
        new = np.r_[True, parent[1:] != parent[:-1]]
        return _Group(np.flatnonzero(new), np.cumsum(new) - 1)


def _medoid_dots(
    vectors: np.ndarray, order: np.ndarray, blocks: _Blocks, levels: int
) -> np.ndarray:
    """(N, levels) float32, in Morton order: each row's dot with the vector sum of its block
    at each level. Two passes over the finest blocks, each gathering one block's vectors into a
    buffer that stays in cache (no (N, D) copy): the first sums it (a float32 GEMV), the second
    dots it with the sums of the blocks holding it at every level (one small GEMM)."""
    xs = np.asarray(vectors, np.float32)
    runs = list(zip(blocks.starts.tolist(), (blocks.starts + blocks.counts).tolist(), strict=True))
    longest = int(blocks.counts.max())
    buf = np.empty((longest, xs.shape[1]), np.float32)
    ones = np.ones(longest, np.float32)
    finest = np.empty((len(runs), xs.shape[1]), np.float64)
    for j, (a, b) in enumerate(runs):  # mode="clip": no buffered copy (the rows are valid)
        finest[j] = ones[: b - a] @ np.take(xs, order[a:b], axis=0, out=buf[: b - a], mode="clip")
    ancestors = np.empty((len(runs), xs.shape[1], levels), np.float32)
    for level in range(levels):
        group = blocks.group(2 * (levels - 1 - level))
        ancestors[:, :, level] = np.add.reduceat(finest, group.first, axis=0)[group.index]
    dots = np.empty((len(order), levels), np.float32)
    for j, (a, b) in enumerate(runs):
        rows = np.take(xs, order[a:b], axis=0, out=buf[: b - a], mode="clip")
        np.matmul(rows, ancestors[j], out=dots[a:b])
    return dots


def check_labels(
    value: object, n: int, cell_of: Any = None
) -> list[dict[str, Any]]:  # cell_of: row -> (r, c)
    """Labels given from Python, validated: a list of dicts with a non-empty ``text`` (at most
    :data:`LABEL_TEXT_MAX` characters) and a ``row`` in 0..n-1; ``x``/``y`` finite numbers
    (grid cells; default: the centre of the row's cell, via ``cell_of``), ``level`` an int >= 0
    (default 0). Other keys are kept when they are JSON scalars or lists of strings."""
    if not isinstance(value, list | tuple):
        msg = f"labels must be a list of dicts, got {type(value).__name__}"
        raise ValueError(msg)
    if len(value) > MAX_LABELS:
        msg = f"labels: at most {MAX_LABELS} labels, got {len(value)}"
        raise ValueError(msg)
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, Mapping):
            msg = f"labels[{i}] must be a dict with text and row, got {type(item).__name__}"
            raise ValueError(msg)
        text = item.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > LABEL_TEXT_MAX:
            msg = f"labels[{i}]: text must be a non-empty string of at most {LABEL_TEXT_MAX} chars"
            raise ValueError(msg)
        row = item.get("row")
        if isinstance(row, bool) or not isinstance(row, int | np.integer) or not 0 <= row < n:
            msg = f"labels[{i}]: row must be an image row in 0..{n - 1}, got {row!r}"
            raise ValueError(msg)
        level = item.get("level", 0)
        if isinstance(level, bool) or not isinstance(level, int | np.integer) or level < 0:
            msg = f"labels[{i}]: level must be an int >= 0, got {level!r}"
            raise ValueError(msg)
        label: dict[str, Any] = {}
        for key, v in item.items():
            if key in ("text", "row", "x", "y", "level"):
                continue
            if not isinstance(key, str) or not _plain(v):
                msg = f"labels[{i}]: {key!r} must be a string, number, bool, None or list of str"
                raise ValueError(msg)
            label[key] = v
        label.update(text=text.strip(), row=int(row), level=int(level))
        for axis, default in (("x", 1), ("y", 0)):
            coord = item.get(axis)
            if coord is None:
                if cell_of is None:
                    msg = f"labels[{i}]: {axis} is missing (and the layout is not known yet)"
                    raise ValueError(msg)
                coord = float(cell_of(int(row))[default]) + 0.5
            if isinstance(coord, bool) or not isinstance(coord, int | float | np.number):
                msg = f"labels[{i}]: {axis} must be a number (grid cells), got {coord!r}"
                raise ValueError(msg)
            if not math.isfinite(float(coord)):
                msg = f"labels[{i}]: {axis} must be finite, got {coord!r}"
                raise ValueError(msg)
            label[axis] = float(coord)
        out.append(label)
    return out


def _plain(v: object) -> bool:
    if v is None or isinstance(v, str | bool | int):
        return True
    if isinstance(v, float):
        return math.isfinite(v)
    return isinstance(v, list) and all(isinstance(s, str) for s in v)
