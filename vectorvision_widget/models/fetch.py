"""Downloading the models from the Hugging Face hub: resumable, verified, atomic.

This is the only module that talks to the network; `huggingface_hub` is imported only when a fetch
runs, so nothing else in the package (and no test) can download by accident.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import struct
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from vectorvision_widget.atomicfile import atomic_write_bytes
from vectorvision_widget.errors import ModelError
from vectorvision_widget.filehash import CHUNK, file_sha256
from vectorvision_widget.models.manifest import (
    calibration,
    read_manifest,
    record_calibration,
    record_file,
    record_selection,
)
from vectorvision_widget.models.specs import (
    ENV_MODELS_DIR,
    SHA256_RE,
    RemoteFile,
    ZeroShotSpec,
    check_variant,
    remote_files,
    resolve_models_dir,
    semantic_model,
    visual_model,
)

__all__ = ["fetch_models"]


# --- the fetch (the only code in the package that downloads) -----------------------------------


class _Unreachable(Exception):
    """The hub could not be reached; fetch_models turns it into a ModelError listing every file."""


def fetch_models(
    variant: str = "quantized",
    models_dir: str | os.PathLike[str] | None = None,
    *,
    force: bool = False,
    progress: bool = True,
    visual: str | None = None,
    semantic: str | None = None,
) -> Path:
    """Download the four model files of `variant` into the models folder and return the folder.

    `visual` / `semantic` name the models (`models.VISUAL_MODELS` / `SEMANTIC_MODELS`; default
    "dinov2-small" / "siglip-base"); manifest.json records the choice, and `Encoders.load` reads it.

    Resumable: a file already there with the expected sha256 is kept (unless `force`), and
    huggingface_hub resumes interrupted downloads in `<folder>/.download`. Atomic: each file is
    copied to a temp file beside its final name, verified, fsynced, then renamed (atomicfile), so
    a crash never leaves a half file under a final name. manifest.json records each file as soon
    as it lands, and the chosen models once all of them did.
    """
    check_variant(variant)
    look, meaning = visual_model(visual), semantic_model(semantic)  # ValueError before any work
    plan = remote_files(variant, visual=look.name, semantic=meaning.name)
    folder = resolve_models_dir(models_dir).absolute()
    if folder.exists() and not folder.is_dir():
        msg = f"models folder {folder} is a file; pass another --models-dir"
        raise ModelError(msg)
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / ".download"
    try:
        if force or not all(_have(folder, item) for item in plan):  # else: no need of the hub
            _check_reachable()
    except _Unreachable as exc:
        raise ModelError(_offline_message(exc, plan, folder)) from None
    bar = tqdm(total=len(plan), unit="file", desc=f"models ({variant})", disable=not progress)
    try:
        for item in plan:
            bar.set_postfix_str(item.filename)
            _fetch_one(item, folder, staging, force=force, progress=progress)
            bar.update(1)
    except _Unreachable as exc:
        raise ModelError(_offline_message(exc, plan, folder)) from exc.__cause__
    finally:
        bar.close()
    shutil.rmtree(staging, ignore_errors=True)
    record_selection(folder, look.name, meaning.name)
    _calibrate(folder, meaning.name, meaning.zero_shot)
    return folder


REACH_TIMEOUT_S = 5.0
"""How long the reachability check waits for the hub before saying it is offline (instead of
huggingface_hub's ~23 s of retries)."""


def _endpoint() -> str:
    from huggingface_hub import constants

    return str(constants.ENDPOINT).rstrip("/")


def _check_reachable() -> None:
    """Raise _Unreachable at once when the hub's host does not answer a TCP connection.

    Skipped behind a proxy (the proxy, not the hub, is what this machine connects to)."""
    import socket
    import urllib.parse
    import urllib.request

    endpoint = _endpoint()
    url = urllib.parse.urlsplit(endpoint)
    if urllib.request.getproxies().get(url.scheme) or not url.hostname:
        return
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=REACH_TIMEOUT_S).close()
    except OSError as exc:
        raise _Unreachable() from exc


def _have(folder: Path, item: RemoteFile) -> bool:
    return (folder / item.filename).is_file()


