"""The overview's tile pyramid (thumbs/pyramid.py) and its wiring in the widget (overview.py):
level sizes, mosaic geometry, downsampling against a direct block mean, tiles in their cells,
and a rebuild (never a stale send) when the cells change."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import capture_sends
from PIL import Image

import vectorvision_widget as vv
from vectorvision_widget.thumbs import pyramid as pyr
from vectorvision_widget.thumbs.tiles import Atlas, atlas_image, encode_jpeg
from vectorvision_widget.widget import overview

COLOURS = [(220, 30, 30), (30, 200, 40), (40, 60, 230), (240, 220, 20), (20, 220, 220)]


def _decode(jpeg: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"), dtype=float)


def _level_image(level: pyr.Level) -> np.ndarray:
    """A level put back together from its mosaics."""
    out = np.zeros((level.height, level.width, 3))
    for i, jpeg in enumerate(level.jpegs):
        r, c = divmod(i, level.cols)
        tile = _decode(jpeg)
        out[r * level.side : r * level.side + tile.shape[0], c * level.side :][
            :, : tile.shape[1]
        ] = tile
    return out


def test_level_sizes_halve_rounding_up_until_one_mosaic_holds_the_map() -> None:
    assert pyr.level_sizes(6048, 6048, 512) == [
        (6048, 6048),
        (3024, 3024),
        (1512, 1512),
        (756, 756),
        (378, 378),
    ]
    assert pyr.level_sizes(1025, 300, 256) == [(1025, 300), (513, 150), (257, 75), (129, 38)]
    assert pyr.level_sizes(100, 50, 512) == [(100, 50)]


def test_mosaics_cut_each_level_row_major_with_narrower_edges() -> None:
    rng = np.random.default_rng(0)
    grid = (5, 9)  # 9 × 5 cells of 8 px: level 0 is 72 × 40 px
    tiles = rng.integers(0, 256, size=(40, 8, 8, 3), dtype=np.uint8)
    cells = np.stack(np.divmod(rng.permutation(45)[:40], 9), axis=1)
    p = pyr.build_pyramid(tiles, cells, grid, side=32)
    assert p is not None
    assert [(lv.width, lv.height, lv.cols, lv.rows) for lv in p.levels] == [
        (72, 40, 3, 2),
        (36, 20, 2, 1),
        (18, 10, 1, 1),
    ]
    assert [lv.cell for lv in p.levels] == [8, 4, 2]
    first = p.levels[0]
    sizes = [_decode(j).shape[:2] for j in first.jpegs]
    assert sizes == [(32, 32), (32, 32), (32, 8), (8, 32), (8, 32), (8, 8)]


def test_each_tile_lands_in_its_cell_and_empty_cells_are_grey() -> None:
    tiles = np.array([np.full((4, 4, 3), c, np.uint8) for c in COLOURS[:3]])
    cells = np.array([[1, 2], [0, 0], [1, 0]])
    img = pyr.map_image(tiles, cells, (2, 3))
    assert img.shape == (8, 12, 3)
    for row, (r, c) in enumerate(cells):
        assert (img[r * 4 : r * 4 + 4, c * 4 : c * 4 + 4] == COLOURS[row]).all()
    assert (img[0:4, 4:8] == pyr.EMPTY_GREY).all()  # cell (0, 1) is empty
    with pytest.raises(ValueError, match=r"\(N, 2\) cells"):
        pyr.map_image(tiles, cells[:2], (2, 3))


def test_every_level_is_the_block_mean_of_level_zero() -> None:
    rng = np.random.default_rng(1)
    tiles = rng.integers(0, 256, size=(16, 4, 4, 3), dtype=np.uint8)
    cells = np.stack(np.divmod(np.arange(16), 4), axis=1)
    base = pyr.map_image(tiles, cells, (4, 4)).astype(float)  # 16 × 16 px
    img = base.astype(np.uint8)
    for level in range(1, 5):
        img = pyr.downsample(img)
        b = 2**level
        reference = base.reshape(16 // b, b, 16 // b, b, 3).mean(axis=(1, 3))
        assert img.shape == reference.shape
        assert np.abs(img - reference).max() <= level  # one rounding per halving at most
    odd = pyr.downsample(np.arange(27, dtype=np.uint8).reshape(3, 3, 3))
    assert odd.shape == (2, 2, 3)  # rounded up, the edge repeated
    assert (odd[1, 1] == np.arange(24, 27)).all()


def test_atlas_tiles_decode_an_atlas_back_into_its_tiles() -> None:
    tiles = np.array([np.full((8, 8, 3), COLOURS[i % 5], np.uint8) for i in range(37)])
    atlas = Atlas(0, 0, 37, 8, 32, encode_jpeg(atlas_image(tiles, 32), quality=90))
    back = pyr.atlas_tiles(atlas)
    assert back.shape == (37, 8, 8, 3)
    centres = back[:, 2:6, 2:6].reshape(37, -1, 3).mean(axis=1)  # JPEG blurs tile edges
    assert np.abs(centres - tiles[:, 0, 0]).max() < 20
    short = Atlas(1, 1024, 3, 8, 32, encode_jpeg(atlas_image(tiles[:3], 32)))
    assert pyr.atlas_tiles(short).shape == (3, 8, 8, 3)
    wrong = Atlas(2, 0, 37, 16, 32, atlas.jpeg)
    with pytest.raises(ValueError, match="atlas 2: image is 256×16 px"):
        pyr.atlas_tiles(wrong)


def test_a_cancelled_build_returns_none() -> None:
    tiles = np.zeros((4, 8, 8, 3), np.uint8)
    cells = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    assert pyr.build_pyramid(tiles, cells, (2, 2), cancelled=lambda: True) is None


# ---------------------------------------------------------------------- in the widget


def _library(tmp_path: Path, n: int = 5) -> Any:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        p = tmp_path / f"img_{i}.png"
        Image.new("RGB", (40, 30), COLOURS[i]).save(p)
        paths.append(str(p))
    records = [{"path": p, "color": list(COLOURS[i])} for i, p in enumerate(paths)]
    return vv.Library.from_arrays(
        paths, rng.normal(size=(n, 8)), rng.normal(size=(n, 6)), records=records
    )


def _mosaic_cells(sent: list[tuple[dict[str, Any], list[bytes]]]) -> tuple[int, np.ndarray]:
    """(pyramid number, level-0 image) of the last pyramid sent."""
    mosaics = [(c, b) for c, b in sent if c["type"] == "mosaics"]
    head, bufs = next((c, b) for c, b in reversed(mosaics) if c["level"] == 0)
    assert head["cols"] * head["rows"] == len(bufs) == 1
    return head["pyramid"], _decode(bufs[0])


def _check_cells(img: np.ndarray, cells: np.ndarray, t: int) -> None:
    for row, (r, c) in enumerate(cells):
        centre = img[r * t + t // 4 : r * t + 3 * t // 4, c * t + t // 4 : c * t + 3 * t // 4]
        assert np.abs(centre.reshape(-1, 3).mean(0) - COLOURS[row]).max() < 25, row


def test_the_widget_sends_mosaics_of_its_cells_and_rebuilds_when_they_change(
    tmp_path: Path,
) -> None:
    w = vv.VectorVision(_library(tmp_path), thumb_size=16)
    assert w.wait(30)
    sent = capture_sends(w)
    w._requests.handle({"type": "hello"})
    kinds = [c["type"] for c, _ in sent]
    assert kinds.index("mosaics") < kinds.index("atlas")  # the overview first
    number, img = _mosaic_cells(sent)
    _check_cells(img, w.cells, 16)
    moved = w.cells[::-1].copy()  # every image to another's cell
    w.set_layout(moved)
    assert w.wait(30)
    new_number, new_img = _mosaic_cells(sent)
    assert new_number > number
    _check_cells(new_img, moved, 16)
    w.close()


def test_a_pyramid_whose_cells_changed_while_it_was_built_is_never_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = vv.VectorVision(_library(tmp_path), thumb_size=16)
    assert w.wait(30)
    sent = capture_sends(w)
    real = overview.build_pyramid
    moved = w.cells[::-1].copy()
    calls: list[np.ndarray] = []

    def build_then_move(tiles: np.ndarray, cells: np.ndarray, *a: Any, **k: Any) -> Any:
        calls.append(cells)
        if len(calls) == 1:  # a layout push lands while the first build runs
            w.set_layout(moved)
        return real(tiles, cells, *a, **k)

    monkeypatch.setattr(overview, "build_pyramid", build_then_move)
    w._overview.schedule()
    assert w.wait(30)
    assert len(calls) == 2
    mosaics = [c for c, _ in sent if c["type"] == "mosaics"]
    assert {c["pyramid"] for c in mosaics} == {w._overview._number}  # only the second build
    _check_cells(_mosaic_cells(sent)[1], moved, 16)
    w.close()
