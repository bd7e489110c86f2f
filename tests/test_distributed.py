"""The Ray Data scan (`engine="ray"`) against the local scan, on a real Ray cluster.

Under CI the cluster is the two-node one `.ci/run` starts ($RAY_ADDRESS); locally a small Ray is
started once per session (`tests/ray_cluster.py`). The models are the tiny ones.
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import vectorvision_widget as vv
import vectorvision_widget.models.keywords as keywords_module
import vectorvision_widget.scanning.ray as distributed
from vectorvision_widget.errors import ModelError
from vectorvision_widget.library.store import Library
from vectorvision_widget.models.keywords import KeywordTagger
from vectorvision_widget.scanning.engines import scan as scan_local

LABELS = ["red", "green", "blue", "a car", "a yellow flower", "grey wall", "the sea"]
FACTS = ("color", "palette", "width", "height", "size", "mtime", "sha256")

pytestmark = pytest.mark.usefixtures("ray_cluster")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keyword label cache in a temp folder (never the user's ~/.cache)."""
    monkeypatch.setenv("VECTORVISION_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(keywords_module, "_MEMORY_CACHE", {})


def photo(w: int, h: int, seed: int) -> Image.Image:
    """A smooth gradient with a little noise, distinct per seed."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    arr = rng.uniform(30, 220, 3) + (x / w)[..., None] * rng.uniform(-60, 60, 3)
    arr = arr + (y / h)[..., None] * rng.uniform(-60, 60, 3) + rng.normal(0, 4, (h, w, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def make_photos(root: Path) -> dict[str, list[str]]:
    """Good images of several formats and sizes, plus a corrupt file and non-images."""
    (root / "sub").mkdir(parents=True)
    good = []
    for i, (w, h) in enumerate([(320, 240), (64, 48), (90, 60), (1200, 900), (30, 400)]):
        path = root / ("sub" if i % 2 else ".") / f"photo_{i}.jpg"
        photo(w, h, i).save(path, quality=90)
        good.append(path)
    photo(200, 100, 7).save(root / "flag.png")
    Image.new("CMYK", (64, 64), (0, 255, 255, 0)).save(root / "cmyk.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6
    photo(400, 200, 8).save(root / "rotated.jpg", exif=exif.tobytes(), quality=92)
    good += [root / "flag.png", root / "cmyk.jpg", root / "rotated.jpg"]
    (root / "corrupt.jpg").write_bytes(np.random.default_rng(0).bytes(3000))
    buf = io.BytesIO()
    photo(400, 300, 9).save(buf, "JPEG")
    (root / "sub" / "truncated.jpg").write_bytes(buf.getvalue()[: buf.tell() // 2])
    (root / "notes.png").write_text("shopping list: milk, eggs\n" * 20)
    (root / "empty.png").write_bytes(b"")
    bad = ["corrupt.jpg", "sub/truncated.jpg", "notes.png", "empty.png"]
    return {"good": sorted(map(str, good)), "bad": sorted(str(root / b) for b in bad)}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, tiny_models_dir: Path) -> dict[str, Any]:
    from vectorvision_widget.models.encoders import Encoders

    root = tmp_path_factory.mktemp("photos")
    files = make_photos(root)
    enc = Encoders.load(tiny_models_dir, batch_size=3)
    tagger = KeywordTagger(enc, LABELS, cache_dir=tmp_path_factory.mktemp("kw"))
    local = Library()
    report = scan_local(root, local, encoders=enc, keywords=tagger, progress=False)
    return {
        "root": root,
        "enc": enc,
        "tagger": tagger,
        "local": local,
        "local_report": report,
        **files,
    }


def ray_scan(setup: dict[str, Any], lib: Library, **kw: Any) -> Any:
    """`vv.scan(..., engine="ray")`; Ray-only knobs (num_actors, ...) go to `scan_ray` itself."""
    kw.setdefault("batch_size", 2)  # several batches, so more than one actor gets work
    common = {"encoders": setup["enc"], "keywords": setup["tagger"], "progress": False}
    if {"num_actors", "cpus_per_actor", "gpus_per_actor"} & kw.keys():
        return distributed.scan_ray(setup["root"], lib, **common, **kw)
    return vv.scan(setup["root"], lib, engine="ray", **common, **kw)


def assert_same_library(a: Library, b: Library, paths: list[str] | None = None) -> None:
    """Same records (file facts, colours, keywords) and vectors within 1e-4, row by row."""
    for path in paths if paths is not None else a.paths:
        ra, rb = a.row_of(path), b.row_of(path)
        assert ra is not None and rb is not None, path
        np.testing.assert_allclose(a.features[ra], b.features[rb], atol=1e-4)
        np.testing.assert_allclose(a.visual_features[ra], b.visual_features[rb], atol=1e-4)
        rec_a, rec_b = a.records[ra], b.records[rb]
        assert {k: rec_a.get(k) for k in FACTS} == {k: rec_b.get(k) for k in FACTS}, path
        kw_a, kw_b = rec_a["keywords"], rec_b["keywords"]
        assert [k["label"] for k in kw_a] == [k["label"] for k in kw_b], path
        np.testing.assert_allclose(
            [k["score"] for k in kw_a], [k["score"] for k in kw_b], atol=1e-4
        )


def test_ray_scan_equals_the_local_scan(setup: dict[str, Any], ray_cluster: Any) -> None:
    lib = Library()
    calls: list[tuple[int, int, str]] = []
    report = ray_scan(setup, lib, num_actors=2, on_progress=lambda *a: calls.append(a), trace=True)
    local, local_report = setup["local"], setup["local_report"]
    assert sorted(lib.paths) == setup["good"] == sorted(local.paths)
    assert lib.paths == local.paths  # same row order too: results come back in file order
    assert_same_library(local, lib)
    failed = sorted((f.path, f.error, f.kept) for f in report.failed)
    assert failed == sorted((f.path, f.error, f.kept) for f in local_report.failed)
    assert [f[0] for f in failed] == setup["bad"]
    assert sorted(lib.failures, key=str) == sorted(local.failures, key=str)
    assert set(report.added) == set(setup["good"]) and not report.interrupted
    total = len(setup["good"]) + len(setup["bad"])
    assert [c[0] for c in calls] == list(range(1, total + 1))
    assert {c[1] for c in calls} == {total}
    assert sorted(c[2] for c in calls) == sorted(setup["good"] + setup["bad"])
    assert report.timings["inference_s"] > 0 and report.timings["images_per_s"] > 0
    assert sum(1 for name, _, _ in report.trace if name == "decode") == total
    # which nodes embedded: on CI's two-node cluster, both (one actor on each)
    used = {name.split("@")[1] for name, _, _ in report.trace if name.startswith("inference@")}
    assert report.timings["nodes"] == len(used) >= 1
    assert 1 <= report.timings["actors"] <= 2
    if ray_cluster.external:
        assert ray_cluster.nodes == 2 and len(used) == 2, used


def _all_cpus_free(timeout: float = 30.0) -> bool:
    import ray

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ray.available_resources().get("CPU", 0) >= ray.cluster_resources().get("CPU", 0):
            return True
        time.sleep(0.2)
    return False


def test_ctrl_c_then_incremental_rescans(
    setup: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through `vv.scan(engine="ray")`: Ctrl-C keeps what arrived and stops the cluster's work;
    the next scans send only what is still to do; thumbnails land beside the library."""
    from vectorvision_widget.thumbs.cache import ThumbStore

    sent: list[list[str]] = []
    real = distributed.stream_embeddings

    def spy(items: Any, **kw: Any) -> Any:
        sent.append([p for p, _, _ in items])
        return real(items, **kw)

    monkeypatch.setattr(distributed, "stream_embeddings", spy)
    lib = Library()
    lib.save(tmp_path / "lib.json")  # a library with a path gets a thumbnail sidecar
    seen: list[int] = []

    def stop_after_three(done: int, total: int, path: str) -> None:
        seen.append(done)
        if done == 3:
            raise KeyboardInterrupt

    report = ray_scan(setup, lib, on_progress=stop_after_three)
    assert report.interrupted and seen == [1, 2, 3]
    assert len(report.added) + len(report.failed) == 3  # exactly what arrived was applied
    assert set(report.added) == set(lib.paths)
    assert_same_library(setup["local"], lib, lib.paths)
    assert _all_cpus_free(), "the encoder actors and decode tasks were not stopped"

    arrived = set(lib.paths)
    report = ray_scan(setup, lib)  # resumes: what arrived is not sent again
    assert not report.interrupted and report.unchanged == len(arrived)
    assert set(sent[-1]) == set(setup["good"] + setup["bad"]) - arrived
    assert lib.paths == setup["local"].paths
    assert_same_library(setup["local"], lib)
    store = ThumbStore.for_library(tmp_path / "lib.json")
    for path in lib.paths:
        rec = lib.records[lib.row_of(path)]
        assert store.tile(path, rec["size"], rec["mtime"]) is not None, path

    target = Path(setup["good"][0])
    before = target.read_bytes()
    try:
        photo(50, 50, 99).save(target, "JPEG")
        os.utime(target, (1e9, 1e9))
        report = ray_scan(setup, lib)  # the changed file and the failed ones, nothing else
        assert report.updated == [str(target)] and not report.added
        assert sorted(sent[-1]) == sorted([str(target), *setup["bad"]])
        feats, _ = setup["enc"].embed_images([target])
        np.testing.assert_allclose(lib.features[lib.row_of(target)], feats[0], atol=1e-4)
    finally:
        target.write_bytes(before)


def test_actor_refuses_models_that_differ_from_the_drivers(setup: dict[str, Any]) -> None:
    enc = setup["enc"]
    spec = distributed.WorkerModels.of(enc)
    wrong = {k: {**v, "sha256": "0" * 64} for k, v in enc.provenance().items()}
    with pytest.raises(ModelError, match="every node must read the same models folder"):
        distributed._EncoderActor(spec, wrong, ["cpu"], 1)


def test_a_worker_model_error_comes_back_as_a_model_error() -> None:
    """What a node that cannot read the models folder produces (seen from a real cluster: the
    actor dies in its constructor and Ray wraps the traceback), shown as one ModelError."""
    import ray

    def dying() -> Any:
        text = (
            "The actor died because of an error raised in its creation task\n  ...\n"
            "vectorvision_widget.errors.ModelError: models folder /x/m does not exist"
        )
        raise ray.exceptions.RayError(text)
        yield

    with pytest.raises(ModelError, match=r"could not load the models: models folder /x/m .*same"):
        distributed._next_or_model_error(dying())
    other = ray.exceptions.RayError("something else")

    def failing() -> Any:
        raise other
        yield

    with pytest.raises(ray.exceptions.RayError) as info:
        distributed._next_or_model_error(failing())
    assert info.value is other


def test_resources_fit_the_cluster() -> None:
    import ray

    plan = distributed.plan_resources(num_actors=2)
    cpus = ray.cluster_resources()["CPU"]
    assert plan["num_actors"] == 2 and plan["gpus_per_actor"] == 0
    assert 2 * plan["cpus_per_actor"] + plan["decode_cpus"] <= cpus
    assert plan["decode_tasks"] >= 1
    assert plan["decode_cpus"] != plan["cpus_per_actor"]  # else Ray fuses decode into actors
    with pytest.raises(ValueError, match="num_actors"):
        distributed.plan_resources(num_actors=0)
    with pytest.raises(ValueError, match="no CPU for decoding"):
        distributed.plan_resources(num_actors=1, cpus_per_actor=cpus)
    assert distributed.plan_resources(num_actors=1, decode_tasks=3)["decode_tasks"] == 3


def test_cli_ray_flag(setup: dict[str, Any], tmp_path: Path, tiny_models_dir: Path) -> None:
    from vectorvision_widget.cli import main

    out = tmp_path / "lib.json"
    argv = [
        "scan",
        str(setup["root"]),
        "--library",
        str(out),
        "--models-dir",
        str(tiny_models_dir),
        "--ray",
    ]
    assert main(argv) == 0
    lib = Library.load(out)
    assert sorted(lib.paths) == setup["good"]
    assert sorted(f["path"] for f in lib.failures) == setup["bad"]