def _why(exc: BaseException | None) -> str:
    """A few words on why the hub could not be reached."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, ConnectionRefusedError):
            return "connection refused"
        if isinstance(exc, TimeoutError):
            return "no answer"
        if isinstance(exc, OSError) and "name" in str(exc).lower():
            return "host name not found"
        exc = exc.__cause__ or exc.__context__
    return "no connection"


def _offline_message(exc: _Unreachable, plan: Sequence[RemoteFile], folder: Path) -> str:
    """What to do offline, one line each: the files to copy by hand and where."""
    width = max(len(f.filename) for f in plan)
    lines = [
        f"cannot reach the Hugging Face hub at {_endpoint()} ({_why(exc.__cause__)}).",
        f"Copy these files by hand into {folder}:",
        *(f"  {f.filename:<{width}}  <- {f.url}" for f in plan),
        f"or set {ENV_MODELS_DIR} to a folder that has them (see docs/models.md).",
    ]
    return "\n".join(lines)


def _calibrate(folder: Path, name: str, spec: ZeroShotSpec) -> None:
    """Zero-shot logit scale/bias for a model whose spec has none, read once from its original
    checkpoint. Best effort: without them keywords rank by cosine (keywords.py), never fail."""
    if spec.calibrated or spec.checkpoint is None:
        return
    try:
        if calibration(read_manifest(folder), name) is not None:
            return
        values = _checkpoint_calibration(spec.checkpoint)
    except (ModelError, _Unreachable, ValueError, KeyError, OSError):
        return
    record_calibration(folder, name, values)


_MAX_HEADER = 64 << 20  # a safetensors header is kilobytes; anything huge is not one


def _checkpoint_calibration(repo: str) -> dict[str, Any]:
    """exp(logit_scale) and logit_bias from `repo`'s model.safetensors, by HTTP range requests
    (the 8-byte header length, the JSON header, two float32 values: kilobytes, not gigabytes)."""
    import huggingface_hub

    url = huggingface_hub.hf_hub_url(repo, "model.safetensors", revision="main")
    try:
        commit = huggingface_hub.get_hf_file_metadata(url).commit_hash
    except _network_errors() as exc:
        raise _Unreachable() from exc
    url = huggingface_hub.hf_hub_url(repo, "model.safetensors", revision=commit)
    (length,) = struct.unpack("<Q", _read_range(url, 0, 8))
    if not 0 < length < _MAX_HEADER:
        msg = f"{repo}/model.safetensors: implausible header length {length}"
        raise ValueError(msg)
    header = json.loads(_read_range(url, 8, length))
    raw = {}
    for key in ("logit_scale", "logit_bias"):
        meta = header[key]
        start, end = meta["data_offsets"]
        if meta["dtype"] != "F32" or end - start != 4:
            msg = f"{repo}/model.safetensors: {key} is {meta['dtype']} {meta['shape']}, not 1 float"
            raise ValueError(msg)
        (raw[key],) = struct.unpack("<f", _read_range(url, 8 + length + start, 4))
    scale = math.exp(raw["logit_scale"])
    if not (math.isfinite(scale) and math.isfinite(raw["logit_bias"])):
        msg = f"{repo}/model.safetensors: non-finite logit scale/bias"
        raise ValueError(msg)
    return {
        "logit_scale": scale,
        "logit_bias": raw["logit_bias"],
        "source": f"{repo}@{commit}/model.safetensors",
    }


def _read_range(url: str, start: int, size: int) -> bytes:
    """`size` bytes of `url` from `start` (HTTP Range); _Unreachable when the network fails."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"Range": f"bytes={start}-{start + size - 1}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            data: bytes = response.read(size + 1)
    except (urllib.error.URLError, OSError) as exc:
        raise _Unreachable() from exc
    if len(data) != size:  # a server that ignored Range would send the whole file
        msg = f"{url}: asked for {size} bytes at {start}, got {len(data)}"
        raise ValueError(msg)
    return data


def _fetch_one(
    item: RemoteFile, folder: Path, staging: Path, *, force: bool, progress: bool
) -> None:
    target = folder / item.filename
    if item.revision is None:  # unpinned spec: the revision recorded at the first fetch, else now
        item = replace(item, revision=_recorded_revision(folder, item) or _hub_revision(item))
    revision = str(item.revision)
    expected = item.sha256 or _hub_sha256(item)  # pinned, else what the hub reports (LFS)
    if not force and expected and target.is_file() and file_sha256(target) == expected:
        record_file(folder, item, expected, target.stat().st_size, revision)
        return
    downloaded = _download(item, staging, progress=progress)
    found: dict[str, int | str] = {}

    def verified_chunks() -> Iterator[bytes]:
        yield from _read_hashing(downloaded, found)
        if expected and found["sha256"] != expected:  # raised before the rename: nothing lands
            _discard(downloaded, staging)  # else the hub client would hand back the bad file
            msg = (
                f"{item.filename} ({item.repo}/{item.path} @ {revision[:12]}): sha256 "
                f"mismatch: expected {expected}, got {found['sha256']}; the download was removed, "
                f"re-run `vectorvision fetch-models` (or copy the file by hand from {item.url})"
            )
            raise ModelError(msg)

    _remove_stale_temps(target)
    atomic_write_bytes(target, verified_chunks())
    got, size = str(found["sha256"]), int(found["size"])
    _discard(downloaded, staging)
    record_file(folder, item, got, size, revision)


