"""Scanning: from folders on disk to rows of a `Library`.

Owns walking folders (`walk`: offline is never deleted), the incremental rules (`plan`), one
file's analysis (`files`: read once, hash, decode, colours, EXIF, tensors), the one scan
procedure (`procedure`: planning, applying results, failures, progress, thumbnails, Ctrl-C) with
its two engines behind one interface (`local`: threads; `ray`: Ray Data), `vv.scan` (`engines`),
the one rescan of the CLI and the widget (`rescan`) and the metadata refresh (`metadata`).

May import: `library`, `models`, `images`, `thumbs`, `errors`, `vectors`. Never the widget.
"""

from vectorvision_widget.scanning.engines import ENGINES, scan

__all__ = ["ENGINES", "scan"]
