"""The row store a `Library` owns: records plus row-aligned float32 matrices, and its changes.

Row i of the features matrix (SigLIP), the visual matrix (DINOv2) and `has_visual` all describe
`records[i]` / `paths[i]`; `row_of` finds a path's row. The matrices live in capacity-doubling
buffers, so the scan's one-image-at-a-time `upsert` is amortised O(1) and readers get
read-only views, never a re-stacked copy.

Every change is all-or-nothing: it first prepares everything it needs without touching the
store (buffers grown into new arrays, the compacted rows copied), then commits with plain
assignments, and `version` is bumped inside that commit; if anything interrupts the commit
(Ctrl-C, an error) the except-branch puts the previous state back. So records, paths, the path
index and the matrices always stay aligned, and an interrupted scan still saves a loadable
library. Checking and normalising the inputs is the caller's job (`Library.upsert`).

Changes move rows in place (a removal shifts the rows after it up and zeroes the tail), so
every change holds `lock`, and a reader that must see one consistent state of all rows (a save
streaming them to disk while a rescan removes and re-adds rows on another thread) holds it too.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from operator import itemgetter
from typing import Any

import numpy as np

__all__ = ["RowStore"]


def _read_only(arr: np.ndarray) -> np.ndarray:
    view: np.ndarray = arr.view()
    view.flags.writeable = False  # callers must not break the unit-row invariant
    return view


class RowStore:
    """Records, paths and the aligned matrices of a library, with a change counter."""

    def __init__(self) -> None:
        self._records: list[dict[str, Any]] = []
        self._paths: list[str] = []
        self._index: dict[str, int] = {}
        self._n = 0
        self._feat = np.zeros((0, 0), dtype=np.float32)  # capacity rows; [:n] are in use
        self._vis = np.zeros((0, 0), dtype=np.float32)
        self._has = np.zeros(0, dtype=bool)
        self._version = 0
        self.lock = threading.RLock()  #: held by every change, and by readers needing one state
        self._tag_edits = 0  # changes that touched tags only (see rows_version)

    @classmethod
    def from_rows(
        cls,
        records: list[dict[str, Any]],
        features: np.ndarray,
        visual: np.ndarray,
        has_visual: np.ndarray,
    ) -> RowStore:
        """A store holding these rows (taken over, not copied where already float32/C-order);
        clean records, unit rows: the file reader and `Library.from_arrays` checked them."""
        store = cls()
        n = len(records)
        store._records = records
        store._paths = [r["path"] for r in records]
        store._index = {p: i for i, p in enumerate(store._paths)}
        store._n = n
        feat = np.ascontiguousarray(features, dtype=np.float32)
        if feat.shape[0] != n:  # empty library
            feat = np.zeros((n, feat.shape[1] if feat.ndim == 2 else 0), np.float32)
        store._feat = feat
        vis = np.ascontiguousarray(visual, dtype=np.float32)
        store._vis = vis if vis.ndim == 2 and vis.shape[0] == n else np.zeros((n, 0), np.float32)
        store._has = np.asarray(has_visual, dtype=bool).copy()
        return store

    # ------------------------------------------------------------------ read access

    def __len__(self) -> int:
        return self._n

    @property
    def version(self) -> int:
        """Bumped by every change, so caches know when to rebuild."""
        return self._version

    @property
    def rows_version(self) -> int:
        """Bumped by every change except tag edits: what caches of vectors and metadata key on,
        so tagging a selection does not throw away a neighbour table that took minutes."""
        return self._version - self._tag_edits

    @property
    def records(self) -> list[dict[str, Any]]:
        return self._records

    @property
    def paths(self) -> list[str]:
        return self._paths

    @property
    def features(self) -> np.ndarray:
        return _read_only(self._feat[: self._n])

    @property
    def visual(self) -> np.ndarray:
        return _read_only(self._vis[: self._n])

    @property
    def has_visual(self) -> np.ndarray:
        return _read_only(self._has[: self._n])

    @property
    def missing_visual_count(self) -> int:
        return self._n - int(np.count_nonzero(self._has[: self._n]))

    @property
    def feature_dim(self) -> int | None:
        """Dimension of the features, None until the first vector arrives."""
        return int(self._feat.shape[1]) or None

    @property
    def visual_dim(self) -> int | None:
        """Dimension of the visual vectors, None while no row has one."""
        return int(self._vis.shape[1]) or None

    def row_of(self, path: str) -> int | None:
        return self._index.get(path)

    # ------------------------------------------------------------------ changes

    def touch(self) -> None:
        """Count a change made outside the rows (the library's models)."""
        with self.lock:
            self._version += 1

    def clear(self) -> None:
        """Forget every row and the dimensions (the next vectors define them)."""
        with self.lock:
            self._records, self._paths, self._index, self._n = [], [], {}, 0
            self._feat = np.zeros((0, 0), dtype=np.float32)
            self._vis = np.zeros((0, 0), dtype=np.float32)
            self._has = np.zeros(0, dtype=bool)
            self._version += 1

    def drop_visual(self) -> None:
        """Forget every visual vector and the visual dimension (a rescan recomputes them)."""
        with self.lock:
            self._vis = np.zeros((self._feat.shape[0], 0), np.float32)
            self._has[:] = False
            self._version += 1

    def upsert(
        self, path: str, record: dict[str, Any], features: np.ndarray, visual: np.ndarray | None
    ) -> int:
        """Add or replace the row of `path`; returns it. `features` and `visual` are unit rows
        of the store's dimensions (or the first ones), `visual=None`: no visual vector."""
        with self.lock:
            row = self._index.get(path)
            dv = visual.size if visual is not None else self._vis.shape[1]
            if row is None:
                buffers = self._buffers(features.size, dv, 1)
                return self._append(path, record, features, visual, *buffers)
            return self._replace(
                row, record, features, visual, *self._buffers(features.size, dv, 0)
            )

    def _buffers(self, df: int, dv: int, extra: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Buffers with room for `extra` more rows and these dimensions: the store's own when
        they fit, else new ones (capacity doubled) holding a copy of the current rows."""
        feat, vis, has = self._feat, self._vis, self._has
        n, cap = self._n, feat.shape[0]
        if n + extra <= cap and feat.shape[1] == df and vis.shape[1] == dv:
            return feat, vis, has
        new_cap = max(16, cap * 2) if n + extra > cap else cap
        nf = np.zeros((new_cap, df), np.float32)
        nv = np.zeros((new_cap, dv), np.float32)
        nh = np.zeros(new_cap, bool)
        if feat.shape[1] == df:
            nf[:n] = feat[:n]
        if vis.shape[1] == dv:
            nv[:n] = vis[:n]
            nh[:n] = has[:n]
        return nf, nv, nh

    def _append(
        self,
        path: str,
        rec: dict[str, Any],
        f: np.ndarray,
        v: np.ndarray | None,
        feat: np.ndarray,
        vis: np.ndarray,
        has: np.ndarray,
    ) -> int:
        row = self._n
        feat[row] = f  # row n is past the end: invisible until the commit below
        if vis.shape[1]:
            vis[row] = 0.0 if v is None else v
        has[row] = v is not None
        try:
            self._feat, self._vis, self._has = feat, vis, has  # same rows [:n], more room
            self._records.append(rec)
            self._paths.append(path)
            self._index[path] = row
            self._n = row + 1
            self._version += 1
        except BaseException:
            del self._records[row:], self._paths[row:]
            if self._index.get(path) == row:
                del self._index[path]
            self._n = row
            raise
        return row

    def _replace(
        self,
        row: int,
        rec: dict[str, Any],
        f: np.ndarray,
        v: np.ndarray | None,
        feat: np.ndarray,
        vis: np.ndarray,
        has: np.ndarray,
    ) -> int:
        old = (self._feat, self._vis, self._has, self._records[row])
        old_rows = (feat[row].copy(), vis[row].copy(), bool(has[row]))
        try:
            self._feat, self._vis, self._has = feat, vis, has
            feat[row] = f
            if vis.shape[1]:
                vis[row] = 0.0 if v is None else v
            has[row] = v is not None
            self._records[row] = rec
            self._version += 1
        except BaseException:
            feat[row], vis[row], has[row] = old_rows
            self._feat, self._vis, self._has, self._records[row] = old
            raise
        return row

    def update_records(
        self, records: Mapping[int, dict[str, Any]], *, tags_only: bool = False
    ) -> None:
        """Replace the records of these rows (same paths, clean records; vectors untouched), all
        at once. `tags_only`: only their tags changed (`rows_version` stays)."""
        if not records:
            return
        with self.lock:
            old = {row: self._records[row] for row in records}
            try:
                for row, rec in records.items():
                    self._records[row] = rec
                self._version += 1
                if tags_only:
                    self._tag_edits += 1
            except BaseException:
                for row, rec in old.items():
                    self._records[row] = rec
                raise

    def remove(self, paths: Iterable[str]) -> int:
        """Remove the rows of these paths (unknown ones are ignored) in one pass over the rows
        after the first removed one; the others keep their order. Returns how many went."""
        with self.lock:
            index = self._index
            rows = np.array(sorted({index[p] for p in paths if p in index}), dtype=np.int64)
            if not rows.size:
                return 0
            n, first = self._n, int(rows[0])
            keep = np.ones(n - first, dtype=bool)  # rows before `first` do not move
            keep[rows - first] = False
            m = first + int(keep.sum())
            mats = (self._feat, self._vis, self._has)
            kept = [a[first:n][keep] for a in mats]  # copies: the rows that move up
            dropped = [a[first:n][~keep] for a in mats]  # copies: to put back if interrupted
            survivors = np.flatnonzero(keep) + first
            moved_r: tuple[dict[str, Any], ...] = ()
            moved_p: tuple[str, ...] = ()
            if survivors.size == 1:
                moved_r, moved_p = (self._records[survivors[0]],), (self._paths[survivors[0]],)
            elif survivors.size:  # C-level gathers (itemgetter, dict(zip)): no Python loop per row
                get = itemgetter(*survivors.tolist())
                moved_r, moved_p = get(self._records), get(self._paths)
            records = self._records[:first] + list(moved_r)
            new_paths = self._paths[:first] + list(moved_p)
            new_index = dict(zip(new_paths, range(m), strict=True))
            old = (self._records, self._paths, self._index)
            try:
                for a, k in zip(mats, kept, strict=True):
                    a[first:m] = k
                    a[m:n] = 0
                self._records, self._paths, self._index, self._n = records, new_paths, new_index, m
                self._version += 1
            except BaseException:
                for a, k, d in zip(mats, kept, dropped, strict=True):
                    a[first:n][keep] = k
                    a[first:n][~keep] = d
                self._records, self._paths, self._index = old
                self._n = n
                raise
            return n - m
