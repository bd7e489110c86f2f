"""The bundled sample library: a few dozen freely licensed photographs.

They ship inside the package so that `pip install .` users (and CI) can run demo.ipynb without
bringing their own images. Sources and licences of every file are in `sample/NOTICE`.
"""

from __future__ import annotations

from pathlib import Path

from vectorvision_widget.errors import VectorVisionError

__all__ = ["sample_folder", "sample_images", "sample_notice"]

_SAMPLE_DIR = Path(__file__).resolve().parent / "sample"
_IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp"})


def sample_folder() -> Path:
    """Return the folder holding the sample photographs (a real directory on disk).

    Raises VectorVisionError when the package was installed without its data files, because
    every later step (scan, widget) would otherwise fail with a confusing "0 images" instead.
    """
    if not _SAMPLE_DIR.is_dir():
        msg = (
            f"sample folder {_SAMPLE_DIR} is missing: this installation of vectorvision_widget "
            "was built without its package data; reinstall with `pip install .` from a clean "
            "clone, or point the demo's FOLDER variable at your own images"
        )
        raise VectorVisionError(msg)
    return _SAMPLE_DIR


def sample_images() -> list[Path]:
    """Return the sample photographs, sorted by name (stable order for demos and tests)."""
    return sorted(p for p in sample_folder().iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)


def sample_notice() -> str:
    """Return the NOTICE text that records each sample file's source, author and licence."""
    return (sample_folder() / "NOTICE").read_text(encoding="utf-8")
