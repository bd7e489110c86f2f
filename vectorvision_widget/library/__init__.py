"""The library: every image's record and vectors in memory, and the file they live in.

Owns `Library` (`store`: records plus row-aligned float32 matrices in a `rows.RowStore` whose
changes are all-or-nothing and hold its lock), the record fields (`fields`), the JSON file format
(`format` to write, `read` to read, streamed and legacy), one writer per file and content-checked
conflict detection (`lock`), which models made the vectors (`provenance`), the queries
(`queries`: search, similar, query by image, colour, duplicates, neighbour tables), filters over
metadata (`filters`: `lib.where`) and tags (`tags`).

May import: `neighbours`, `images` (colours), `errors`, `vectors`, `atomicfile`. Knows nothing
about ONNX (an `Encoders` is only called, through its public methods) or the widget.
"""

from vectorvision_widget.library.lock import (
    LibraryChangedError,
    LibraryExistsError,
    LibraryLockedError,
)
from vectorvision_widget.library.provenance import ModelMismatchError
from vectorvision_widget.library.store import Library, VisualFeaturesMissingWarning

__all__ = [
    "Library",
    "LibraryChangedError",
    "LibraryExistsError",
    "LibraryLockedError",
    "ModelMismatchError",
    "VisualFeaturesMissingWarning",
]
