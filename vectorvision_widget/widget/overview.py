"""The overview's tile pyramid kept in step with the map (see ``thumbs.pyramid``).

The pyramid is a function of the layout (cells, grid) and the tiles (atlases). Whenever either
changes it is rebuilt in the ``pyramid`` job, once every atlas is in and the layout job has
ended (a SOM pushes new cells each epoch: building for each would waste the CPU the SOM needs).
Levels go to the browser coarsest first, each as one ``mosaics`` message with one JPEG buffer
per mosaic. A pyramid is sent only while its cells are still the widget's cells: the check and
the send hold the same lock as :meth:`Overview.cells_changed`, so the browser never receives
mosaics after the cells that make them stale (it drops its mosaics when the cells change).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from vectorvision_widget.thumbs.pyramid import Pyramid, atlas_tiles, build_pyramid
from vectorvision_widget.thumbs.tiles import Atlas
from vectorvision_widget.widget.jobs import Job, JobRunner
from vectorvision_widget.widget.protocol import MosaicsReply, Reply

__all__ = ["Overview", "OverviewHost", "mosaics_replies"]

_POLL_S = 0.2  #: how often a waiting build looks whether the layout job has ended


class OverviewHost(Protocol):
    """What the overview needs from the widget."""

    @property
    def data_version(self) -> int: ...

    def atlases(self) -> list[Atlas]: ...

    def send(self, content: Reply, buffers: list[bytes] | None = None) -> None: ...


def mosaics_replies(
    pyramid: Pyramid, number: int, version: int
) -> list[tuple[MosaicsReply, list[bytes]]]:
    """The ``mosaics`` messages of ``pyramid`` (build ``number``), coarsest level first."""
    out: list[tuple[MosaicsReply, list[bytes]]] = []
    for lv in reversed(pyramid.levels):
        reply: MosaicsReply = {
            "type": "mosaics",
            "version": version,
            "pyramid": number,
            "level": lv.level,
            "levels": len(pyramid.levels),
            "cell": lv.cell,
            "width": lv.width,
            "height": lv.height,
            "side": lv.side,
            "cols": lv.cols,
            "rows": lv.rows,
        }
        out.append((reply, list(lv.jpegs)))
    return out


class Overview:
    """Builds, keeps and sends one widget's pyramid (composed into ``VectorVision``)."""

    def __init__(self, host: OverviewHost, runner: JobRunner, lock: threading.RLock) -> None:
        self._host = host
        self._runner = runner
        self._lock = lock  # the widget's: held while cells are pushed
        self._layout = 0  # bumped by every cells change
        self._cells: np.ndarray | None = None
        self._grid = (1, 1)
        self.pyramid: Pyramid | None = None
        self._number = 0  # of the kept pyramid
        self.build_s: float | None = None  #: seconds the last complete build took

    def cells_changed(self, cells: np.ndarray, grid: tuple[int, int]) -> None:
        """New cells (called with the widget's lock held, before they are sent); the caller
        calls :meth:`schedule` once it has released that lock."""
        with self._lock:
            self._layout += 1
            self._cells = np.array(cells, dtype=np.int32).reshape(-1, 2)
            self._grid = (int(grid[0]), int(grid[1]))
            self.pyramid = None

    def schedule(self) -> None:
        """(Re)start the build when every row has its atlas tile; else wait for more. Never
        with the widget's lock held: the job runner takes it (progress) under its own lock."""
        atlases: Sequence[Atlas] = self._host.atlases()
        with self._lock:
            cells, grid, layout = self._cells, self._grid, self._layout
        if cells is None or not len(cells) or sum(a.count for a in atlases) < len(cells):
            return
        version = self._host.data_version
        self._runner.start(
            "pyramid", lambda job: self._build(job, atlases, cells, grid, layout, version)
        )

    def replies(self) -> list[tuple[MosaicsReply, list[bytes]]]:
        """The kept pyramid's messages (for a view that renders late); [] while none is valid."""
        with self._lock:
            if self.pyramid is None:
                return []
            return mosaics_replies(self.pyramid, self._number, self._host.data_version)

    def _build(
        self,
        job: Job,
        atlases: Sequence[Atlas],
        cells: np.ndarray,
        grid: tuple[int, int],
        layout: int,
        version: int,
    ) -> None:
        while self._runner.running("layout"):  # the SOM is still moving images
            if job.cancel_event.wait(_POLL_S):
                return
        t0 = time.perf_counter()
        ordered = sorted(atlases, key=lambda a: a.first)
        tiles = np.concatenate([atlas_tiles(a) for a in ordered])[: len(cells)]
        pyramid = build_pyramid(tiles, cells, grid, cancelled=lambda: job.cancelled)
        if pyramid is None or job.cancelled:
            return
        with self._lock:
            if layout != self._layout or version != self._host.data_version:
                return  # the cells changed meanwhile: a newer build follows
            self.build_s = time.perf_counter() - t0
            self.pyramid = pyramid
            self._number += 1
            for reply, buffers in mosaics_replies(pyramid, self._number, version):
                self._host.send(reply, buffers)
