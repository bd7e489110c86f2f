"""The library: every image's record and vectors in memory, and the file they live in.

Owns `Library` (`store`), which owns its `RowStore` (`rows`: records plus row-aligned float32
matrices, each change all-or-nothing), the record fields and vector checks (`fields`), the
JSON file format (`format` to write, `read` to read, streamed and legacy), one writer per file
and conflict detection (`lock`), which models made the vectors (`provenance`) and the queries
(`queries`: search, similar, colour, duplicates, neighbour tables).

May import: `neighbours`, `images` (colours), `errors`, `vectors`, `atomicfile`. Knows nothing
about ONNX (an `Encoders` is only called, through its public methods; it is imported for
types only) or the widget.
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
