"""pipeline.py: the one decode→infer pipeline (order, bounded in-flight, overlap, interrupts),
and that `Encoders.embed_images` runs on it."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from vectorvision_widget.models.pipeline import THREAD_PREFIX, Pipeline, run_pipeline


def _threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(THREAD_PREFIX)]


def test_results_come_in_input_order_in_batches() -> None:
    batches: list[list[int]] = []
    seen: list[int] = []

    def prepare(i: int) -> int:
        time.sleep(0.002 * ((7 * i) % 5))  # finish out of order
        return i * 10

    run_pipeline(
        range(23),
        prepare,
        batches.append,
        batch_size=5,
        workers=3,
        on_item=lambda item, r: seen.append(item),
    )
    assert [x for b in batches for x in b] == [i * 10 for i in range(23)]
    assert [len(b) for b in batches] == [5, 5, 5, 5, 3]
    assert seen == list(range(23))
    assert _threads() == []


def test_items_not_ready_skip_the_batch_but_are_reported() -> None:
    batches: list[list[int]] = []
    reported: list[tuple[int, int]] = []
    run_pipeline(
        range(10),
        lambda i: i,
        batches.append,
        batch_size=4,
        ready=lambda r: r % 3 != 0,
        on_item=lambda i, r: reported.append((i, r)),
    )
    assert [x for b in batches for x in b] == [1, 2, 4, 5, 7, 8]
    assert len(reported) == 10


def test_in_flight_is_bounded() -> None:
    started = 0
    consumed = 0
    worst = 0
    lock = threading.Lock()

    def prepare(i: int) -> int:
        nonlocal started, worst
        with lock:
            started += 1
            worst = max(worst, started - consumed)
        return i

    def on_item(item: int, result: int) -> None:
        nonlocal consumed
        time.sleep(0.001)
        with lock:
            consumed += 1

    run_pipeline(
        range(200), prepare, lambda b: None, batch_size=4, workers=2, in_flight=6, on_item=on_item
    )
    assert consumed == 200
    assert worst <= 7  # in_flight prepared ahead (+1 resubmitted as one is consumed)


def test_decode_overlaps_inference() -> None:
    spans: list[tuple[str, float, float]] = []

    def prepare(i: int) -> int:
        t0 = time.perf_counter()
        time.sleep(0.01)
        spans.append(("decode", t0, time.perf_counter()))
        return i

    def infer(batch: list[int]) -> None:
        time.sleep(0.03)

    trace: list[tuple[str, float, float]] = []
    timings = run_pipeline(range(16), prepare, infer, batch_size=4, workers=2, trace=trace)
    infers = [(a, b) for _, a, b in trace]
    assert len(infers) == 4 and timings["inference_s"] >= 4 * 0.03
    overlap = [1 for _, a, b in spans for c, d in infers if a < d and c < b]
    assert len(overlap) >= 2


@pytest.mark.parametrize("where", ["prepare", "infer", "on_item"])
def test_an_interrupt_anywhere_stops_and_joins_the_threads(where: str) -> None:
    done: list[int] = []

    def prepare(i: int) -> int:
        if where == "prepare" and i == 5:
            raise KeyboardInterrupt
        return i

    def infer(batch: list[int]) -> None:
        if where == "infer" and len(done) >= 4:
            raise KeyboardInterrupt

    def on_item(item: int, result: int) -> None:
        done.append(item)
        if where == "on_item" and item == 6:
            raise KeyboardInterrupt

    pipe: Pipeline[int, int] = Pipeline(prepare, infer, batch_size=2, workers=2, on_item=on_item)
    with pytest.raises(KeyboardInterrupt):
        pipe.run(range(1000))
    assert len(done) < 1000
    assert _threads() == []


def test_batch_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        Pipeline(lambda i: i, lambda b: None, batch_size=0)


def test_embed_images_decodes_in_the_pipeline_threads(
    encoders: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = []
    for i in range(6):
        p = tmp_path / f"{i}.png"
        Image.new("RGB", (40 + i, 30), (i * 40, 20, 200 - i * 30)).save(p)
        paths.append(str(p))
    names: list[str] = []
    original = encoders.load_image

    def spy(source: Any) -> Any:
        names.append(threading.current_thread().name)
        return original(source)

    monkeypatch.setattr(encoders, "load_image", spy)
    feats, visual = encoders.embed_images(paths)
    monkeypatch.undo()
    assert names and all(n.startswith(THREAD_PREFIX) for n in names)
    ref = np.stack([encoders.embed_images([p])[0][0] for p in paths])
    np.testing.assert_allclose(feats, ref, atol=1e-5)
    assert feats.shape[0] == visual.shape[0] == 6
