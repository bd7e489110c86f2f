"""Photo metadata from EXIF (taken, camera, gps, displayed size): real JPEGs written by Pillow
with EXIF, files without EXIF and with broken EXIF; the scan records the fields, rescans keep
them and the tags, and `vectorvision scan --refresh-metadata` re-reads unchanged files."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import vectorvision_widget as vv
import vectorvision_widget.models.keywords as keywords_module
from vectorvision_widget import cli
from vectorvision_widget.images.decode import file_metadata, open_image
from vectorvision_widget.library.store import Library
from vectorvision_widget.scanning.files import Failure, FileStat, prepare_file

SYDNEY = [-33.856, 151.21]


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VECTORVISION_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(keywords_module, "_MEMORY_CACHE", {})


def exif_jpeg(
    path: Path,
    *,
    size: tuple[int, int] = (64, 32),
    taken: str | None = "2023:07:14 18:03:21",
    offset: str | None = None,
    make: str | None = "Canon",
    model: str | None = "Canon EOS 5D",
    gps: tuple[str, tuple[float, ...], str, tuple[float, ...]] | None = (
        "S",
        (33.0, 51.0, 21.6),
        "E",
        (151.0, 12.0, 36.0),
    ),
    orientation: int | None = None,
    seed: int = 0,
) -> Path:
    """A JPEG whose EXIF Pillow writes: IFD0 Make/Model/Orientation, the Exif IFD's
    DateTimeOriginal/OffsetTimeOriginal and the GPS IFD."""
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    exif = Image.Exif()
    if make is not None:
        exif[0x010F] = make
    if model is not None:
        exif[0x0110] = model
    if orientation is not None:
        exif[0x0112] = orientation
    if taken is not None or offset is not None:
        ifd = exif.get_ifd(0x8769)
        if taken is not None:
            ifd[0x9003] = taken
        if offset is not None:
            ifd[0x9011] = offset
    if gps is not None:
        g = exif.get_ifd(0x8825)
        g[1], g[2], g[3], g[4] = gps
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, "JPEG", exif=exif.tobytes())
    return path


def meta_of(path: Path) -> dict[str, Any]:
    return dict(open_image(path).info["photo_metadata"])


def test_exif_fields_are_read(tmp_path: Path) -> None:
    path = exif_jpeg(tmp_path / "a.jpg", offset="+02:00")
    assert meta_of(path) == {
        "taken": "2023-07-14T18:03:21+02:00",
        "camera": "Canon EOS 5D",  # the make is not repeated
        "gps": SYDNEY,
    }
    assert file_metadata(path) == {**meta_of(path), "width": 64, "height": 32}


def test_make_and_model_are_joined_when_the_model_lacks_the_make(tmp_path: Path) -> None:
    path = exif_jpeg(tmp_path / "a.jpg", make="NIKON CORPORATION  ", model=" D750\x00", gps=None)
    assert meta_of(path) == {
        "taken": "2023-07-14T18:03:21",
        "camera": "NIKON CORPORATION D750",
        "gps": None,
    }


def test_orientation_6_swaps_width_and_height(tmp_path: Path, encoders: Any) -> None:
    path = exif_jpeg(tmp_path / "r.jpg", size=(80, 40), orientation=6)
    assert open_image(path).size == (40, 80)
    assert (file_metadata(path)["width"], file_metadata(path)["height"]) == (40, 80)
    got = prepare_file(str(path), FileStat(path.stat().st_size, 0.0), encoders)
    assert not isinstance(got, Failure)
    assert (got.record["width"], got.record["height"]) == (40, 80)
    assert got.record["taken"] == "2023-07-14T18:03:21"


def test_a_file_without_exif_has_none_fields(tmp_path: Path) -> None:
    path = tmp_path / "plain.png"
    Image.new("RGB", (30, 20), (1, 2, 3)).save(path)
    assert meta_of(path) == {"taken": None, "camera": None, "gps": None}
    assert file_metadata(path) == {
        "taken": None,
        "camera": None,
        "gps": None,
        "width": 30,
        "height": 20,
    }


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"taken": "0000:00:00 00:00:00"}, {"taken": None}),
        ({"taken": "2023:13:45 99:00:00"}, {"taken": None}),
        ({"offset": "+99:99"}, {"taken": "2023-07-14T18:03:21"}),
        ({"gps": ("N", (95.0, 0.0, 0.0), "E", (10.0, 0.0, 0.0))}, {"gps": None}),
        ({"gps": ("X", (45.0, 0.0, 0.0), "E", (10.0, 0.0, 0.0))}, {"gps": None}),
        ({"gps": ("N", (0.0, 0.0, 0.0), "E", (0.0, 0.0, 0.0))}, {"gps": None}),
        ({"gps": ("N", (45.5,), "W", (10.25,))}, {"gps": [45.5, -10.25]}),
        ({"make": None, "model": None}, {"camera": None}),
    ],
)
def test_bad_or_odd_values_give_none_for_that_field_only(
    tmp_path: Path, kwargs: dict[str, Any], expected: dict[str, Any]
) -> None:
    good = {"taken": "2023-07-14T18:03:21", "camera": "Canon EOS 5D", "gps": SYDNEY}
    assert meta_of(exif_jpeg(tmp_path / "a.jpg", **kwargs)) == {**good, **expected}


def broken_exif_jpeg(path: Path) -> Path:
    """A JPEG whose APP1 EXIF segment is garbage after its header (a truncated IFD)."""
    buf = io.BytesIO()
    Image.new("RGB", (16, 12), (200, 100, 50)).save(buf, "JPEG")
    jpeg = buf.getvalue()
    payload = b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff" + b"\x01" * 10
    app1 = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    path.write_bytes(jpeg[:2] + app1 + jpeg[2:])
    return path


def test_broken_exif_never_fails_the_file(tmp_path: Path, encoders: Any) -> None:
    path = broken_exif_jpeg(tmp_path / "broken_exif.jpg")
    assert meta_of(path) == {"taken": None, "camera": None, "gps": None}
    assert file_metadata(path)["width"] == 16
    lib = Library()
    report = vv.scan(tmp_path, lib, encoders=encoders, progress=False, thumbs=False)
    assert not report.failed
    assert lib.records[0]["taken"] is None and lib.records[0]["width"] == 16


def test_the_scan_stores_the_fields_and_a_rescan_keeps_them_and_the_tags(
    tmp_path: Path, encoders: Any
) -> None:
    photos = tmp_path / "photos"
    a = exif_jpeg(photos / "a.jpg", offset="-05:00")
    b = exif_jpeg(photos / "b.jpg", taken=None, make=None, model=None, gps=None, seed=1)
    lib = Library()
    vv.scan(photos, lib, encoders=encoders, progress=False, thumbs=False)
    ra = lib.records[lib.row_of(str(a)) or 0]
    assert (ra["taken"], ra["camera"], ra["gps"]) == (
        "2023-07-14T18:03:21-05:00",
        "Canon EOS 5D",
        SYDNEY,
    )
    rb = lib.records[lib.row_of(str(b)) or 0]
    assert (rb["taken"], rb["camera"], rb["gps"]) == (None, None, None)
    lib.tag([str(a), str(b)], "trip")
    lib.save(tmp_path / "lib.json")
    again = Library.load(tmp_path / "lib.json")
    assert again.records == lib.records
    # b changes: it is re-embedded, reads its new EXIF and keeps its tag
    exif_jpeg(b, taken="2024:01:02 03:04:05", make="Apple", model="iPhone 15", seed=2)
    os.utime(b, (1_700_000_000, 1_700_000_000))
    report = vv.scan(photos, again, encoders=encoders, progress=False, thumbs=False)
    assert report.updated == [str(b)] and report.unchanged == 1
    rb = again.records[again.row_of(str(b)) or 0]
    assert (rb["taken"], rb["camera"], rb["tags"]) == (
        "2024-01-02T03:04:05",
        "Apple iPhone 15",
        ["trip"],
    )
    assert again.tagged("trip") == sorted(again.row_of(str(p)) or 0 for p in (a, b))


def test_refresh_metadata_rereads_unchanged_files_without_embedding(
    tmp_path: Path, tiny_models_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    photos = tmp_path / "photos"
    a = exif_jpeg(photos / "a.jpg")
    library = tmp_path / "lib.json"
    argv = [
        "scan",
        str(photos),
        "--library",
        str(library),
        "--models-dir",
        str(tiny_models_dir),
        "--quiet",
    ]
    assert cli.main(argv) == 0
    # an old library: written before the scan read EXIF
    doc = json.loads(library.read_text())
    for rec in doc["images"]:
        for key in ("taken", "camera", "gps"):
            del rec[key]
        rec["width"], rec["height"] = 1, 1
    library.write_text(json.dumps(doc))
    old = Library.load(library)
    assert "taken" not in old.records[0]
    embedded: list[int] = []
    original = vv.Encoders.encode_pixels

    def counting(self: Any, siglip: np.ndarray, dino: np.ndarray) -> Any:
        embedded.append(len(siglip))
        return original(self, siglip, dino)

    monkeypatch.setattr(vv.Encoders, "encode_pixels", counting)
    assert cli.main(argv) == 0  # a plain rescan leaves unchanged files alone
    assert "taken" not in Library.load(library).records[0]
    assert cli.main([*argv, "--refresh-metadata"]) == 0
    assert "refreshed the photo metadata of 1 unchanged images" in capsys.readouterr().out
    rec = Library.load(library).records[0]
    assert rec["path"] == str(a)
    assert (rec["taken"], rec["camera"], rec["gps"]) == (
        "2023-07-14T18:03:21",
        "Canon EOS 5D",
        SYDNEY,
    )
    assert (rec["width"], rec["height"]) == (64, 32)
    assert embedded == []  # nothing was embedded again
