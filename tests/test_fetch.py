"""fetch_models against a fake Hugging Face hub: nothing here touches the network.

The fake serves made-up bytes for the real repo paths; the plan's pinned sha256 values are
replaced by those of the fake bytes (computed here with hashlib, independently of models.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import huggingface_hub
import pytest
from huggingface_hub import errors as hf_errors
from huggingface_hub import utils as hf_utils

import vectorvision_widget.models.fetch as fetch
import vectorvision_widget.models.manifest as manifest
import vectorvision_widget.models.specs as models
from vectorvision_widget import cli, filehash
from vectorvision_widget.errors import ModelError


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FakeHub:
    """Stands in for huggingface_hub.hf_hub_download / get_hf_file_metadata."""

    def __init__(self, blobs: dict[tuple[str, str], bytes]) -> None:
        self.blobs = dict(blobs)
        self.calls: list[tuple[str, str, str | None]] = []
        self.local_dirs: list[Path] = []
        self.bars_disabled: list[bool] = []
        self.error: BaseException | None = None
        self.commit = "c" * 40  # what the hub's main branch points at
        self.metadata_urls: list[str] = []

    def hf_hub_download(self, repo_id: str, filename: str, **kw: Any) -> str:
        if self.error is not None:
            raise self.error
        self.calls.append((repo_id, filename, kw.get("revision")))
        self.bars_disabled.append(hf_utils.are_progress_bars_disabled())
        local_dir = Path(kw["local_dir"])
        self.local_dirs.append(local_dir)
        dest = local_dir / filename
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(self.blobs[(repo_id, filename)])
        return str(dest)

    def get_hf_file_metadata(self, url: str, **kw: Any) -> SimpleNamespace:
        if self.error is not None:
            raise self.error
        self.metadata_urls.append(url)
        for (repo, path), data in self.blobs.items():
            if url.endswith(path) and f"/{repo}/" in url:
                return SimpleNamespace(etag=f'"{sha(data)}"', commit_hash=self.commit)
        raise AssertionError(url)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any hub call a test did not fake fails loudly instead of reaching the internet."""

    def refuse(*args: Any, **kw: Any) -> None:
        raise AssertionError(f"network call in a test: {args}")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", refuse)
    monkeypatch.setattr(huggingface_hub, "get_hf_file_metadata", refuse)
    # the reachability check would open a socket to the real hub: the fakes stand in for it
    monkeypatch.setattr(fetch, "_check_reachable", lambda: None)


