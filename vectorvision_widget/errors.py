"""Exceptions users can catch; each message names the file and says what to do."""

from __future__ import annotations


class VectorVisionError(Exception):
    """Base class of the package's own errors."""


class ModelError(VectorVisionError):
    """A model folder or file is missing, corrupt, or does not match the expected contract."""


class LibraryFormatError(VectorVisionError, ValueError):
    """A library file is not a readable vectorvision (or legacy) library; nothing was loaded."""


class InterruptedAfterSave(KeyboardInterrupt):
    """Ctrl-C arrived while a library file was being written: the save was finished first (the
    file holds everything), then the interrupt goes on. `path` is the file written."""

    def __init__(self, path: str) -> None:
        super().__init__(f"interrupted after saving {path}")
        self.path = path
