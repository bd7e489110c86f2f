"""The names of map modes and similarity spaces, defined once for Python and the browser.

A *space* is where similarity is measured (``lib.similar(..., space=...)``); a *mode* is how the
map is laid out. The widget sends :data:`MODE_INFO` to the browser (trait ``_modes``), so the
toolbar's buttons come from here too. Imports nothing from the package: any module may use it.
"""

from __future__ import annotations

__all__ = ["MODES", "MODE_ALIASES", "MODE_INFO", "SPACES", "check_mode", "table_space"]

SPACES = ("visual", "semantic", "hybrid", "fused")
"""Similarity spaces: DINOv2 look, SigLIP meaning, a weighted mix, concatenated unit vectors."""

MODE_INFO = (
    ("visual", "Look", "Arrange by visual similarity (DINOv2)"),
    ("semantic", "Meaning", "Arrange by meaning (SigLIP)"),
    ("hybrid", "Hybrid", "Mix look and meaning (slider: share of look)"),
    ("colour", "Colour", "Arrange by average colour"),
)
"""(name, toolbar label, tooltip) of each layout mode, in toolbar order."""

MODES = tuple(name for name, _label, _title in MODE_INFO)
"""Layout modes; the widget's ``mode`` also takes "custom" after ``set_layout``."""

MODE_ALIASES = {"color": "colour", "look": "visual", "meaning": "semantic"}


def check_mode(mode: object) -> str:
    """The canonical mode name for ``mode`` (aliases accepted); ValueError naming the valid ones."""
    name = MODE_ALIASES.get(mode, mode) if isinstance(mode, str) else mode
    if name not in MODES:
        msg = f"mode must be one of {MODES}, got {mode!r}"
        raise ValueError(msg)
    return str(name)


def table_space(mode: str) -> str:
    """The space Shift+Hover uses in ``mode``: colour and custom layouts use the visual one."""
    return {"colour": "visual", "custom": "visual"}.get(mode, mode)
