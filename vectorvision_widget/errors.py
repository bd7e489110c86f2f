"""Exceptions users can catch; each message names the file and says what to do."""

from __future__ import annotations


class VectorVisionError(Exception):
    """Base class of the package's own errors."""


class ModelError(VectorVisionError):
    """A model folder or file is missing, corrupt, or does not match the expected contract."""


class LibraryFormatError(VectorVisionError, ValueError):
    """A library file is not a readable vectorvision (or legacy) library; nothing was loaded."""
