"""vectorvision_widget: explore image libraries in Jupyter.

Names are imported lazily so `import vectorvision_widget` stays fast and does not load
onnxruntime or the widget machinery until they are used.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from vectorvision_widget.errors import (
    InterruptedAfterSave,
    LibraryFormatError,
    ModelError,
    VectorVisionError,
)

try:
    __version__ = version("vectorvision-widget")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

# public name -> module that defines it
_LAZY = {
    "fetch_models": "models.fetch",
    "resolve_models_dir": "models.specs",
    "Encoders": "models.encoders",
    "Library": "library",
    "VisualFeaturesMissingWarning": "library",
    "ModelMismatchError": "library",
    "LibraryChangedError": "library",
    "LibraryExistsError": "library",
    "LibraryLockedError": "library",
    "scan": "scanning.engines",
    "ScanReport": "scanning.procedure",
    "SOM": "som.map",
    "grid_cells": "som.layout",
    "default_grid_shape": "som.layout",
    "neighbour_table": "neighbours",
    "VectorVision": "widget.widget",
}

__all__ = [  # noqa: RUF022 - grouped by module, like _LAZY
    "InterruptedAfterSave",
    "LibraryFormatError",
    "ModelError",
    "VectorVisionError",
    "__version__",
    "fetch_models",
    "resolve_models_dir",
    "Encoders",
    "Library",
    "VisualFeaturesMissingWarning",
    "ModelMismatchError",
    "LibraryChangedError",
    "LibraryExistsError",
    "LibraryLockedError",
    "scan",
    "ScanReport",
    "SOM",
    "grid_cells",
    "default_grid_shape",
    "neighbour_table",
    "VectorVision",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        msg = f"module 'vectorvision_widget' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from vectorvision_widget.library import (
        Library,
        LibraryChangedError,
        LibraryExistsError,
        LibraryLockedError,
        ModelMismatchError,
        VisualFeaturesMissingWarning,
    )
    from vectorvision_widget.models.encoders import Encoders
    from vectorvision_widget.models.fetch import fetch_models
    from vectorvision_widget.models.specs import resolve_models_dir
    from vectorvision_widget.neighbours import neighbour_table
    from vectorvision_widget.scanning.engines import scan
    from vectorvision_widget.scanning.procedure import ScanReport
    from vectorvision_widget.som.layout import default_grid_shape, grid_cells
    from vectorvision_widget.som.map import SOM
    from vectorvision_widget.widget.widget import VectorVision
