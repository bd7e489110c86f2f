"""analyzer.scan end to end with the tiny models: bad input, odd modes, incremental rescans,
interruption, the decode/inference overlap and the records' contents."""

from __future__ import annotations

import hashlib
import io
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import png_bomb
from PIL import Image

import vectorvision_widget.models.keywords as keywords_module
from vectorvision_widget.library.store import Library
from vectorvision_widget.models.keywords import KeywordTagger
from vectorvision_widget.scanning.engines import scan
from vectorvision_widget.scanning.files import Failure
from vectorvision_widget.scanning.procedure import ScanReport

LABELS = ["red", "green", "blue", "a car", "a yellow flower", "grey wall", "the sea"]
SCALE, BIAS = 117.330765, -12.932437  # exp(logit_scale), logit_bias of siglip-base-patch16-224


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keyword label cache in a temp folder (never the user's ~/.cache)."""
    monkeypatch.setenv("VECTORVISION_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(keywords_module, "_MEMORY_CACHE", {})


@pytest.fixture
def tagger(encoders: Any) -> KeywordTagger:
    return KeywordTagger(encoders, LABELS)


@pytest.fixture
def encoded(encoders: Any, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts images that go through encode_pixels (one entry per batch: its size)."""
    calls: list[int] = []
    original = encoders.encode_pixels

    def counting(siglip: np.ndarray, dino: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        calls.append(len(siglip))
        return original(siglip, dino)

    monkeypatch.setattr(encoders, "encode_pixels", counting)
    return calls


# --- image factories --------------------------------------------------------------------------


def photo(w: int, h: int, seed: int) -> Image.Image:
    """A smooth gradient with a little noise: realistic for JPEG, distinct per seed."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = rng.uniform(30, 220, 3)
    slope = rng.uniform(-60, 60, (2, 3))
    arr = base + (x / max(w, 1))[..., None] * slope[0] + (y / max(h, 1))[..., None] * slope[1]
    arr += rng.normal(0, 4, arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def two_colour(
    w: int, h: int, left: tuple[int, int, int], right: tuple[int, int, int], split: float = 0.7
) -> Image.Image:
    arr = np.empty((h, w, 3), np.uint8)
    cut = int(w * split)
    arr[:, :cut] = left
    arr[:, cut:] = right
    return Image.fromarray(arr, "RGB")


def save(img: Image.Image, path: Path, fmt: str | None = None, **kw: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, fmt, **kw)
    return path


def jpeg_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def exif_rotated(img: Image.Image, path: Path, orientation: int) -> Path:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return save(img, path, "JPEG", exif=exif.tobytes(), quality=92)


def make_folder(root: Path) -> dict[str, Any]:
    """Good, odd and broken files; returns {"good": {path: (w, h)}, "bad": {path: reason_re},
    "skipped": [paths]}."""
    good: dict[Path, tuple[int, int]] = {}
    bad: dict[Path, str] = {}
    skipped: list[Path] = []

    good[save(photo(320, 240, 1), root / "plain.jpg", quality=90)] = (320, 240)
    good[save(two_colour(200, 100, (220, 30, 30), (30, 60, 220)), root / "flag.png")] = (200, 100)
    good[save(photo(64, 48, 2), root / "UPPER.JPG", "JPEG")] = (64, 48)
    good[save(photo(90, 60, 3), root / "café 写真 ünï.jpg")] = (90, 60)
    noext = root / "sub" / "camera_dump"
    noext.parent.mkdir(parents=True)
    noext.write_bytes(jpeg_bytes(photo(80, 60, 4)))
    good[noext] = (80, 60)
    cmyk = Image.new("CMYK", (64, 64), (0, 255, 255, 0))  # red in CMYK
    good[save(cmyk, root / "odd" / "cmyk.jpg", "JPEG")] = (64, 64)
    deep = np.full((40, 50), 40000, np.uint16)
    good[save(Image.fromarray(deep), root / "odd" / "16bit.png")] = (50, 40)
    pal = Image.new("P", (60, 30), 0)
    pal.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    pal.paste(1, (30, 0, 60, 30))
    good[save(pal, root / "odd" / "palette_transparent.png", transparency=0)] = (60, 30)
    frames = [Image.new("RGB", (40, 30), c) for c in ((230, 20, 20), (20, 20, 230))]
    good[
        save(
            frames[0],
            root / "odd" / "anim.gif",
            save_all=True,
            append_images=frames[1:],
            duration=100,
            loop=0,
        )
    ] = (40, 30)
    pages = [Image.new("RGB", (70, 50), (20, 200, 20)), Image.new("RGB", (30, 30), (0, 0, 0))]
    good[save(pages[0], root / "odd" / "pages.tiff", save_all=True, append_images=pages[1:])] = (
        70,
        50,
    )
    good[save(Image.new("RGB", (1, 1), (10, 200, 10)), root / "odd" / "one.png")] = (1, 1)
    good[save(photo(1, 4000, 5), root / "odd" / "sliver.png")] = (1, 4000)
    good[save(photo(300, 120, 6), root / "odd" / "wide.webp", "WEBP")] = (300, 120)
    good[save(photo(64, 40, 7), root / "odd" / "bitmap.bmp")] = (64, 40)
    # EXIF orientation 6 (rotate 90° CW to display): stored 400×200, shown 200×400
    good[exif_rotated(photo(400, 200, 8), root / "odd" / "rotated.jpg", 6)] = (200, 400)
    # the same but big enough for the reduced-size JPEG draft: stored 1200×600, shown 600×1200
    good[exif_rotated(photo(1200, 600, 9), root / "odd" / "rotated_big.jpg", 8)] = (600, 1200)

    broken = root / "broken"
    broken.mkdir()
    (broken / "random.jpg").write_bytes(np.random.default_rng(0).bytes(3000))
    bad[broken / "random.jpg"] = r"not an image|cannot (open|decode)"
    whole = jpeg_bytes(photo(400, 300, 10))
    (broken / "truncated.jpg").write_bytes(whole[: len(whole) // 2])
    bad[broken / "truncated.jpg"] = r"truncat"
    (broken / "empty.png").write_bytes(b"")
    bad[broken / "empty.png"] = r"empty"
    (broken / "notes.png").write_text("shopping list: milk, eggs\n" * 20)
    bad[broken / "notes.png"] = r"not an image"
    (broken / "bomb.png").write_bytes(png_bomb())
    bad[broken / "bomb.png"] = r"pixels"
    (broken / "page.gif").write_text("<!DOCTYPE html><html><body>403 Forbidden</body></html>")
    bad[broken / "page.gif"] = r"not an image"

    for rel in (".hidden.jpg", "._plain.jpg", "__MACOSX/x.jpg", ".thumbs/y.jpg", "sub/._z.jpg"):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(jpeg_bytes(photo(32, 32, 11)))
        skipped.append(path)
    (root / "readme.txt").write_text("not an image, no image extension: silently ignored")
    skipped.append(root / "readme.txt")
    (root / "sub" / "loop").symlink_to(root, target_is_directory=True)
    (root / "0_link_to_plain.jpg").symlink_to(root / "plain.jpg")
    skipped += [root / "0_link_to_plain.jpg"]
    return {
        "good": {str(p): wh for p, wh in good.items()},
        "bad": {str(p): r for p, r in bad.items()},
        "skipped": [str(p) for p in skipped],
    }


def listing(root: Path) -> dict[str, tuple[int, int]]:
    """Every entry under root (links not followed) with size and mtime_ns, root included."""
    out = {".": (0, root.stat().st_mtime_ns)}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            out[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return out


def expected_keywords(features: np.ndarray, label_emb: np.ndarray) -> list[list[str]]:
    """The rule documented in keywords.py, recomputed: top 5 by logit, p >= max(1e-3, .1·best)."""
    logits = SCALE * (features.astype(np.float64) @ label_emb.astype(np.float64).T) + BIAS
    probs = 1.0 / (1.0 + np.exp(-logits))
    out = []
    for p, lg in zip(probs, logits, strict=True):
        order = sorted(range(len(LABELS)), key=lambda i: -lg[i])[:5]
        floor = max(1e-3, 0.1 * p[order[0]])
        out.append([LABELS[i] for i in order if p[i] >= floor] or [LABELS[order[0]]])
    return out


# --- the big end-to-end scan ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory, tiny_models_dir: Path) -> dict[str, Any]:
    """One scan of the generated folder, shared by the checks below (module scope: fast)."""
    from vectorvision_widget.models.encoders import Encoders

    root = tmp_path_factory.mktemp("photos")
    layout = make_folder(root)
    encoders = Encoders.load(tiny_models_dir, batch_size=4)
    before = listing(root)
    lib = Library()
    tagger = KeywordTagger(encoders, LABELS, cache_dir=tmp_path_factory.mktemp("kwcache"))
    report = scan(root, lib, encoders=encoders, keywords=tagger, progress=False, workers=3)
    return {
        "root": root,
        "lib": lib,
        "report": report,
        "encoders": encoders,
        "before": before,
        **layout,
    }


def test_scan_indexes_every_good_file_and_nothing_else(scanned: dict[str, Any]) -> None:
    lib, report = scanned["lib"], scanned["report"]
    assert isinstance(report, ScanReport)
    assert sorted(lib.paths) == sorted(scanned["good"])
    assert sorted(report.added) == sorted(scanned["good"])
    assert report.updated == [] and report.removed == [] and not report.interrupted
    for path in scanned["skipped"]:
        assert path not in lib.paths
        assert path not in {f.path for f in report.failed}
    assert len(lib) == len(set(lib.paths))
    assert len({r["sha256"] for r in lib.records}) == len(lib)  # the symlinked copy is not twice
    assert str(scanned["root"]) in lib.roots
    assert f"{len(scanned['good'])} added" in report.summary()


def test_every_bad_file_is_reported_with_a_specific_reason(scanned: dict[str, Any]) -> None:
    import re

    report, lib = scanned["report"], scanned["lib"]
    failed = {f.path: f.error for f in report.failed}
    assert sorted(failed) == sorted(scanned["bad"])
    for path, pattern in scanned["bad"].items():
        assert re.search(pattern, failed[path], re.IGNORECASE), (path, failed[path])
        assert path not in lib.paths
    assert all(isinstance(f, Failure) for f in report.failed)
    assert sorted(f["path"] for f in lib.failures) == sorted(scanned["bad"])
    assert {f["path"]: f["error"] for f in lib.failures} == failed


def test_scan_never_writes_into_the_image_folder(scanned: dict[str, Any]) -> None:
    assert listing(scanned["root"]) == scanned["before"]


def test_sizes_are_as_displayed(scanned: dict[str, Any]) -> None:
    lib = scanned["lib"]
    for path, (w, h) in scanned["good"].items():
        rec = lib.records[lib.row_of(path)]
        assert (rec["width"], rec["height"]) == (w, h), path


def test_records_carry_file_facts_and_colours(scanned: dict[str, Any]) -> None:
    lib = scanned["lib"]
    for path in scanned["good"]:
        rec = lib.records[lib.row_of(path)]
        st = os.stat(path)
        assert rec["size"] == st.st_size
        assert rec["mtime"] == st.st_mtime
        assert rec["sha256"] == hashlib.sha256(Path(path).read_bytes()).hexdigest()
        assert len(rec["color"]) == 3 and all(0 <= c <= 255 for c in rec["color"])
        assert 1 <= len(rec["palette"]) <= 5
    # average colours, recomputed from the decoded pixels
    for name in ("plain.jpg", "flag.png", "odd/bitmap.bmp"):
        path = str(scanned["root"] / name)
        want = np.asarray(Image.open(path).convert("RGB"), np.float64).mean(axis=(0, 1))
        got = lib.records[lib.row_of(path)]["color"]
        np.testing.assert_allclose(got, want, atol=4)
    flag = lib.records[lib.row_of(str(scanned["root"] / "flag.png"))]["palette"]
    np.testing.assert_allclose(flag[0], (220, 30, 30), atol=12)  # 70 % red: most common first
    np.testing.assert_allclose(flag[1], (30, 60, 220), atol=12)


def test_odd_modes_keep_their_colours(scanned: dict[str, Any]) -> None:
    lib, root = scanned["lib"], scanned["root"]

    def colour(rel: str) -> np.ndarray:
        return np.array(lib.records[lib.row_of(str(root / rel))]["color"])

    r, g, b = colour("odd/cmyk.jpg")
    assert r > 180 and g < 80 and b < 80  # CMYK red is red, not inverted
    np.testing.assert_allclose(colour("odd/16bit.png"), [40000 / 257] * 3, atol=2)  # scaled
    r, g, b = colour("odd/anim.gif")
    assert r > 180 and b < 80  # the first frame
    r, g, b = colour("odd/pages.tiff")
    assert g > 150 and r < 80  # the first page
    # palette index 0 is transparent: the models see the left half on grey, but the average
    # colour is of the visible pixels only (the blue right half), not a grey-blue mix
    np.testing.assert_allclose(colour("odd/palette_transparent.png"), [0, 0, 255], atol=3)


def test_vectors_equal_embed_images_of_the_same_files(scanned: dict[str, Any]) -> None:
    lib, encoders = scanned["lib"], scanned["encoders"]
    paths = sorted(scanned["good"])
    feats, visual = encoders.embed_images(paths)
    rows = [lib.row_of(p) for p in paths]
    np.testing.assert_allclose(lib.features[rows], feats, atol=1e-5)
    np.testing.assert_allclose(lib.visual_features[rows], visual, atol=1e-5)
    assert lib.has_visual.all()
    assert lib.models["features"]["dim"] == encoders.feature_dim


def test_exif_rotation_is_applied_before_embedding(scanned: dict[str, Any]) -> None:
    lib, encoders, root = scanned["lib"], scanned["encoders"], scanned["root"]
    stored = Image.open(root / "odd" / "rotated.jpg")
    upright = stored.convert("RGB").transpose(Image.Transpose.ROTATE_270)  # orientation 6
    feats, visual = encoders.embed_images([upright])
    row = lib.row_of(str(root / "odd" / "rotated.jpg"))
    np.testing.assert_allclose(lib.features[row], feats[0], atol=1e-5)
    np.testing.assert_allclose(lib.visual_features[row], visual[0], atol=1e-5)


def test_keywords_match_an_independent_computation(scanned: dict[str, Any]) -> None:
    lib, encoders = scanned["lib"], scanned["encoders"]
    label_emb = encoders.embed_texts([f"This is a photo of {lab}." for lab in LABELS])
    want = expected_keywords(lib.features, label_emb)
    for rec, labels in zip(lib.records, want, strict=True):
        assert [k["label"] for k in rec["keywords"]] == labels, rec["path"]
        assert all(0.0 <= k["score"] <= 1.0 for k in rec["keywords"])


def test_saved_library_round_trips_and_rescans_as_unchanged(
    scanned: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "lib.json"
    scanned["lib"].save(path)
    lib = Library.load(path)
    assert sorted(lib.paths) == sorted(scanned["good"])
    assert len(lib.failures) == len(scanned["bad"])
    encoders = scanned["encoders"]
    calls: list[int] = []
    original = encoders.encode_pixels
    monkeypatch.setattr(
        encoders, "encode_pixels", lambda s, d: calls.append(len(s)) or original(s, d)
    )
    report = scan(scanned["root"], lib, encoders=encoders, keywords=LABELS, progress=False)
    assert sum(calls) == 0  # only the broken files are retried, and they fail again
    assert report.unchanged == len(scanned["good"]) and report.added == []
    assert sorted(f.path for f in report.failed) == sorted(scanned["bad"])
    assert listing(scanned["root"]) == scanned["before"]


# --- incremental rescans -----------------------------------------------------------------------


def _small_folder(root: Path, n: int = 6) -> list[Path]:
    return [save(photo(48, 36, 100 + i), root / f"img{i:02d}.jpg", quality=90) for i in range(n)]


def test_incremental_rescan(
    tmp_path: Path, encoders: Any, encoded: list[int], tagger: KeywordTagger
) -> None:
    root = tmp_path / "photos"
    files = _small_folder(root)
    lib = Library()
    first = scan(root, lib, encoders=encoders, keywords=tagger, progress=False)
    assert sum(encoded) == 6 and len(first.added) == 6

    encoded.clear()
    again = scan(root, lib, encoders=encoders, keywords=tagger, progress=False)
    assert sum(encoded) == 0
    assert (again.added, again.updated, again.removed, again.unchanged) == ([], [], [], 6)

    # change one (content and mtime), delete one, add one
    save(photo(48, 36, 999), files[0], "JPEG")
    os.utime(files[0], (time.time() + 5, time.time() + 5))
    files[1].unlink()
    new = save(photo(50, 30, 1000), root / "new.png")
    encoded.clear()
    report = scan(root, lib, encoders=encoders, keywords=tagger, progress=False)
    assert sum(encoded) == 2
    assert report.updated == [str(files[0])]
    assert report.removed == [str(files[1])]
    assert report.added == [str(new)]
    assert report.unchanged == 4
    assert sorted(lib.paths) == sorted(map(str, [*files[:1], *files[2:], new]))
    feats, visual = encoders.embed_images([files[0], new])
    for i, p in enumerate([files[0], new]):
        row = lib.row_of(str(p))
        np.testing.assert_allclose(lib.features[row], feats[i], atol=1e-5)
        np.testing.assert_allclose(lib.visual_features[row], visual[i], atol=1e-5)
        assert lib.records[row]["sha256"] == hashlib.sha256(p.read_bytes()).hexdigest()

    # a record without visual features (e.g. from the legacy desktop app) is re-embedded
    row = lib.row_of(str(files[2]))
    lib.upsert(lib.records[row], lib.features[row], None)
    assert lib.missing_visual_count == 1
    encoded.clear()
    report = scan(root, lib, encoders=encoders, keywords=tagger, progress=False)
    assert sum(encoded) == 1 and report.updated == [str(files[2])]
    assert lib.missing_visual_count == 0

    # force re-embeds everything
    encoded.clear()
    report = scan(root, lib, encoders=encoders, force=True, keywords=tagger, progress=False)
    assert sum(encoded) == len(lib) == 6
    assert sorted(report.updated) == sorted(lib.paths) and report.unchanged == 0


def test_a_file_that_became_unreadable_leaves_the_library(
    tmp_path: Path, encoders: Any, tagger: KeywordTagger
) -> None:
    root = tmp_path / "photos"
    files = _small_folder(root, 3)
    lib = Library()
    scan(root, lib, encoders=encoders, keywords=tagger, progress=False)
    files[1].write_bytes(b"oops")
    report = scan(root, lib, encoders=encoders, keywords=tagger, progress=False)
    assert [f.path for f in report.failed] == [str(files[1])]
    assert report.removed == [str(files[1])]
    assert str(files[1]) not in lib.paths and len(lib) == 2
    assert [f["path"] for f in lib.failures] == [str(files[1])]
    # repaired: indexed again, and the old failure is forgotten
    save(photo(48, 36, 7), files[1], "JPEG")
    report = scan(root, lib, encoders=encoders, keywords=tagger, progress=False)
    assert report.added == [str(files[1])] and report.failed == []
    assert lib.failures == []


def test_two_libraries_coexist_in_separate_files(
    tmp_path: Path, encoders: Any, encoded: list[int], tagger: KeywordTagger
) -> None:
    a = _small_folder(tmp_path / "a", 3)
    b = _small_folder(tmp_path / "b", 2)
    lib_a, lib_b = Library(), Library()
    scan(tmp_path / "a", lib_a, encoders=encoders, keywords=tagger, progress=False)
    scan(tmp_path / "b", lib_b, encoders=encoders, keywords=tagger, progress=False)
    lib_a.save(tmp_path / "a.json")
    lib_b.save(tmp_path / "b.json")
    la, lb = Library.load(tmp_path / "a.json"), Library.load(tmp_path / "b.json")
    assert sorted(la.paths) == sorted(map(str, a))
    assert sorted(lb.paths) == sorted(map(str, b))
    encoded.clear()  # reloaded libraries know their files are unchanged (mtime survives JSON)
    assert (
        scan(tmp_path / "a", la, encoders=encoders, keywords=tagger, progress=False).unchanged == 3
    )
    assert (
        scan(tmp_path / "b", lb, encoders=encoders, keywords=tagger, progress=False).unchanged == 2
    )
    assert sum(encoded) == 0


def test_scanning_a_missing_folder_is_an_error(tmp_path: Path, encoders: Any) -> None:
    with pytest.raises(NotADirectoryError, match="nope"):
        scan(tmp_path / "nope", Library(), encoders=encoders, progress=False)


# --- interruption and the pipeline --------------------------------------------------------------


def _decode_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("vv-decode")]


def test_keyboard_interrupt_keeps_what_was_done(
    tmp_path: Path, encoders: Any, tagger: KeywordTagger
) -> None:
    root = tmp_path / "photos"
    files = _small_folder(root, 12)
    lib = Library()
    seen: list[int] = []

    def stop_after_six(done: int, total: int, path: str) -> None:
        seen.append(done)
        assert total == 12
        if done == 6:
            raise KeyboardInterrupt

    report = scan(
        root,
        lib,
        encoders=encoders,
        keywords=tagger,
        progress=False,
        on_progress=stop_after_six,
        batch_size=4,
        workers=2,
    )
    assert report.interrupted
    assert "interrupted" in report.summary()
    assert seen == [1, 2, 3, 4, 5, 6]
    assert 4 <= len(lib) < 12  # the first batch of 4 was flushed
    assert set(report.added) == set(lib.paths)
    feats, _ = encoders.embed_images(lib.paths)
    np.testing.assert_allclose(lib.features, feats, atol=1e-5)
    assert _decode_threads() == []
    # the next scan finishes the job
    report = scan(root, lib, encoders=encoders, keywords=tagger, progress=False)
    assert not report.interrupted and sorted(lib.paths) == sorted(map(str, files))


def test_decoding_overlaps_inference(
    tmp_path: Path, encoders: Any, tagger: KeywordTagger, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "photos"
    for i in range(16):
        save(photo(640, 480, 200 + i), root / f"p{i:02d}.jpg", quality=90)
    original = encoders.encode_pixels

    def slow(siglip: np.ndarray, dino: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        time.sleep(0.04)  # a GPU-less big model, in miniature
        return original(siglip, dino)

    monkeypatch.setattr(encoders, "encode_pixels", slow)
    report = scan(
        root,
        Library(),
        encoders=encoders,
        keywords=tagger,
        progress=False,
        batch_size=4,
        workers=2,
        trace=True,
    )
    decodes = [(a, b) for kind, a, b in report.trace if kind == "decode"]
    infers = [(a, b) for kind, a, b in report.trace if kind == "inference"]
    assert len(decodes) == 16 and len(infers) == 4
    overlapping = [
        (d, i) for d in decodes for i in infers if d[0] < i[1] and i[0] < d[1]
    ]  # intervals that share time
    assert len(overlapping) >= 2
    # decoding was not all done before inference started (it really is a pipeline)
    assert max(b for _, b in decodes) > min(a for a, _ in infers)
    assert report.timings["inference_s"] >= 4 * 0.04


def test_progress_callback_and_timings(
    tmp_path: Path, encoders: Any, tagger: KeywordTagger
) -> None:
    root = tmp_path / "photos"
    _small_folder(root, 5)
    calls: list[tuple[int, int, str]] = []
    on_progress: Callable[[int, int, str], None] = lambda d, t, p: calls.append((d, t, p))  # noqa: E731
    report = scan(
        root, Library(), encoders=encoders, keywords=tagger, progress=False, on_progress=on_progress
    )
    assert [c[:2] for c in calls] == [(i, 5) for i in range(1, 6)]
    assert sorted(c[2] for c in calls) == sorted(report.added)
    for key in ("walk_s", "decode_wait_s", "inference_s", "keywords_s", "total_s"):
        assert report.timings[key] >= 0.0
    assert report.timings["images_per_s"] > 0


def test_unsupported_and_unsavable_names_are_failures_not_losses(
    tmp_path: Path, encoders: Any, tagger: KeywordTagger
) -> None:
    root = tmp_path / "photos"
    files = _small_folder(root, 2)
    (root / "phone.heic").write_bytes(b"\x00\x00\x00\x18ftypheic" + bytes(200))  # no plugin
    latin1 = os.fsencode(root) + b"/caf\xe9.jpg"  # a Latin-1 name: not valid UTF-8
    with open(latin1, "wb") as fh:
        fh.write(jpeg_bytes(photo(40, 30, 6)))
    lib = Library()
    report = scan(root, lib, encoders=encoders, keywords=tagger, progress=False)
    from vectorvision_widget.scanning.files import library_stores_any_path

    failed = {f.path: f.error for f in report.failed}
    assert re.search(r"not an image format", failed.pop(str(root / "phone.heic")))
    if library_stores_any_path():  # the format keeps any name: the file is indexed
        assert failed == {}
        assert sorted(lib.paths) == sorted([*map(str, files), os.fsdecode(latin1)])
    else:
        shown = f"{root}/caf\\xe9.jpg"  # printable, and storable in a JSON library
        assert list(failed) == [shown]
        assert re.search(r"not valid UTF-8.*rename", failed[shown])
        assert sorted(lib.paths) == sorted(map(str, files))
    assert report.timings["decode_s"] > 0
    lib.save(tmp_path / "lib.json")  # one odd name must never make the whole scan unsavable
    again = Library.load(tmp_path / "lib.json")
    assert sorted(again.paths) == sorted(lib.paths)
    assert again.failures == lib.failures


def test_the_same_folder_spelled_differently_is_one_root(
    tmp_path: Path, encoders: Any, encoded: list[int], tagger: KeywordTagger
) -> None:
    root = tmp_path / "photos"
    files = _small_folder(root, 3)
    (root / "sub").mkdir()
    lib = Library()
    scan(root, lib, encoders=encoders, keywords=tagger, progress=False)
    encoded.clear()
    report = scan(f"{root}/sub/../", lib, encoders=encoders, keywords=tagger, progress=False)
    assert report.unchanged == 3 and report.added == [] and sum(encoded) == 0
    assert sorted(lib.paths) == sorted(map(str, files))
    assert lib.roots == [str(root)]


# --- offline is not deleted; special files ------------------------------------------------------


def test_a_missing_known_root_keeps_its_records(
    tmp_path: Path, encoders: Any, tagger: KeywordTagger, encoded: list[int]
) -> None:
    root = tmp_path / "drive"
    files = _small_folder(root, 3)
    lib = Library()
    scan(root, lib, encoders=encoders, keywords=tagger, progress=False)
    root.rename(tmp_path / "elsewhere")  # unmounted, or renamed
    encoded.clear()
    report = scan(root, lib, encoders=encoders, keywords=tagger, progress=False)
    assert report.offline and report.removed == [] and sum(encoded) == 0
    assert sorted(lib.paths) == sorted(map(str, files))
    assert [f.path for f in report.failed] == [str(root)]
    assert re.search(r"not found.*records are kept.*prune", report.failed[0].error)
    assert "offline" in report.summary()
    # back online: nothing to redo
    (tmp_path / "elsewhere").rename(root)
    report = scan(root, lib, encoders=encoders, keywords=tagger, progress=False)
    assert report.unchanged == 3 and report.failed == [] and lib.failures == []


def test_an_empty_mount_point_is_offline_not_empty(
    tmp_path: Path, encoders: Any, tagger: KeywordTagger
) -> None:
    root = tmp_path / "mnt"
    _small_folder(root, 2)
    lib = Library()
    scan(root, lib, encoders=encoders, keywords=tagger, progress=False)
    for p in root.iterdir():
        p.rename(tmp_path / p.name)  # what an unmounted drive's mount point looks like
    report = scan(root, lib, encoders=encoders, keywords=tagger, progress=False)
    assert report.offline and report.removed == [] and len(lib) == 2


def test_an_unreadable_subfolder_keeps_its_records(
    tmp_path: Path, encoders: Any, tagger: KeywordTagger, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "photos"
    top = _small_folder(root, 2)
    sub = [save(photo(40, 30, 300 + i), root / "sub" / f"s{i}.jpg") for i in range(2)]
    lib = Library()
    scan(root, lib, encoders=encoders, keywords=tagger, progress=False)
    top[0].unlink()  # really gone, from a readable folder
    real_scandir = os.scandir

    def scandir(path: Any = ".") -> Any:  # tests run as root: chmod 000 would not stop us
        if Path(path) == root / "sub":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    report = scan(root, lib, encoders=encoders, keywords=tagger, progress=False)
    assert report.removed == [str(top[0])]
    assert sorted(lib.paths) == sorted(map(str, [top[1], *sub]))
    assert [(f.path, f.kept) for f in report.failed] == [(str(root / "sub"), True)]
    assert "Permission denied" in report.failed[0].error
    assert not report.offline


def test_dangling_symlinks_are_reported_and_keep_records(
    tmp_path: Path, encoders: Any, tagger: KeywordTagger
) -> None:
    root = tmp_path / "photos"
    _small_folder(root, 1)
    (root / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    (root / "notes.txt").symlink_to(tmp_path / "nowhere.txt")  # not an image name: ignored
    lib = Library()
    report = scan(root, lib, encoders=encoders, keywords=tagger, progress=False)
    assert [f.path for f in report.failed] == [str(root / "gone.jpg")]
    assert "broken symbolic link" in report.failed[0].error
    # a linked photo whose drive went away keeps its record
    target = save(photo(40, 30, 9), tmp_path / "ext" / "far.jpg")
    (root / "far.jpg").symlink_to(target)
    scan(root, lib, encoders=encoders, keywords=tagger, progress=False)
    assert str(root / "far.jpg") in lib.paths
    target.unlink()
    report = scan(root, lib, encoders=encoders, keywords=tagger, progress=False)
    assert str(root / "far.jpg") in lib.paths and report.removed == []
    assert str(root / "far.jpg") in [f.path for f in report.failed]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
def test_fifos_and_sockets_are_never_opened(
    tmp_path: Path, encoders: Any, tagger: KeywordTagger
) -> None:
    import socket

    root = tmp_path / "photos"
    files = _small_folder(root, 2)
    os.mkfifo(root / "pipe.jpg")
    os.mkfifo(root / "noext")  # extension-less: would be sniffed for a signature
    (root / "link.jpg").symlink_to(root / "pipe.jpg")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(root / "s.png"))
    result: list[ScanReport] = []
    t = threading.Thread(
        target=lambda: result.append(
            scan(root, Library(), encoders=encoders, keywords=tagger, progress=False)
        ),
        daemon=True,
    )
    t.start()
    t.join(30)
    sock.close()
    assert not t.is_alive(), "the scan blocked on a FIFO"
    assert sorted(result[0].added) == sorted(map(str, files)) and result[0].failed == []


def test_a_file_replaced_by_a_fifo_after_the_walk_is_a_failure(
    tmp_path: Path, encoders: Any
) -> None:
    from vectorvision_widget.scanning.files import prepare_file

    path = tmp_path / "x.jpg"
    save(photo(40, 30, 1), path)
    st = path.stat()
    path.unlink()
    os.mkfifo(path)
    out = prepare_file(str(path), st, encoders)
    assert isinstance(out, Failure) and "not a regular file" in out.error


def test_unreadable_file_keeps_its_record(
    tmp_path: Path, encoders: Any, tagger: KeywordTagger, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "photos"
    files = _small_folder(root, 2)
    lib = Library()
    scan(root, lib, encoders=encoders, keywords=tagger, progress=False)
    os.utime(files[0], (1, 1))  # changed: will be read again
    real_open = os.open

    def failing_open(path: Any, *a: Any, **kw: Any) -> int:
        if str(path) == str(files[0]):
            raise OSError(5, "Input/output error")
        return real_open(path, *a, **kw)

    monkeypatch.setattr(os, "open", failing_open)
    report = scan(root, lib, encoders=encoders, keywords=tagger, progress=False)
    assert report.removed == [] and str(files[0]) in lib.paths
    assert report.failed[0].kept and "Input/output error" in report.failed[0].error


def test_a_big_non_image_is_refused_from_its_header(tmp_path: Path, encoders: Any) -> None:
    import vectorvision_widget.scanning.files as scanfile

    path = tmp_path / "video.jpg"
    with open(path, "wb") as fh:
        fh.write(b"\x00\x00\x00\x18ftypmp42")
        fh.truncate(scanfile.HEADER_FIRST_BYTES + 1)
    out = scanfile.prepare_file(str(path), path.stat(), encoders)
    assert isinstance(out, Failure) and "not an image" in out.error


def test_interrupt_during_the_walk_changes_nothing(
    tmp_path: Path, encoders: Any, tagger: KeywordTagger, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vectorvision_widget.scanning.plan as analyzer

    root = tmp_path / "photos"
    _small_folder(root, 2)
    lib = Library()
    scan(root, lib, encoders=encoders, keywords=tagger, progress=False)
    before = (list(lib.paths), lib.features.copy())

    def boom(*a: Any, **kw: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(analyzer, "iter_image_files", boom)
    report = scan(root, lib, encoders=encoders, keywords=tagger, progress=False)
    assert report.interrupted and lib.paths == before[0]
    np.testing.assert_array_equal(lib.features, before[1])


def _consistent(lib: Library, tmp: Path) -> None:
    n = len(lib.paths)
    assert len(lib.records) == n == lib.features.shape[0] == lib.has_visual.shape[0]
    assert [r["path"] for r in lib.records] == lib.paths
    lib.save(tmp, overwrite=True)  # a scratch file, rewritten by each case
    again = Library.load(tmp)
    assert again.paths == lib.paths
    np.testing.assert_allclose(again.features, lib.features, atol=1e-6)


def test_ctrl_c_at_any_line_of_the_scan_leaves_the_library_consistent(
    tmp_path: Path, encoders: Any, tagger: KeywordTagger
) -> None:
    """A KeyboardInterrupt injected at the k-th executed line of the scan's own modules (main
    thread), for many k: the library always holds whole rows and saves/loads."""
    import sys

    root = tmp_path / "photos"
    _small_folder(root, 5)
    (root / "bad.jpg").write_bytes(b"not a jpeg")
    base = Library()
    scan(root, base, encoders=encoders, keywords=tagger, progress=False, batch_size=2)
    for p in sorted(root.glob("img0[01].jpg")):
        os.utime(p, (5, 5))  # changed: re-embedded
    (root / "img04.jpg").unlink()  # gone: removed
    save(photo(48, 36, 999), root / "new.jpg")  # new: added
    names = ["procedure", "plan", "local", "files", "walk"]
    paths = [f"scanning/{n}" for n in names] + ["models/pipeline"]
    modules = tuple(f"{os.sep}{p.replace('/', os.sep)}.py" for p in paths)
    total = 0

    def counter(frame: Any, event: str, arg: Any) -> Any:
        nonlocal total
        if frame.f_code.co_filename.endswith(modules):
            total += event == "line"
        return counter

    base.save(tmp_path / "b.json")
    lib = Library.load(tmp_path / "b.json")
    sys.settrace(counter)
    try:
        scan(root, lib, encoders=encoders, keywords=tagger, progress=False, batch_size=2)
    finally:
        sys.settrace(None)
    assert total > 100
    for k in sorted({int(x) for x in np.linspace(1, total - 1, 40)}):
        lib = Library.load(tmp_path / "b.json")
        seen = 0

        def interrupt(frame: Any, event: str, arg: Any, k: int = k) -> Any:
            nonlocal seen
            if event == "line" and frame.f_code.co_filename.endswith(modules):
                seen += 1
                if seen == k:
                    raise KeyboardInterrupt
            return interrupt

        sys.settrace(interrupt)
        try:
            scan(root, lib, encoders=encoders, keywords=tagger, progress=False, batch_size=2)
        except KeyboardInterrupt:
            pass  # only possible in the last lines of scan(), after the work
        finally:
            sys.settrace(None)
        _consistent(lib, tmp_path / "check.json")
        assert not any(t.name.startswith("vv-decode") for t in threading.enumerate())


def test_a_non_utf8_root_never_makes_the_library_unsaveable(
    tmp_path: Path, encoders: Any, tagger: KeywordTagger
) -> None:
    """Scan -> save -> load end to end with a Latin-1 root name (b'caf\\xe9'): the files are
    recorded when the library format keeps such names, else reported; the save never fails."""
    from vectorvision_widget.scanning.files import library_stores_any_path

    root = os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9")
    os.mkdir(root)
    for i in range(2):
        with open(os.path.join(root, f"p{i}.jpg"), "wb") as fh:
            fh.write(jpeg_bytes(photo(40, 30, 50 + i)))
    good = _small_folder(tmp_path / "plain", 1)
    lib = Library()
    scan(good[0].parent, lib, encoders=encoders, keywords=tagger, progress=False)
    report = scan(root, lib, encoders=encoders, keywords=tagger, progress=False)
    lib.save(tmp_path / "lib.json")
    again = Library.load(tmp_path / "lib.json")
    if library_stores_any_path():
        assert sorted(report.added) == sorted(os.path.join(root, f"p{i}.jpg") for i in range(2))
        assert again.paths == lib.paths and root in again.roots
        report = scan(root, again, encoders=encoders, keywords=tagger, progress=False)
        assert report.unchanged == 2  # the reloaded names still match the files
    else:
        assert len(report.failed) == 2 and all("UTF-8" in f.error for f in report.failed)
        assert again.paths == [str(good[0])]
        assert all("\\xe9" in f["path"] for f in again.failures)


def test_vv_scan_is_the_engine_dispatcher(tmp_path: Path, encoders: Any) -> None:
    import vectorvision_widget as vv
    import vectorvision_widget.scanning.engines as scanning

    assert vv.scan is scanning.scan
    _small_folder(tmp_path / "p", 1)
    with pytest.raises(ValueError, match="engine"):
        vv.scan(tmp_path / "p", Library(), encoders=encoders, engine="spark")
    with pytest.raises(ValueError, match="ray_address"):
        vv.scan(tmp_path / "p", Library(), encoders=encoders, ray_address="auto")
    report = vv.scan(tmp_path / "p", Library(), encoders=encoders, keywords=["x"], progress=False)
    assert len(report.added) == 1
