"""thumbcache.py: thumbnails kept from the scan beside the library; hits need no decode; stale,
corrupt or missing entries fall back to decoding and are rebuilt; never in the image folders."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import vectorvision_widget.models.keywords as keywords_module
import vectorvision_widget.thumbs.cache as thumbcache
import vectorvision_widget.thumbs.tiles as thumbnails
from vectorvision_widget.library.store import Library
from vectorvision_widget.scanning.engines import scan
from vectorvision_widget.thumbs.cache import (
    MID_SIZE,
    TILE_PX,
    CachedSharp,
    CachedTiles,
    ThumbStore,
    ThumbWriter,
    sidecar_dir,
)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VECTORVISION_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(keywords_module, "_MEMORY_CACHE", {})


def photos(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        arr = np.zeros((120, 160, 3), np.uint8)
        arr[..., 0] = 40 * i % 255
        arr[:, 80:, 2] = 200
        path = folder / f"p{i}.jpg"
        Image.fromarray(arr).save(path, quality=92)
        out.append(path)
    return out


@pytest.fixture
def scanned(tmp_path: Path, encoders: Any) -> dict[str, Any]:
    root = tmp_path / "photos"
    files = photos(root, 5)
    lib = Library()
    lib.path = tmp_path / "lib" / "library.json"
    lib.path.parent.mkdir()
    scan(root, lib, encoders=encoders, keywords=["red", "blue"], progress=False)
    lib.save()
    return {"root": root, "files": files, "lib": lib, "path": lib.path}


def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*a: Any, **kw: Any) -> Any:
        raise AssertionError("decoded an image although the cache had it")

    monkeypatch.setattr(thumbnails, "_open", refuse)
    monkeypatch.setattr(thumbcache, "_open", refuse)


def test_the_scan_keeps_tiles_beside_the_library_not_in_the_image_folder(
    scanned: dict[str, Any],
) -> None:
    folder = sidecar_dir(scanned["path"])
    assert folder == scanned["path"].with_name("library.thumbs") and folder.is_dir()
    assert sorted(p.name for p in scanned["root"].iterdir()) == [f"p{i}.jpg" for i in range(5)]
    assert len(ThumbStore(folder)) == 5


def test_reopening_reads_tiles_without_decoding(
    scanned: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    lib = Library.load(scanned["path"])
    reference = [thumbnails.TileCache().tile(p, 24, None)[0] for p in lib.paths]
    no_decoding(monkeypatch)
    tiles = CachedTiles(lib.path)
    colours = [r.get("color") for r in lib.records]
    atlases = list(tiles.build_atlases(lib.paths, colours, 24))
    assert tiles.hits == 5 and tiles.misses == 0
    assert len(atlases) == 1 and atlases[0][1] == []
    for p, ref in zip(lib.paths, reference, strict=True):
        got, ok = tiles.tile(p, 24, None)
        assert ok and got.shape == (24, 24, 3)
        assert np.abs(got.astype(int) - ref.astype(int)).mean() < 12  # same picture
    full, ok = tiles.tile(lib.paths[0], TILE_PX, None)
    assert ok and full.shape == (TILE_PX, TILE_PX, 3)
    mid = CachedSharp(lib.path).get(lib.paths[0], MID_SIZE, square=False)
    assert mid is not None and mid[:2] == b"\xff\xd8"
    assert Image.open(io.BytesIO(mid)).size == (160, 120)  # as SharpCache: never upscaled


def test_a_changed_file_is_a_miss_and_is_rebuilt(
    scanned: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = scanned["files"][2]
    os.utime(path, (10, 10))
    tiles = CachedTiles(scanned["path"])
    _, ok = tiles.tile(str(path), 16, None)
    assert ok and tiles.misses == 1
    tiles.flush()
    no_decoding(monkeypatch)
    again = CachedTiles(scanned["path"])
    _, ok = again.tile(str(path), 16, None)
    assert ok and again.hits == 1


@pytest.mark.parametrize("damage", ["flip_blob", "truncate", "garbage", "empty"])
def test_a_corrupt_pack_falls_back_to_decoding(scanned: dict[str, Any], damage: str) -> None:
    folder = sidecar_dir(scanned["path"])
    (pack,) = folder.glob("pack-*.vvt")
    raw = bytearray(pack.read_bytes())
    if damage == "flip_blob":
        raw[20:60] = bytes(40)
    elif damage == "truncate":
        raw = raw[: len(raw) // 2]
    elif damage == "garbage":
        raw = bytearray(os.urandom(len(raw)))
    else:
        raw = bytearray()
    pack.write_bytes(bytes(raw))
    lib = Library.load(scanned["path"])  # the library never needs the cache
    tiles = CachedTiles(lib.path)
    results = [tiles.tile(p, 16, None) for p in lib.paths]
    assert all(ok for _, ok in results)
    assert tiles.misses >= 1
    tiles.flush()
    healed = CachedTiles(lib.path)
    for p in lib.paths:
        healed.tile(p, 16, None)
    assert healed.hits == 5


def test_without_a_sidecar_everything_still_works(scanned: dict[str, Any]) -> None:
    import shutil

    shutil.rmtree(sidecar_dir(scanned["path"]))
    lib = Library.load(scanned["path"])
    assert len(lib) == 5
    assert CachedSharp(lib.path).get(lib.paths[0], MID_SIZE, square=False) is not None
    assert all(ok for _, ok in (CachedTiles(lib.path).tile(p, 16, None) for p in lib.paths))


def test_an_unwritable_sidecar_is_silently_skipped(tmp_path: Path, encoders: Any) -> None:
    photos(tmp_path / "photos", 2)
    lib = Library()
    lib.path = tmp_path / "library.json"
    sidecar_dir(lib.path).write_text("a file where the folder would go")
    report = scan(tmp_path / "photos", lib, encoders=encoders, keywords=["x"], progress=False)
    assert len(report.added) == 2 and report.failed == []
    tiles = CachedTiles(lib.path)
    assert all(tiles.tile(p, 16, None)[1] for p in lib.paths)
    tiles.flush()  # no exception


def test_no_sidecar_for_a_library_without_a_file(tmp_path: Path, encoders: Any) -> None:
    photos(tmp_path / "photos", 1)
    scan(tmp_path / "photos", Library(), encoders=encoders, keywords=["x"], progress=False)
    assert not list(tmp_path.glob("*.thumbs")) and not list(tmp_path.rglob("pack-*.vvt"))


def test_compaction_merges_packs_and_drops_removed_paths(tmp_path: Path) -> None:
    store = ThumbStore(tmp_path / "x.thumbs")
    tile = bytes(TILE_PX * TILE_PX * 3)
    for i in range(12):
        store.write([(f"/p/{i % 3}.jpg", 1, float(i), tile, b"\xff\xd8mid")])
    assert store.needs_compaction()
    store.compact(keep=["/p/0.jpg", "/p/1.jpg"])
    again = ThumbStore(tmp_path / "x.thumbs")
    assert len(list((tmp_path / "x.thumbs").glob("pack-*.vvt"))) == 1
    assert len(again) == 2 and again.tile("/p/0.jpg", 1, 9.0) is not None
    assert again.tile("/p/0.jpg", 1, 0.0) is None  # superseded version


def test_an_interrupted_scan_keeps_the_thumbnails_it_made(tmp_path: Path, encoders: Any) -> None:
    photos(tmp_path / "photos", 6)
    lib = Library()
    lib.path = tmp_path / "library.json"

    def stop(done: int, total: int, path: str) -> None:
        if done == 4:
            raise KeyboardInterrupt

    report = scan(
        tmp_path / "photos",
        lib,
        encoders=encoders,
        keywords=["x"],
        progress=False,
        on_progress=stop,
        batch_size=2,
    )
    assert report.interrupted
    store = ThumbStore(sidecar_dir(lib.path))
    assert len(store) == len(lib) >= 2


def test_each_library_file_name_has_its_own_sidecar(tmp_path: Path) -> None:
    names = ["lib.json", "lib.bak", "lib", "lib.bak.json", "LIB.JSON", "lib.thumbs"]
    folders = {sidecar_dir(tmp_path / n) for n in names}
    assert len(folders) == len(names)
    assert sidecar_dir(tmp_path / "library.json") == tmp_path / "library.thumbs"  # unchanged


def test_entries_of_removed_files_are_dropped_without_waiting_for_many_packs(
    tmp_path: Path,
) -> None:
    tile = bytes(TILE_PX * TILE_PX * 3)
    writer = ThumbWriter(tmp_path / "lib.json")
    paths = [f"/p/{i}.jpg" for i in range(40)]
    writer.store.write([(p, 1, 1.0, tile, b"m") for p in paths])  # one pack: no pack pressure
    writer.flush(keep=paths[:-1])  # one file gone: below the dead-weight threshold
    assert len(ThumbStore(writer.store.folder)) == 40
    writer.flush(keep=paths[:20])  # half the files gone
    again = ThumbStore(writer.store.folder)
    assert len(again) == 20 and again.mid(paths[0], 1, 1.0) == b"m"
    assert again.mid(paths[-1], 1, 1.0) is None


def test_a_fifo_named_like_a_pack_is_skipped_not_opened(tmp_path: Path) -> None:
    import threading

    folder = tmp_path / "lib.thumbs"
    ThumbStore(folder).write([("/p/a.jpg", 1, 1.0, bytes(TILE_PX * TILE_PX * 3), b"m")])
    os.mkfifo(folder / "pack-99999999999999999999-1-fifo.vvt")  # sorts after the real pack
    opened: list[ThumbStore] = []
    worker = threading.Thread(target=lambda: opened.append(ThumbStore(folder)), daemon=True)
    worker.start()
    worker.join(timeout=10)  # opening a FIFO for reading blocks until a writer comes: forever
    assert opened, "ThumbStore hung on a FIFO in the sidecar folder"
    assert opened[0].mid("/p/a.jpg", 1, 1.0) == b"m"


def test_a_pack_with_non_integer_offsets_is_skipped(tmp_path: Path) -> None:
    import json
    import zlib

    folder = tmp_path / "lib.thumbs"
    tile = bytes(TILE_PX * TILE_PX * 3)
    ThumbStore(folder).write([("/p/good.jpg", 1, 1.0, tile, b"g")])
    chunks = thumbcache._pack_bytes([("/p/odd.jpg", 1, 1.0, tile, b"o")])
    raw = json.loads(chunks[-2])
    raw["entries"][0][3] = float(raw["entries"][0][3]) + 0.5  # another tool's offsets
    index = json.dumps(raw).encode()
    chunks[-2:] = [index, thumbcache._TAIL.pack(len(index), zlib.crc32(index), thumbcache._MAGIC)]
    (folder / "pack-99999999999999999999-1-odd.vvt").write_bytes(b"".join(chunks))
    store = ThumbStore(folder)
    assert store.tile("/p/odd.jpg", 1, 1.0) is None  # the odd pack is skipped: a miss
    assert store.mid("/p/good.jpg", 1, 1.0) == b"g"  # the other packs still serve


def test_non_utf8_paths_round_trip_through_the_index(tmp_path: Path) -> None:
    store = ThumbStore(tmp_path / "s.thumbs")
    odd = "/photos/caf\udce9.jpg"
    store.write([(odd, 5, 1.5, bytes(TILE_PX * TILE_PX * 3), b"m")])
    assert ThumbStore(tmp_path / "s.thumbs").mid(odd, 5, 1.5) == b"m"


def test_writer_make_is_a_plain_function_for_remote_workers() -> None:
    import pickle

    made = pickle.loads(pickle.dumps(ThumbWriter.make))(Image.new("RGB", (300, 200), "red"))
    assert len(made["tile"]) == TILE_PX * TILE_PX * 3 and made["mid"][:2] == b"\xff\xd8"
