"""Actions the browser asks for on the selection and beyond the map: tag / untag the selected
images, their paths for the clipboard, file names for the neighbour panel, and the duplicate
review. Registered on ``BrowserRequests`` by the widget; each request was validated against
``protocol.py`` before it gets here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from vectorvision_widget.widget.mapdata import ascii_name
from vectorvision_widget.widget.protocol import (
    NamesReply,
    NamesRequest,
    PathsReply,
    Reply,
    TagRequest,
)

if TYPE_CHECKING:
    from vectorvision_widget.library import Library

__all__ = ["SelectionActions", "tag_status"]


class ActionSide(Protocol):
    """What the actions need from the widget."""

    @property
    def library(self) -> Library: ...

    @property
    def data_version(self) -> int: ...

    @property
    def selected_rows(self) -> list[int]: ...

    def send(self, content: Reply, buffers: list[bytes] | None = None) -> None: ...

    def show_status(self, text: str) -> None: ...

    def review_duplicates(self) -> None: ...


def tag_status(names: list[str], selected: int, changed: int, *, remove: bool) -> str:
    """The status line after a tag change, e.g. "tagged 3 of 4 selected: holiday"."""
    verb = "untagged" if remove else "tagged"
    return f"{verb} {changed} of {selected} selected: {', '.join(names)}"


class SelectionActions:
    """The handlers of the ``tag``, ``paths``, ``names`` and ``review`` requests."""

    def __init__(self, widget: ActionSide) -> None:
        self._w = widget

    def tag(self, request: TagRequest) -> None:
        rows = self._w.selected_rows
        if not rows:
            msg = "select images first (click, Ctrl/Cmd-drag or Alt-drag on the map)"
            raise ValueError(msg)
        lib = self._w.library
        remove = request.get("remove", False)
        names = request["names"]
        changed = lib.untag(rows, *names) if remove else lib.tag(rows, *names)
        clean = [ascii_name(n.strip()) for n in names]
        self._w.show_status(tag_status(clean, len(rows), changed, remove=remove))

    def paths(self, _request: object) -> None:
        paths = self._w.library.paths
        out = [ascii_name(paths[r]) for r in self._w.selected_rows if 0 <= r < len(paths)]
        reply: PathsReply = {"type": "paths", "paths": out, "version": self._w.data_version}
        self._w.send(reply)

    def names(self, request: NamesRequest) -> None:
        paths = self._w.library.paths
        rows = [r for r in request["rows"] if 0 <= r < len(paths)]
        reply: NamesReply = {
            "type": "names",
            "rows": rows,
            "names": [ascii_name(Path(paths[r]).name) for r in rows],
            "version": self._w.data_version,
        }
        self._w.send(reply)

    def review(self, _request: object) -> None:
        self._w.review_duplicates()