@pytest.fixture
def plan(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The real quantized plan, with fake contents and their sha256 as the pins."""
    blobs: dict[tuple[str, str], bytes] = {}
    items = []
    for i, item in enumerate(models.remote_files("quantized")):
        data = os.urandom(filehash.CHUNK + 100 if i == 0 else 2000 + i)  # one spans chunks
        blobs[(item.repo, item.path)] = data
        items.append(dataclasses.replace(item, sha256=sha(data), size=len(data)))
    monkeypatch.setattr(fetch, "remote_files", lambda variant="quantized", **kw: tuple(items))
    hub = FakeHub(blobs)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hub.hf_hub_download)
    monkeypatch.setattr(huggingface_hub, "get_hf_file_metadata", hub.get_hf_file_metadata)
    return {"items": items, "blobs": blobs, "hub": hub}


def blob_of(plan: dict[str, Any], item: models.RemoteFile) -> bytes:
    return plan["blobs"][(item.repo, item.path)]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for pattern in ("*.part", ".*.tmp") for p in folder.rglob(pattern))


def test_files_land_under_final_names_with_a_manifest(plan: dict[str, Any], tmp_path: Path) -> None:
    folder = tmp_path / "models"
    result = fetch.fetch_models("quantized", folder, progress=False)
    assert result == folder.absolute()
    doc = json.loads((folder / "manifest.json").read_text())
    assert doc["format"] == "vectorvision-models"
    for item in plan["items"]:
        data = blob_of(plan, item)
        assert (folder / item.filename).read_bytes() == data
        entry = doc["files"][item.filename]
        assert entry == {
            "repo": item.repo,
            "revision": item.revision,
            "path": item.path,
            "variant": item.variant,
            "sha256": sha(data),
            "size": len(data),
        }
    assert sorted(doc["files"]) == sorted(i.filename for i in plan["items"])
    # the hub was asked for the pinned revisions, and staged under the models folder
    assert plan["hub"].calls == [(i.repo, i.path, i.revision) for i in plan["items"]]
    assert all(d == folder.absolute() / ".download" for d in plan["hub"].local_dirs)
    assert leftovers(folder) == [] and not (folder / ".download").exists()
    # the helpers the encoders use agree with what the fetch wrote
    for item in plan["items"]:
        assert manifest.verify_against_manifest(folder, item.filename) == sha(blob_of(plan, item))


class RecordingBar:
    instances: ClassVar[list[RecordingBar]] = []

    def __init__(self, *args: Any, **kw: Any) -> None:
        self.kw, self.n, self.postfixes, self.closed = kw, 0, [], False
        RecordingBar.instances.append(self)

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix_str(self, s: str) -> None:
        self.postfixes.append(s)

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize("progress", [True, False])
def test_progress_is_reported(
    plan: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, progress: bool
) -> None:
    RecordingBar.instances = []
    monkeypatch.setattr(fetch, "tqdm", RecordingBar)
    hf_utils.enable_progress_bars()
    fetch.fetch_models("quantized", tmp_path, progress=progress)
    (bar,) = RecordingBar.instances
    assert bar.kw["total"] == 4 and bar.n == 4 and bar.closed
    assert bar.kw["disable"] is (not progress)
    assert bar.postfixes == [i.filename for i in plan["items"]]
    # the hub's own byte bars are silenced only while a quiet fetch runs, then restored
    assert plan["hub"].bars_disabled == [not progress] * 4
    assert not hf_utils.are_progress_bars_disabled()


def test_sha_mismatch_names_the_file_and_leaves_nothing_under_its_name(
    plan: dict[str, Any], tmp_path: Path
) -> None:
    vision = plan["items"][1]
    bad = b"tampered" * 100
    plan["hub"].blobs[(vision.repo, vision.path)] = bad
    with pytest.raises(ModelError) as info:
        fetch.fetch_models("quantized", tmp_path, progress=False)
    message = str(info.value)
    assert "siglip_vision.onnx" in message
    assert f"expected {vision.sha256}, got {sha(bad)}" in message
    assert not (tmp_path / "siglip_vision.onnx").exists()
    assert leftovers(tmp_path) == []
    staged = tmp_path / ".download" / vision.path
    assert not staged.exists(), "the bad download is removed so the next run fetches it again"
    # the file fetched before it is complete and recorded; nothing else is
    doc = json.loads((tmp_path / "manifest.json").read_text())
    assert list(doc["files"]) == ["dinov2_small.onnx"]


def test_resume_keeps_good_files_and_refetches_only_bad_ones(
    plan: dict[str, Any], tmp_path: Path
) -> None:
    hub = plan["hub"]
    fetch.fetch_models("quantized", tmp_path, progress=False)
    assert len(hub.calls) == 4
    fetch.fetch_models("quantized", tmp_path, progress=False)
    assert len(hub.calls) == 4, "complete files with the right sha256 are not downloaded again"

    text = plan["items"][2]
    (tmp_path / text.filename).write_bytes(b"truncated")
    (tmp_path / "siglip_tokenizer.json").unlink()
    fetch.fetch_models("quantized", tmp_path, progress=False)
    assert hub.calls[4:] == [(i.repo, i.path, i.revision) for i in plan["items"][2:]]
    assert (tmp_path / text.filename).read_bytes() == blob_of(plan, text)

    fetch.fetch_models("quantized", tmp_path, progress=False, force=True)
    assert len(hub.calls) == 10


def test_a_stale_part_file_from_a_crash_is_replaced(plan: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "dinov2_small.onnx.part").write_bytes(b"half a file")  # older versions' temp
    (tmp_path / ".dinov2_small.onnx.x1y2.tmp").write_bytes(b"half a file")  # atomicfile's temp
    fetch.fetch_models("quantized", tmp_path, progress=False)
    assert (tmp_path / "dinov2_small.onnx").read_bytes() == blob_of(plan, plan["items"][0])
    assert leftovers(tmp_path) == []


def crash_halfway(src: Path, found: dict[str, Any]) -> Iterator[bytes]:
    """Like fetch._read_hashing, but the disk fills up after half of the file was written."""
    data = Path(src).read_bytes()
    yield data[: len(data) // 2]
    raise OSError(28, "No space left on device", str(src))


def test_crash_mid_copy_leaves_no_half_file(
    plan: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fetch, "_read_hashing", crash_halfway)
    with pytest.raises(OSError, match="No space left"):
        fetch.fetch_models("quantized", tmp_path, progress=False)
    assert not (tmp_path / "dinov2_small.onnx").exists()
    assert leftovers(tmp_path) == []
    assert not (tmp_path / "manifest.json").exists()


def test_crash_mid_copy_keeps_the_old_file_intact(
    plan: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetch.fetch_models("quantized", tmp_path, progress=False)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    monkeypatch.setattr(fetch, "_read_hashing", crash_halfway)
    with pytest.raises(OSError):
        fetch.fetch_models("quantized", tmp_path, progress=False, force=True)
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert after == before


def test_crash_before_rename_leaves_no_half_file(
    plan: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="Input/output"):
        fetch.fetch_models("quantized", tmp_path, progress=False)
    assert not (tmp_path / "dinov2_small.onnx").exists()
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "error",
    [
        hf_errors.LocalEntryNotFoundError("cannot find the requested files in the local cache"),
        ConnectionError("Connection refused"),
        hf_errors.HTTPError("[Errno -3] Temporary failure in name resolution"),
    ],
    ids=["offline", "refused", "dns"],
)
def test_unreachable_hub_explains_how_to_copy_by_hand(
    plan: dict[str, Any], tmp_path: Path, error: Exception
) -> None:
    plan["hub"].error = error
    folder = tmp_path / "mymodels"
    with pytest.raises(ModelError) as info:
        fetch.fetch_models("quantized", folder, progress=False)
    message = str(info.value)
    assert message.startswith("cannot reach the Hugging Face hub at ")
    assert f"Copy these files by hand into {folder.absolute()}:" in message
    for item in plan["items"]:
        assert re.search(
            rf"^  {re.escape(item.filename)} +<- {re.escape(item.url)}$", message, re.M
        )
    assert info.value.__cause__ is error
    assert leftovers(folder) == []


def test_a_complete_folder_needs_no_hub(plan: dict[str, Any], tmp_path: Path) -> None:
    fetch.fetch_models("quantized", tmp_path, progress=False)
    plan["hub"].error = ConnectionError("offline")
    assert fetch.fetch_models("quantized", tmp_path, progress=False) == tmp_path.absolute()


def test_unpinned_file_is_checked_against_the_hub_etag(
    plan: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = [dataclasses.replace(i, sha256=None) for i in plan["items"]]
    monkeypatch.setattr(fetch, "remote_files", lambda variant="quantized", **kw: tuple(items))
    fetch.fetch_models("quantized", tmp_path, progress=False)
    doc = json.loads((tmp_path / "manifest.json").read_text())
    for item in plan["items"]:
        assert doc["files"][item.filename]["sha256"] == sha(blob_of(plan, item))
    fetch.fetch_models("quantized", tmp_path, progress=False)
    assert len(plan["hub"].calls) == 4, "the hub's sha256 also lets a rerun skip good files"

    # the hub reports one sha256 but serves other bytes
    hub = plan["hub"]
    real = hub.get_hf_file_metadata
    monkeypatch.setattr(
        huggingface_hub,
        "get_hf_file_metadata",
        lambda url, **kw: SimpleNamespace(etag="b" * 64) if "text_model" in url else real(url),
    )
    with pytest.raises(ModelError, match=f"siglip_text.onnx.*expected {'b' * 64}"):
        fetch.fetch_models("quantized", tmp_path / "again", progress=False)


def test_models_dir_from_environment(
    plan: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(models.ENV_MODELS_DIR, str(tmp_path / "env_models"))
    assert fetch.fetch_models(progress=False) == (tmp_path / "env_models").absolute()
    assert (tmp_path / "env_models" / "siglip_tokenizer.json").is_file()


def test_bad_variant_and_bad_folder_fail_before_any_download(
    plan: dict[str, Any], tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="int4"):
        fetch.fetch_models("int4", tmp_path)
    a_file = tmp_path / "not_a_dir"
    a_file.write_text("x")
    with pytest.raises(ModelError, match="not_a_dir is a file"):
        fetch.fetch_models("quantized", a_file, progress=False)
    assert plan["hub"].calls == []


def test_cli_fetch_models(
    plan: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["fetch-models", "--models-dir", str(tmp_path)]) == 0
    assert str(tmp_path) in capsys.readouterr().out
    plan["hub"].error = ConnectionError("offline")
    assert cli.main(["fetch-models", "--models-dir", str(tmp_path / "x")]) == 2
    assert "cannot reach the Hugging Face hub" in capsys.readouterr().err


def test_cli_offline_says_so_at_once_in_a_few_short_lines(tmp_path: Path) -> None:
    """The real reachability check, with the hub's endpoint on a closed local port (never a
    real host): no retry noise, one short line per file to copy."""
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends
    env = {**os.environ, "HF_ENDPOINT": f"http://127.0.0.1:{port}", "HF_HUB_OFFLINE": "0"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        env.pop(var, None)
    folder = tmp_path / "m"
    done = subprocess.run(
        [sys.executable, "-m", "vectorvision_widget", "fetch-models", "--models-dir", str(folder)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    err = done.stderr.strip().splitlines()
    hub = f"http://127.0.0.1:{port}"
    assert err[0] == f"error: cannot reach the Hugging Face hub at {hub} (connection refused)."
    assert "Retrying" not in done.stderr and "Traceback" not in done.stderr
    assert len(err) == 7 and max(len(line) for line in err) < 200  # was one ~900-character line
    assert err[-1].startswith("or set VECTORVISION_MODELS")


def safetensors_blob(scale_raw: float, bias: float) -> bytes:
    """A small model.safetensors: a weight matrix, then logit_scale and logit_bias (F32, [1])."""
    import struct

    header = {
        "text.weight": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
        "logit_scale": {"dtype": "F32", "shape": [1], "data_offsets": [16, 20]},
        "logit_bias": {"dtype": "F32", "shape": [1], "data_offsets": [20, 24]},
    }
    head = json.dumps(header).encode()
    body = struct.pack("<4f", 1, 2, 3, 4) + struct.pack("<2f", scale_raw, bias)
    return struct.pack("<Q", len(head)) + head + body


def serve_ranges(monkeypatch: pytest.MonkeyPatch, blob: bytes, reads: list) -> None:
    """fetch._read_range answered from `blob` (what the hub's Range requests would return)."""

    def read_range(url: str, start: int, size: int) -> bytes:
        reads.append((url, start, size))
        return blob[start : start + size]

    monkeypatch.setattr(fetch, "_read_range", read_range)


def test_other_models_are_fetched_and_recorded_with_the_revision_resolved_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dinov2-base (pinned revision) + siglip-large (no public pin: revision resolved at the first
    fetch, sha256 from the hub) land under their own names; manifest.json records the choice."""
    items = models.remote_files("quantized", visual="dinov2-base", semantic="siglip-large")
    assert [i.filename for i in items] == [
        "dinov2_base.onnx",
        "siglip_large_vision.onnx",
        "siglip_large_text.onnx",
        "siglip_large_tokenizer.json",
    ]
    assert items[0].revision == models.DINOV2_BASE.revision and items[1].revision is None
    blobs = {(i.repo, i.path): os.urandom(1500 + k) for k, i in enumerate(items)}
    checkpoint = safetensors_blob(math.log(112.5), -16.25)
    blobs[("google/siglip-large-patch16-256", "model.safetensors")] = checkpoint
    reads: list = []
    serve_ranges(monkeypatch, checkpoint, reads)
    hub = FakeHub(blobs)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hub.hf_hub_download)
    monkeypatch.setattr(huggingface_hub, "get_hf_file_metadata", hub.get_hf_file_metadata)
    fetch.fetch_models(
        "quantized", tmp_path, progress=False, visual="dinov2-base", semantic="siglip-large"
    )
    doc = json.loads((tmp_path / "manifest.json").read_text())
    assert doc["models"] == {"visual": "dinov2-base", "semantic": "siglip-large"}
    for item in items:
        entry = doc["files"][item.filename]
        assert entry["sha256"] == sha(blobs[(item.repo, item.path)])
        assert entry["revision"] == (item.revision or "c" * 40)
    assert [c[2] for c in hub.calls] == [items[0].revision, *["c" * 40] * 3]
    # zero-shot calibration read from the original checkpoint: a few small ranges, not 2.6 GB
    cal = doc["zero_shot"]["siglip-large"]
    assert cal["logit_scale"] == pytest.approx(112.5, rel=1e-6)
    assert cal["logit_bias"] == -16.25
    assert cal["source"] == f"google/siglip-large-patch16-256@{'c' * 40}/model.safetensors"
    assert sum(size for _, _, size in reads) < 1000
    assert all(f"/resolve/{'c' * 40}/" in url for url, _, _ in reads)
    assert manifest.calibration(manifest.read_manifest(tmp_path), "siglip-large") == (
        pytest.approx(112.5, rel=1e-6),
        -16.25,
    )
    # the hub moves on; a rerun keeps the recorded revision and downloads nothing
    hub.commit = "d" * 40
    reads.clear()
    fetch.fetch_models(
        "quantized", tmp_path, progress=False, visual="dinov2-base", semantic="siglip-large"
    )
    assert len(hub.calls) == 4
    doc = json.loads((tmp_path / "manifest.json").read_text())
    assert doc["files"]["siglip_large_text.onnx"]["revision"] == "c" * 40
    assert not any("/resolve/main/" in u for u in hub.metadata_urls[-4:])
    assert reads == [] and doc["zero_shot"]["siglip-large"] == cal  # read once, kept


def test_calibration_is_best_effort(
    plan: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkpoint that cannot be read (offline, odd header) never fails the fetch: keywords
    then rank by cosine."""
    reads: list = []
    serve_ranges(monkeypatch, b"\xff" * 64, reads)  # an implausible header length
    spec = models.ZeroShotSpec(None, None, checkpoint="google/siglip-base-patch16-224")
    plan["hub"].blobs[("google/siglip-base-patch16-224", "model.safetensors")] = b"x"
    fetch._calibrate(tmp_path, "siglip-base", spec)
    assert reads and not (tmp_path / "manifest.json").exists()
    plan["hub"].error = ConnectionError("offline")
    fetch._calibrate(tmp_path, "siglip-base", spec)  # no exception
    assert not (tmp_path / "manifest.json").exists()


def test_an_unknown_model_name_fails_before_any_download(
    plan: dict[str, Any], tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match=r"unknown visual model 'dinov3'.*dinov2-base"):
        fetch.fetch_models("quantized", tmp_path, visual="dinov3", progress=False)
    assert plan["hub"].calls == [] and not (tmp_path / "manifest.json").exists()
