"""Scanning: from folders on disk to rows of a `Library`.

Owns walking folders (`walk`: offline is never deleted), one file's analysis (`files`: read once,
hash, decode, colours, tensors), the scan procedure and its local engine (`local`), the Ray Data
engine (`ray`) and `vv.scan`, the one entry point for both (`engines`).

May import: `library`, `models`, `images`, `thumbs`, `errors`, `vectors`. Never the widget.
"""

from vectorvision_widget.scanning.engines import ENGINES, scan

__all__ = ["ENGINES", "scan"]
