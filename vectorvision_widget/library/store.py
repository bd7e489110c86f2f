"""The in-memory image library: records plus row-aligned float32 matrices, and its file.

Row i of `features` (SigLIP, the "meaning" space), `visual_features` (DINOv2, the "look" space)
and `has_visual` all describe `records[i]` / `paths[i]`; they live in the library's `RowStore`
(`rows`), whose every change is all-or-nothing. `Library` checks and normalises what comes in,
then hands it to the store. Every mutation bumps `version` so caches (here and in the widget)
know when to rebuild. The file format lives in `format` / `read`; the queries (search, similar,
colour, duplicates, hybrid tables) in `queries`, which the methods here delegate to.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import vectorvision_widget.library.filters as libfilters
import vectorvision_widget.library.format as libformat
import vectorvision_widget.library.queries as libqueries
import vectorvision_widget.library.read as libread
import vectorvision_widget.library.tags as libtags
from vectorvision_widget.atomicfile import atomic_write_bytes, deferred_interrupt
from vectorvision_widget.errors import InterruptedAfterSave
from vectorvision_widget.library.fields import (
    check_vector,
    clean_record,
    path_text,
    record_path,
    tag_name,
    unit_rows,
)
from vectorvision_widget.library.format import LibraryData
from vectorvision_widget.library.lock import (
    FileState,
    LibraryChangedError,
    LibraryExistsError,
    LibraryLockedError,
    changed_on_disk,
    file_state,
    hashing,
    library_lock,
    same_file,
)
from vectorvision_widget.library.provenance import (
    ModelMismatchError,
    VisualFeaturesMissingWarning,
    model_text,
    same_model,
)
from vectorvision_widget.library.rows import RowStore
from vectorvision_widget.neighbours.spaces import HybridNeighbours

if TYPE_CHECKING:  # models sit beside library, not below it: an Encoders is only called
    from vectorvision_widget.models.encoders import Encoders

__all__ = [
    "Library",
    "LibraryChangedError",
    "LibraryLockedError",
    "ModelMismatchError",
    "VisualFeaturesMissingWarning",
    "library_lock",
]


if TYPE_CHECKING:
    _ConcretePath = Path
else:  # Path() is a PosixPath or WindowsPath; before 3.12 only those can be subclassed
    _ConcretePath = type(Path())


class LibraryPath(_ConcretePath):
    """A `Path` that also equals the same path given as a string, so `lib.path == "lib.json"`
    and `lib.path == Path("lib.json")` both hold for a library loaded from "lib.json"."""

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return os.fspath(self) == os.path.normpath(other)
        return super().__eq__(other)

    def __hash__(self) -> int:
        return super().__hash__()


class Library:
    """Images (records) with aligned SigLIP and DINOv2 matrices; see docs/api.md."""

    def __init__(self) -> None:
        self._rows = RowStore()
        self.models: dict[str, dict[str, Any]] = {}
        self.roots: list[str] = []
        self.failures: list[dict[str, str]] = []
        self._path: Path | None = None
        self._disk: FileState | None = None  # the file as last loaded/saved (see save)
        self._copies: dict[str, FileState] = {}  # other files this library saved (save-as)
        self._queries = libqueries.QueryCache()

    # ------------------------------------------------------------------ construction

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Library:
        """Read a library file (current or legacy format); LibraryFormatError if unreadable.
        The library remembers the file: `lib.path`, and `lib.save()` writes back there."""
        p = Path(path)
        if not p.is_file():
            msg = (
                f"library file {str(p)!r} does not exist or is not a file (a new library: "
                "`vectorvision scan FOLDER --library FILE`, or vv.Library() in Python)"
            )
            raise FileNotFoundError(msg)
        disk = file_state(p)  # before reading: a write during the read then shows as a change
        lib = cls._from_data(libread.read_library(p))
        lib._path, lib._disk = p, disk
        return lib

    @classmethod
    def from_arrays(
        cls,
        paths: Sequence[str | os.PathLike[str]],
        features: Any,
        visual_features: Any = None,
        records: Sequence[Mapping[str, Any]] | None = None,
    ) -> Library:
        """A library from your own vectors: rows are normalised to unit length; all-zero rows of
        `visual_features` mean "no visual vector". Raises ValueError on bad shapes or values."""
        texts = [path_text(p) for p in paths]
        path_list = [p for p in texts if p is not None]
        n = len(path_list)
        if n != len(texts):
            msg = "every path must be a non-empty string"
            raise ValueError(msg)
        if len(set(path_list)) != n:
            dup = next(p for i, p in enumerate(path_list) if p in path_list[:i])
            msg = f"duplicate path {dup!r}: each image may appear once"
            raise ValueError(msg)
        feat, _ = unit_rows(features, "features", allow_zero=False)
        if feat.shape[0] != n:
            msg = f"features has {feat.shape[0]} rows but {n} paths were given"
            raise ValueError(msg)
        if visual_features is None:
            vis, has_vis = np.zeros((n, 0), np.float32), np.zeros(n, bool)
        else:
            vis, has_vis = unit_rows(visual_features, "visual_features", allow_zero=True)
            if vis.shape[0] != n:
                msg = f"visual_features has {vis.shape[0]} rows but {n} paths were given"
                raise ValueError(msg)
        if records is not None and len(records) != n:
            msg = f"records has {len(records)} entries but {n} paths were given"
            raise ValueError(msg)
        recs = []
        for i, p in enumerate(path_list):
            given = records[i] if records is not None else {}
            if given.get("path") not in (None, p):
                msg = f"records[{i}]['path'] is {given['path']!r} but paths[{i}] is {p!r}"
                raise ValueError(msg)
            recs.append(clean_record(given, p))
        data = LibraryData(records=recs, features=feat, visual=vis, has_visual=has_vis)
        return cls._from_data(data)

    @classmethod
    def _from_data(cls, data: LibraryData) -> Library:
        lib = cls()
        lib._rows = RowStore.from_rows(data.records, data.features, data.visual, data.has_visual)
        lib.models = dict(data.models)
        lib.roots = list(data.roots)
        lib.failures = list(data.failures)
        return lib

    # ------------------------------------------------------------------ read access

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, path: object) -> bool:
        return isinstance(path, (str, os.PathLike)) and self.row_of(path) is not None

    def __repr__(self) -> str:
        return f"<Library {len(self)} images, version {self.version}>"

    @property
    def version(self) -> int:
        """Bumped by every change (rows or models), so caches know when to rebuild."""
        return self._rows.version

    @property
    def paths(self) -> list[str]:
        """File paths by row (the library's own list: do not modify)."""
        return self._rows.paths

    @property
    def records(self) -> list[dict[str, Any]]:
        """Metadata by row: path, keywords [{label, score}], color, palette, width, height, ..."""
        return self._rows.records

    @property
    def features(self) -> np.ndarray:
        """(N, Df) float32 unit rows from the text-aligned model (SigLIP); read-only view."""
        return self._rows.features

    @property
    def visual_features(self) -> np.ndarray:
        """(N, Dv) float32 unit rows from the visual model (DINOv2); zeros where missing."""
        return self._rows.visual

    @property
    def has_visual(self) -> np.ndarray:
        """(N,) bool: which rows have a visual vector."""
        return self._rows.has_visual

    @property
    def missing_visual_count(self) -> int:
        """How many images need a rescan to get a visual vector."""
        return self._rows.missing_visual_count

    @property
    def feature_dim(self) -> int | None:
        """Dimension of `features`, None until the first vector arrives."""
        return self._rows.feature_dim

    @property
    def visual_dim(self) -> int | None:
        """Dimension of `visual_features`, None while no image has one."""
        return self._rows.visual_dim

    def row_of(self, path: str | os.PathLike[str]) -> int | None:
        """Row of an image, or None if it is not in the library."""
        return self._rows.row_of(os.fspath(path))

    # ------------------------------------------------------------------ mutation

    def upsert(self, record: Mapping[str, Any], features: Any, visual: Any | None = None) -> int:
        """Add or replace one image (keyed by record["path"]); returns its row.

        Vectors are normalised; a dimension different from the library's raises ValueError.
        `visual=None` marks the image as needing a rescan for visual features.
        Everything is checked and prepared before the library changes, so an error or Ctrl-C
        at any point leaves it as it was (records and matrices stay aligned).
        """
        path = record_path(record)
        f = check_vector(features, "features", path, self.feature_dim, self._model("features"))
        v = None
        if visual is not None:
            model = self._model("visualFeatures")
            v = check_vector(visual, "visual features", path, self.visual_dim, model)
        return self._rows.upsert(path, clean_record(record, path), f, v)

    def _model(self, key: str) -> str:
        """The name of the model that made the `key` vectors, for messages."""
        return str(self.models.get(key, {}).get("name", "the library's model"))

    def remove(self, paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> int:
        """Remove images by path (unknown paths are ignored); returns how many were removed.
        Remaining rows keep their relative order. Pass all paths in one call: one pass over
        the rows after the first removed one, however many go; all-or-nothing (Ctrl-C safe)."""
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        return self._rows.remove({p for p in map(path_text, paths) if p is not None})

    def clear_vectors(self) -> None:
        """Forget every image and the model provenance (roots are kept), so that a rescan with
        other model files starts clean; vectors from different models are never mixed."""
        self._rows.clear()
        self.models = {}
        self.failures = []

    def set_models(
        self, provenance: Mapping[str, Mapping[str, Any]], *, replace: bool = False
    ) -> None:
        """Record which model files made the vectors (the scan calls this before it embeds).

        A library made by other model files raises ModelMismatchError, unless `replace=True`:
        then a different text/features model empties the library (`clear_vectors`) and a
        different visual model only drops the visual vectors (they are recomputed by a rescan).
        """
        with self._rows.lock:  # a save on another thread sees the models and rows of one state
            self._set_models(provenance, replace=replace)

    def _set_models(self, provenance: Mapping[str, Mapping[str, Any]], *, replace: bool) -> None:
        new = {k: dict(v) for k, v in provenance.items()}
        n = len(self)
        if not n:  # nothing stored yet: the new models define the dimensions
            self._rows.clear()
            self.models = {}
        dims = {"features": self.feature_dim, "visualFeatures": self.visual_dim}
        for key in ("features", "visualFeatures"):
            if key not in new or not n:
                continue
            old = self.models.get(key)
            differs = (old is not None and not same_model(old, new[key])) or (
                dims[key] is not None
                and new[key].get("dim") is not None
                and new[key]["dim"] != dims[key]
            )
            if not differs:
                continue
            if not replace:
                was = old or {"dim": dims[key]}
                msg = (
                    f"this library's {key} come from {model_text(was)} but the encoders use "
                    f"{model_text(new[key])}; vectors from different models are never mixed. "
                    "Scan into a new library file, or rescan with force=True (or call "
                    "lib.clear_vectors() first) to re-embed everything."
                )
                raise ModelMismatchError(msg)
            if key == "features":
                self.clear_vectors()
                break
            self._rows.drop_visual()
        if any(self.models.get(k) != v for k, v in new.items()):  # the same models: no change
            self.models.update(new)
            self._rows.touch()

    # ------------------------------------------------------------------ analysis

    def clustering_features(self) -> np.ndarray:
        """Visual vectors when every image has one, else `features` with a warning."""
        return libqueries.clustering_features(self)

    def search(
        self, text: str | np.ndarray, encoders: Encoders | None = None, k: int = 20
    ) -> list[tuple[int, float]]:
        """Images best matching a text (or a query vector in the features space), best first."""
        return libqueries.search(self, text, encoders, k)

    def similar(
        self, row: int, k: int = 20, space: str = "visual", weight: float = 0.5
    ) -> list[tuple[int, float]]:
        """Images most like image `row` (itself excluded), in the visual, semantic, hybrid or
        fused space. Without visual vectors for every image the visual part uses `features`."""
        return libqueries.similar(self, row, k, space, weight)

    def by_colour(
        self, rgb: Any, k: int = 20, *, rank_weight: float = 1.0
    ) -> list[tuple[int, float]]:
        """Images whose palette holds a colour close to `rgb`, closest first, as (row, score).

        score = min over the image's palette of (CIEDE2000 ΔE + rank_weight × palette rank), so a
        dominant colour (rank 0) beats an equally close minor one; `rank_weight=0` gives the
        plain smallest ΔE. Images with no palette use their average colour; images with
        neither are never returned.
        """
        return libqueries.by_colour(self, self._queries, rgb, k, rank_weight)

    def duplicates(self, **kwargs: Any) -> dict[str, list[list[int]]]:
        """Exact (same file bytes), near and similar groups of rows; see similarity.duplicates.
        Uses visual vectors, or `features` with a warning where some are missing."""
        return libqueries.duplicates(self, **kwargs)

    def neighbour_table(
        self,
        k: int = 10,
        space: str = "visual",
        *,
        exact: bool | None = None,
        progress: Callable[[int, int], object] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(N, k) int32 neighbours and float32 cosines of every image in the "visual" or
        "semantic" space (`vv.neighbour_table` on the library's matrices), computed once per
        library version and k or deeper: a smaller k, and the hybrid candidates, reuse it.
        Kept until the library changes: N × k × 8 bytes per space (80 MB at 1M images, k=10)."""
        return libqueries.space_table(self, self._queries, k, space, exact, progress)

    def hybrid_neighbours(
        self, k: int = 10, candidates: int | None = None, *, exact: bool | None = None
    ) -> HybridNeighbours:
        """The hybrid neighbour tables for this library (a `neighbours.HybridNeighbours`):
        candidates are computed once per library version and k; `.table(weight)` re-ranks
        them for any weight in tens of milliseconds (the live hybrid slider)."""
        return libqueries.hybrid_neighbours(self, self._queries, k, candidates, exact)

    # ------------------------------------------------------------------ persistence

    def _data(self) -> LibraryData:
        return LibraryData(
            records=self.records,
            features=self.features,
            visual=self.visual_features,
            has_visual=self.has_visual,
            models=self.models,
            roots=self.roots,
            failures=self.failures,
        )

    @property
    def path(self) -> Path | None:
        """The library's file: set by `Library.load(path)` and by the first `save(path)`."""
        return None if self._path is None else LibraryPath(self._path)

    @path.setter
    def path(self, value: str | os.PathLike[str] | None) -> None:
        self._path = None if value is None else Path(value)
        self._disk = None if value is None else self._copies.get(os.path.realpath(value))

    @property
    def file(self) -> Path | None:
        """Old name of `path`."""
        return self.path

    def lock(
        self, timeout: float = -1, on_wait: Callable[[str], None] | None = None
    ) -> AbstractContextManager[Path]:
        """Hold the lock of `lib.path` (one writer per library file), e.g. for a whole scan:
        `with lib.lock(on_wait=print): scan(...); lib.save()`. Re-entrant in this thread;
        LibraryLockedError after `timeout` seconds. See `library.lock.library_lock` to lock a file
        before loading it."""
        if self._path is None:
            msg = (
                "this library has no file yet: lib.save(path) first, or lock a file with "
                "vectorvision_widget.library.lock.library_lock(path)"
            )
            raise ValueError(msg)
        return library_lock(self._path, timeout, on_wait)

    def save(
        self,
        path: str | os.PathLike[str] | None = None,
        vectors: str = "b64",
        *,
        timeout: float = -1,
        overwrite: bool = False,
    ) -> Path:
        """Write the library atomically (a crash leaves the previous file intact), under the
        file's lock; returns the file written (a symlink's target: the link stays a link).

        `path`: defaults to `lib.path`; sets `lib.path` when it was unset. A library replaces
        only files it read or wrote itself, and only when they did not change on disk since
        (another scan or notebook wrote them): otherwise LibraryChangedError, or for an existing
        file this library never read nor wrote LibraryExistsError, and nothing is written;
        `overwrite=True` replaces it anyway. `vectors="list"` writes plain number lists
        (bigger, slower) for other tools. `timeout`: seconds to wait for the lock.

        Ctrl-C during the write finishes the write first, then raises InterruptedAfterSave (a
        KeyboardInterrupt naming the file written); a second Ctrl-C abandons it (the previous
        file stays as it was).
        """
        if path is None and self._path is None:
            msg = "lib.save() needs a path the first time: lib.save('library.json')"
            raise ValueError(msg)
        target = Path(path) if path is not None else self._path
        assert target is not None
        own = self._path is None or same_file(target, self._path)
        key = os.path.realpath(target)
        with library_lock(target, timeout):
            known = self._disk if own else self._copies.get(key)
            if not overwrite and os.path.lexists(target):
                _check_replace(target, known)
            digest = hashlib.sha256()
            with deferred_interrupt(str(target)) as interrupted:  # Ctrl-C: finish, then stop
                with self._rows.lock:  # one consistent state: no row moves while it is written
                    chunks = hashing(libformat.iter_library(self._data(), vectors), digest)
                    written = atomic_write_bytes(target, chunks, keep_readonly=True)
                state = file_state(written, digest.hexdigest())
                if own:
                    self._path = self._path or target
                    self._disk = state
                elif state is not None:
                    self._copies[key] = state
        if interrupted[0]:
            raise InterruptedAfterSave(str(written))
        return written

    def describe(self) -> str:
        """A few human-readable lines: size, models, missing visual vectors, roots, failures."""
        lines = [f"{len(self)} images" + (f" in {self._path}" if self._path else "")]
        for key, label in (("features", "semantic (features)"), ("visualFeatures", "visual")):
            dim = self.feature_dim if key == "features" else self.visual_dim
            info = {**self.models.get(key, {}), "dim": dim}
            lines.append(f"{label}: {model_text(info) if dim else 'none'}")
        missing = self.missing_visual_count
        if missing:
            lines.append(f"{missing} images have no visual features: rescan with force=True")
        if self.roots:
            lines.append("roots: " + ", ".join(self.roots))
        if self.failures:
            lines.append(f"{len(self.failures)} files could not be read (see lib.failures)")
        return "\n".join(lines)

    # ------------------------------------------------------------------ finding: filters, tags

    @property
    def rows_version(self) -> int:
        """Bumped by every change except tag edits: caches of vectors and metadata key on it,
        so tagging does not throw away a neighbour table (`version` counts tag edits too)."""
        return self._rows.rows_version

    @functools.cached_property
    def _filter_columns(self) -> libfilters.FilterColumns:
        return libfilters.FilterColumns()

    def where(
        self,
        folder: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None = None,
        taken: tuple[Any, Any] | None = None,
        camera: str | Iterable[str] | None = None,
        tags: str | Iterable[str] | None = None,
        keywords: str | Iterable[str] | None = None,
        has_gps: bool | None = None,
    ) -> list[int]:
        """Rows (ascending) matching every argument given; None (or an empty list) leaves that
        field unconstrained, and a list matches any of its items.

        `folder`: images in that folder or below (by path components: "/a/b" does not match
        "/a/bc"); `taken`: a (start, end) pair of dates, datetimes or ISO 8601 strings
        ("2023", "2023-07", "2023-07-14", "2023-07-14T18:03"), either end None, inclusive (a
        date or a shorter string covers its whole day, month or year); compared with the
        wall-clock time the camera recorded; images without a date never match. `camera`: the
        record's camera, case-insensitive; `tags`: the record's tags (exact); `keywords` its
        keyword labels (case-insensitive); `has_gps`: True / False for with / without GPS.
        ValueError for a malformed argument. Columns are cached per library version.
        """
        return libfilters.where(
            self, self._filter_columns, folder, taken, camera, tags, keywords, has_gps
        )

    def tag(self, rows_or_paths: Any, *names: str) -> int:
        """Give images (a row, a path, or a list of rows and/or paths) the tags `names`;
        returns how many images changed. Stored in the records' `tags` and the library file,
        kept by rescans. ValueError for an empty or non-string name, IndexError / KeyError for
        an unknown row / path (nothing changes then)."""
        add = libtags.tag_names(names)
        changed = libtags.retag(self, libtags.rows_of(self, rows_or_paths), add, [])
        self._rows.update_records(changed, tags_only=True)
        return len(changed)

    def untag(self, rows_or_paths: Any, *names: str) -> int:
        """Take the tags `names` off images (as `tag`); returns how many images changed."""
        gone = libtags.tag_names(names)
        changed = libtags.retag(self, libtags.rows_of(self, rows_or_paths), [], gone)
        self._rows.update_records(changed, tags_only=True)
        return len(changed)

    def tagged(self, name: str) -> list[int]:
        """Rows (ascending) of the images with the tag `name`."""
        rows = self._filter_columns.tags(self).get(tag_name(name))
        return [] if rows is None else rows.tolist()

    def tag_counts(self) -> dict[str, int]:
        """Every tag in the library with its number of images, by name."""
        index = self._filter_columns.tags(self)
        return {name: int(index[name].size) for name in sorted(index)}

    def update_fields(self, fields: Mapping[Any, Any]) -> int:
        """Set record fields (not `path` nor vectors) of images given by row or path:
        `lib.update_fields({row: {"camera": "X"}, "/a.jpg": {"taken": None}})`, all at once
        (checked first: nothing changes on an error); returns how many records changed."""
        updates: dict[int, dict[str, Any]] = {}
        for key, values in fields.items():
            row = libtags.rows_of(self, key)[0]
            if not isinstance(values, Mapping):
                msg = f"fields of {key!r} must be a mapping of field names to values"
                raise TypeError(msg)
            bad = {"path", "features", "visualFeatures"} & set(values)
            if bad:
                msg = f"update_fields cannot set {sorted(bad)}: upsert the image instead"
                raise ValueError(msg)
            old = updates.get(row, self.records[row])
            new = clean_record({**old, **values}, self.paths[row])
            if new != self.records[row]:
                updates[row] = new
        self._rows.update_records(updates)
        return len(updates)

    # ------------------------------------------------------------------ finding: queries

    def similar_to_image(
        self,
        image: Any,
        encoders: Encoders | None = None,
        k: int = 20,
        space: str = "visual",
        weight: float = 0.5,
    ) -> list[tuple[int, float]]:
        """Images most like `image` (a path, a PIL image, an (H, W[, 3|4]) uint8 or 0..1 float
        array, or encoded bytes), which need not be in the library, best first, as (row,
        score); spaces as in `similar` (an image of the library finds itself first, score 1)."""
        return libqueries.similar_to_image(self, image, encoders, k, space, weight)

    def similar_to_rows(
        self,
        rows: Any,
        k: int = 20,
        space: str = "visual",
        negative: Any = None,
        *,
        weight: float = 0.5,
        alpha: float = 0.5,
    ) -> list[tuple[int, float]]:
        """ "More like these" (rows or paths), the given images excluded: ranked by cosine with
        the centroid of their vectors. `negative` ("less like these"): the query becomes
        unit(c_pos − alpha × c_neg), c_pos and c_neg the unit centroids of `rows` and
        `negative` (excluded from the results too). Spaces as in `similar`."""
        pos = libtags.rows_of(self, rows)
        neg = [] if negative is None else libtags.rows_of(self, negative)
        return libqueries.similar_to_rows(self, pos, neg, k, space, weight, alpha)


def _check_replace(target: Path, known: FileState | None) -> None:
    """Refuse to replace a file this library did not write, or one changed since it did."""
    if known is None:
        msg = (
            f"library {str(target)!r} already exists and this library did not come from it; "
            "nothing was written. Load it with Library.load to add to it, or "
            "save(..., overwrite=True) to replace it"
        )
        raise LibraryExistsError(msg)
    if changed_on_disk(target, known):
        msg = (
            f"library {str(target)!r} changed on disk since this library was loaded "
            "(another scan or notebook saved it); nothing was written. Load it "
            "again and redo your changes, or save(overwrite=True) to replace it"
        )
        raise LibraryChangedError(msg)
