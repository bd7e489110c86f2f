"""Scanning: from folders on disk to rows of a `Library`.

Owns walking folders (`walk`: offline is never deleted), one file's analysis (`files`: read once,
hash, decode, colours, tensors), planning with the incremental rules (`plan`), the one scan
procedure (`procedure`: applying results, failures, progress, thumbnails, Ctrl-C) and the
`Engine`s it drives (`local`: threads; `ray`: Ray Data, optional), `vv.scan` choosing the engine
(`engines`), and the one rescan of a library's roots, saved under its lock, used by the CLI and
the widget (`rescan`).

May import: `library`, `models`, `images`, `thumbs`, `errors`, `vectors`. Never the widget.
"""

from vectorvision_widget.scanning.engines import ENGINES, scan

__all__ = ["ENGINES", "scan"]