def _remove_stale_temps(target: Path) -> None:
    """Temp files a killed fetch left beside `target` (atomicfile's, or older `.part` ones)."""
    old = target.with_name(target.name + ".part")
    for stale in (old, *target.parent.glob(f".{target.name}.*.tmp")):
        with contextlib.suppress(OSError):
            stale.unlink()


def _recorded_revision(folder: Path, item: RemoteFile) -> str | None:
    """The commit an earlier fetch of this same file resolved (kept in manifest.json)."""
    try:
        entry = ((read_manifest(folder) or {}).get("files") or {}).get(item.filename)
    except ModelError:
        return None
    if not isinstance(entry, dict):
        return None
    if (entry.get("repo"), entry.get("path")) == (item.repo, item.path):
        rev = entry.get("revision")
        return rev if isinstance(rev, str) and rev else None
    return None


def _hub_revision(item: RemoteFile) -> str:
    """The commit the hub's main branch points at now, for a spec without a pinned revision."""
    import huggingface_hub

    url = huggingface_hub.hf_hub_url(item.repo, item.path, revision="main")
    try:
        meta = huggingface_hub.get_hf_file_metadata(url)
    except _network_errors() as exc:
        raise _Unreachable() from exc
    commit = getattr(meta, "commit_hash", None)
    if not commit:
        msg = f"the Hugging Face hub did not say which commit of {item.repo} it serves"
        raise ModelError(msg)
    return str(commit)


def _network_errors() -> tuple[type[BaseException], ...]:
    from huggingface_hub import errors as hf_errors

    # OSError covers requests' errors (old hubs); HTTPError is the newer hubs' httpx base error.
    return (OSError, getattr(hf_errors, "HTTPError", OSError))


def _download(item: RemoteFile, staging: Path, *, progress: bool) -> Path:
    import huggingface_hub
    from huggingface_hub import errors as hf_errors

    gone = (
        hf_errors.RepositoryNotFoundError,
        hf_errors.RevisionNotFoundError,
        getattr(hf_errors, "RemoteEntryNotFoundError", hf_errors.EntryNotFoundError),
    )
    try:
        with _hub_progress(progress):
            path = huggingface_hub.hf_hub_download(
                item.repo, item.path, revision=item.revision, local_dir=staging
            )
    except hf_errors.LocalEntryNotFoundError as exc:  # offline: raised before the 404 classes
        raise _Unreachable() from exc
    except gone as exc:
        msg = (
            f"the Hugging Face hub has no {item.path} at revision {item.revision} of {item.repo} "
            f"({type(exc).__name__}); copy {item.filename} by hand into {staging.parent}"
        )
        raise ModelError(msg) from exc
    except _network_errors() as exc:
        raise _Unreachable() from exc
    return Path(path)


def _hub_sha256(item: RemoteFile) -> str | None:
    """The sha256 the hub reports for an LFS file (its etag), or None for small git files."""
    import huggingface_hub

    url = huggingface_hub.hf_hub_url(item.repo, item.path, revision=item.revision)
    try:
        meta = huggingface_hub.get_hf_file_metadata(url)
    except _network_errors() as exc:
        raise _Unreachable() from exc
    etag = (meta.etag or "").strip('"').lower()
    return etag if SHA256_RE.match(etag) else None


@contextlib.contextmanager
def _hub_progress(enabled: bool) -> Iterator[None]:
    """Silence huggingface_hub's own byte bars when the caller asked for no progress."""
    from huggingface_hub.utils.tqdm import (  # where they live (utils re-exports them lazily)
        are_progress_bars_disabled,
        disable_progress_bars,
        enable_progress_bars,
    )

    toggle = not enabled and not are_progress_bars_disabled()
    if toggle:
        disable_progress_bars()
    try:
        yield
    finally:
        if toggle:
            enable_progress_bars()


def _read_hashing(src: Path, found: dict[str, int | str]) -> Iterator[bytes]:
    """Yield src in 1 MiB chunks; when done, `found` holds its sha256 and size (one read)."""
    digest, size = hashlib.sha256(), 0
    with open(src, "rb") as fin:
        while chunk := fin.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            yield chunk
    found["sha256"], found["size"] = digest.hexdigest(), size


def _discard(downloaded: Path, staging: Path) -> None:
    """Remove a staged download, but never a file outside our staging folder (e.g. a hub cache)."""
    if staging.absolute() in downloaded.absolute().parents:
        with contextlib.suppress(OSError):
            downloaded.unlink()
