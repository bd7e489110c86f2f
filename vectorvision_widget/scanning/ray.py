"""The scan on Ray Data: decode on many workers, embed in an actor pool, store on the driver.

Why this shape: the two encoders bound a scan to a few images/s per machine, so past one machine
the work must spread. Ray Data is an existing streaming engine (back-pressure, retries, actor pools,
GPUs), so the only thing built here is the glue:

- this is an `Engine` of the one scan procedure (`procedure.run_scan`): the driver plans with the
  same incremental rules as the local engine, so only files that need embedding are sent;
- read + decode + colours + preprocessing run as Ray tasks (`Dataset.map`) on any node;
- an actor pool embeds (`map_batches` with a callable class): each actor loads the ONNX files once
  from `models_dir`, a path every node must be able to read (checked against the driver's sha256,
  so different files at the same path never mix); one GPU per actor when the cluster has GPUs;
- results stream back in file order (`iter_batches`) and go to the procedure's `Results` on the
  driver as they arrive (tags, upserts, failures, progress, thumbnails: the same code as the
  local engine). Ctrl-C stops the stream; everything that arrived stays in the library.

Nothing else about the library changes: the result equals a local scan of the same files.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import pickle
import socket
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np

from vectorvision_widget.models.keywords import KeywordTagger
from vectorvision_widget.scanning.files import Failure, FileStat, Prepared, ThumbMaker, prepare_file
from vectorvision_widget.scanning.procedure import (
    Embedded,
    ProgressCallback,
    Results,
    ScanReport,
    ThumbSink,
    Work,
    run_scan,
)

if TYPE_CHECKING:
    from vectorvision_widget.library.store import Library
    from vectorvision_widget.models.encoders import Encoders

#: Where Ray is asked to connect when no address is given (Ray's own variable).
ADDRESS_ENV = "RAY_ADDRESS"
INSTALL_HINT = 'the Ray engine needs Ray Data: pip install "vectorvision-widget[ray]"'


def _ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    return ray


#: How long `connect` waits for a cluster's port to accept a connection (seconds).
CONNECT_TIMEOUT_S = 10.0
_ADDRESS_FORMS = "host:port (e.g. 10.0.0.5:6379), ray://host:10001, auto or local"


def check_address(address: str) -> tuple[str, int] | None:
    """The (host, port) that `address` names, None for "auto"/"local"; ValueError naming the
    accepted forms for anything else (before Ray sees it: its parse errors are internal)."""
    if address in ("auto", "local"):
        return None
    scheme, sep, rest = address.partition("://")
    if sep and scheme != "ray":
        msg = f"Ray address {address!r}: unknown scheme {scheme + '://'!r}; use {_ADDRESS_FORMS}"
        raise ValueError(msg)
    host, colon, port = (rest if sep else address).rpartition(":")
    host = host.strip("[]")  # [::1]:6379
    if not colon or not host or "/" in host or not port.isdigit() or not 0 < int(port) < 65536:
        msg = f"Ray address {address!r} is not an address; use {_ADDRESS_FORMS}"
        raise ValueError(msg)
    return host, int(port)


def probe(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Check that something accepts connections at `address` within `timeout` seconds, so an
    address with nothing behind it fails at once with a clear message: `ray.init` would retry
    for minutes inside native code, ignoring Ctrl-C and SIGTERM, while the library stays locked.
    """
    target = check_address(address)
    if target is None:
        return
    try:
        socket.create_connection(target, timeout=timeout).close()
    except TimeoutError:
        why = f"no answer within {timeout:g} s"
    except OSError as exc:
        why = exc.strerror or str(exc)
    else:
        return
    msg = (
        f"cannot reach the Ray cluster at {address} ({why}); is `ray start --head` running "
        "there, and is the port the head's (6379, or 10001 for ray://)?"
    )
    raise ConnectionError(msg)


def connect(address: str | None = None, *, num_cpus: int | None = None) -> str:
    """Connect this process to Ray and return the cluster's address.

    `address` (else $RAY_ADDRESS) names an existing cluster ("auto", "host:port" or
    "ray://host:10001"); without one a local Ray is started with `num_cpus` (default: all).
    A process already connected keeps its connection (Ray allows one per process). A
    malformed address raises ValueError, an unreachable one ConnectionError after at most
    `CONNECT_TIMEOUT_S` seconds (`probe`), both before Ray is asked.
    """
    ray = _ray()
    if not ray.is_initialized():
        address = address or os.environ.get(ADDRESS_ENV) or None
        kwargs: dict[str, Any] = {"log_to_driver": False, "configure_logging": False}
        if address:
            probe(address)
            ray.init(address=address, **kwargs)
        else:
            # "local": a new Ray of our own, even when `ray start` runs on this machine
            ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, **kwargs)
    return str(ray.get_runtime_context().gcs_address)


# --------------------------------------------------------------------------- worker side


@dataclass(frozen=True)
class WorkerModels:
    """What a worker needs to load the driver's encoders: plain, picklable, hashable values."""

    models_dir: str
    visual: str
    semantic: str
    max_pixels: int | None
    pixel_budget: int | None

    @classmethod
    def of(cls, encoders: Encoders) -> WorkerModels:
        return cls(
            models_dir=str(Path(encoders.folder).absolute()),
            visual=encoders.look.name,
            semantic=encoders.meaning.name,
            max_pixels=encoders.max_pixels,
            pixel_budget=encoders.pixel_budget,
        )

    def load(self, **kwargs: Any) -> Encoders:
        """`Encoders.load` of the driver's models folder and model choice, on a worker."""
        from vectorvision_widget.models.encoders import Encoders

        return Encoders.load(
            self.models_dir,
            visual=self.visual,
            semantic=self.semantic,
            max_pixels=self.max_pixels,
            pixel_budget=self.pixel_budget,
            **kwargs,
        )


_WORKER_ENCODERS: dict[WorkerModels, Encoders] = {}


def _worker_encoders(spec: WorkerModels) -> Encoders:
    """Encoders for decoding/preprocessing in a worker: loaded once per process, no sessions."""
    enc = _WORKER_ENCODERS.get(spec)
    if enc is None:
        enc = _WORKER_ENCODERS[spec] = spec.load()
    return enc


def _blank(enc: Encoders) -> tuple[np.ndarray, np.ndarray]:
    """Preprocessed tensors of a blank image: the shapes every row carries."""
    from PIL import Image

    return enc.preprocess_image(Image.new("RGB", (8, 8)))


def _prepare_row(
    row: dict[str, Any], *, spec: WorkerModels, thumbs: ThumbMaker | None
) -> dict[str, Any]:
    """Ray task: one file -> its record and both preprocessed tensors, or its failure.

    A failure carries zero tensors of the same shape, so every row has one schema and the
    failure travels in order to the driver (progress, report).
    """
    enc = _worker_encoders(spec)
    t0 = time.time()
    st = FileStat(row["size"], row["mtime"])  # as the driver saw them
    got = prepare_file(row["path"], st, enc, max_pixels=spec.max_pixels, thumbs=thumbs)
    t1 = time.time()
    out: dict[str, Any] = {"path": row["path"], "t0": t0, "t1": t1}
    if isinstance(got, Failure):
        sig, dino = _blank(enc)
        out.update(
            shown=got.path,
            error=got.error,
            kept=got.kept,
            record="",
            thumbs=b"",
            siglip=np.zeros_like(sig),
            dino=np.zeros_like(dino),
        )
    else:
        out.update(
            shown=got.path,
            error="",
            kept=False,
            record=json.dumps(got.record),
            thumbs=pickle.dumps(got.thumbs) if got.thumbs else b"",
            siglip=got.siglip,
            dino=got.dino,
        )
    return out


class _EncoderActor:
    """Ray actor: the ONNX sessions of the driver's models, loaded once; embeds batches."""

    def __init__(
        self,
        spec: WorkerModels,
        provenance: dict[str, dict[str, Any]],
        providers: list[str],
        threads: int,
    ) -> None:
        t0 = time.time()
        import ray

        from vectorvision_widget.errors import ModelError

        self.enc = spec.load(providers=providers, threads=threads)
        ctx = ray.get_runtime_context()
        self.node, self.actor = ctx.get_node_id(), ctx.get_actor_id()
        got = {k: v.get("sha256") for k, v in self.enc.provenance().items()}
        want = {k: v.get("sha256") for k, v in provenance.items()}
        if got != want:
            msg = (
                f"node {self.node}: the models in {spec.models_dir} are not the driver's "
                f"files ({got} != {want}); every node must read the same models folder"
            )
            raise ModelError(msg)
        sig, dino = _blank(self.enc)
        self.enc.encode_pixels(sig[None], dino[None])  # sessions made now, not in the first batch
        self.started = (t0, time.time())  # this actor's start: imports, model load, first run

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        n = len(batch["path"])
        ok = np.asarray([not e for e in batch["error"]], bool)
        t0 = time.time()
        feats = np.zeros((n, self.enc.feature_dim), np.float32)
        visual = np.zeros((n, self.enc.visual_dim), np.float32)
        if ok.any():
            feats[ok], visual[ok] = self.enc.encode_pixels(batch["siglip"][ok], batch["dino"][ok])
        t1 = time.time()
        out = {k: v for k, v in batch.items() if k not in ("siglip", "dino")}
        out.update(
            features=feats,
            visual=visual,
            i0=np.full(n, t0),
            i1=np.full(n, t1),
            node=np.array([self.node] * n),
            actor=np.array([self.actor] * n),
            a0=np.full(n, self.started[0]),
            a1=np.full(n, self.started[1]),
        )
        return out


# --------------------------------------------------------------------------- driver side


class Resources(TypedDict):
    """What `plan_resources` reserves on the cluster."""

    num_actors: int
    cpus_per_actor: float
    gpus_per_actor: float
    decode_cpus: float
    decode_tasks: int
    threads: int
    providers: list[str]


def plan_resources(
    num_actors: int | None = None,
    cpus_per_actor: float | None = None,
    gpus_per_actor: float | None = None,
    decode_tasks: int | None = None,
) -> Resources:
    """How many encoder actors, what each reserves, and how many decode tasks run at once, from
    the connected cluster's resources.

    GPUs present: one actor per GPU, one GPU each. CPU only: one actor per node, each reserving
    half of the CPUs (fractions keep one-CPU nodes usable). Decoding: one task per CPU left over
    (at least one); each task reserves a small fraction of a CPU, so that Ray can place it next
    to an actor on any node, and a different one from the actors', so that Ray never fuses
    decoding into the actors (it would no longer overlap inference). Fewer concurrent tasks
    also mean fewer Ray worker processes to start, which dominates small scans.
    """
    ray = _ray()
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    total = ray.cluster_resources()
    gpus = float(total.get("GPU", 0.0))
    if gpus_per_actor is None:
        gpus_per_actor = 1.0 if gpus >= 1 else 0.0
    if num_actors is None:
        if gpus_per_actor:
            num_actors = max(1, int(gpus // gpus_per_actor))
        else:
            num_actors = max(1, sum(1 for n in nodes if n.get("Resources", {}).get("CPU", 0) > 0))
    if num_actors < 1:
        msg = f"num_actors must be >= 1, got {num_actors}"
        raise ValueError(msg)
    cpus = float(total.get("CPU", 1.0))
    if cpus_per_actor is None:
        cpus_per_actor = 1.0 if gpus_per_actor else max(0.25, cpus / (2 * num_actors))
        cpus_per_actor = math.floor(cpus_per_actor * 4) / 4  # Ray's fractions: keep them simple
    decode_cpus = 0.25 if cpus_per_actor != 0.25 else 0.125
    free = cpus - num_actors * cpus_per_actor
    if decode_tasks is not None and decode_tasks < 1:
        msg = f"decode tasks (workers) must be >= 1, got {decode_tasks}"
        raise ValueError(msg)
    if free < decode_cpus:
        msg = (
            f"{num_actors} actors × {cpus_per_actor:g} CPUs leave no CPU for decoding on a "
            f"cluster of {cpus:g} CPUs (a scan would wait forever); ask for fewer"
        )
        raise ValueError(msg)
    return {
        "num_actors": int(num_actors),
        "cpus_per_actor": float(cpus_per_actor),
        "gpus_per_actor": float(gpus_per_actor),
        "decode_cpus": decode_cpus,
        "decode_tasks": int(decode_tasks or max(1, math.floor(free))),
        "threads": max(1, round(cpus_per_actor)),
        "providers": ["cuda", "cpu"] if gpus_per_actor else ["cpu"],
    }


@contextlib.contextmanager
def _quiet_ray_data() -> Iterator[Any]:
    """Ray Data's own bars and INFO lines off (ours are shown); preserve file order."""
    ray = _ray()
    ctx = ray.data.DataContext.get_current()
    saved = (
        ctx.enable_progress_bars,
        ctx.print_on_execution_start,
        ctx.execution_options.preserve_order,
    )
    logger = logging.getLogger("ray.data")
    level = logger.level
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    ctx.execution_options.preserve_order = True
    logger.setLevel(logging.WARNING)
    try:
        yield ctx
    finally:
        (
            ctx.enable_progress_bars,
            ctx.print_on_execution_start,
            ctx.execution_options.preserve_order,
        ) = saved
        logger.setLevel(level)


def stream_embeddings(
    items: Sequence[tuple[str, int, float]],
    *,
    spec: WorkerModels,
    provenance: dict[str, dict[str, Any]],
    batch_size: int,
    resources: Resources,
    thumbs: ThumbMaker | None = None,
) -> Generator[dict[str, np.ndarray], None, None]:
    """Run the Ray Data pipeline over `(path, size, mtime)` items; yield result batches in order.

    Each batch holds `path`, `shown` (the path as reported), `error` ("" when embedded), `kept`,
    `record` (JSON), `thumbs` (pickled dict or b""), `features`, `visual`, and the timing/placement
    columns `t0`/`t1` (decode), `i0`/`i1` (inference), `node`, `actor`. Close it to stop the work.
    """
    ray = _ray()
    rows = [{"path": p, "size": int(s), "mtime": float(m)} for p, s, m in items]
    ds = ray.data.from_items(rows, override_num_blocks=max(1, math.ceil(len(rows) / batch_size)))
    ds = ds.map(
        _prepare_row,
        fn_kwargs={"spec": spec, "thumbs": thumbs},
        num_cpus=resources["decode_cpus"],
        compute=ray.data.TaskPoolStrategy(size=resources["decode_tasks"]),
    )
    ds = ds.map_batches(
        _EncoderActor,
        fn_constructor_kwargs={
            "spec": spec,
            "provenance": provenance,
            "providers": resources["providers"],
            "threads": resources["threads"],
        },
        batch_size=batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=resources["num_actors"]),
        num_cpus=resources["cpus_per_actor"],
        num_gpus=resources["gpus_per_actor"] or None,
    )
    it = ds.iter_batches(batch_size=None, batch_format="numpy")
    try:
        yield from it
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()


class RayEngine:
    """Embeds planned files on a Ray cluster (see the module docstring).

    `address` (else $RAY_ADDRESS) names the cluster, else a local Ray is started (see `connect`);
    Ray is contacted only when some file needs embedding. `workers`: concurrent decode tasks;
    `num_actors` / `cpus_per_actor` / `gpus_per_actor` size the encoder pool (`plan_resources`).
    Adds `nodes`, `actors` (how many took part) and `actor_start_s` (the slowest actor's start:
    imports, model load, first run) to the timings; traces ("decode", t0, t1) per file and
    ("inference@<node id>", t0, t1) per batch in wall-clock time (`time.time()`).
    """

    label = "scanning (ray)"

    def __init__(
        self,
        address: str | None = None,
        *,
        workers: int | None = None,
        num_actors: int | None = None,
        cpus_per_actor: float | None = None,
        gpus_per_actor: float | None = None,
    ) -> None:
        if address:  # a typo fails before any work, not after the plan
            check_address(address)
        self.address, self.workers = address, workers
        self.num_actors, self.cpus_per_actor = num_actors, cpus_per_actor
        self.gpus_per_actor = gpus_per_actor

    def run(self, work: Work, results: Results) -> None:
        connect(self.address)
        resources = plan_resources(
            self.num_actors, self.cpus_per_actor, self.gpus_per_actor, self.workers
        )
        found = work.plan.found
        items = [(p, found[p].size, found[p].mtime) for p in work.files]
        stats = _Stats(results)
        with _quiet_ray_data():
            stream = stream_embeddings(
                items,
                spec=WorkerModels.of(work.encoders),
                provenance=work.encoders.provenance(),
                batch_size=work.batch_size,
                resources=resources,
                thumbs=work.thumbs,
            )
            try:
                while True:
                    t0 = time.perf_counter()
                    batch = _next_or_model_error(stream)
                    results.timings["decode_wait_s"] += time.perf_counter() - t0
                    if batch is None:
                        break
                    _deliver(batch, results, stats)
            finally:
                stream.close()
                stats.close()


def _deliver(batch: dict[str, np.ndarray], results: Results, stats: _Stats) -> None:
    """One result batch of the stream to the procedure, tagged at once, then file by file in
    file order (stored or failed, then progress: a Ctrl-C from a progress callback keeps
    exactly the files that were reported)."""
    n = len(batch["path"])
    embedded: dict[int, Embedded] = {}
    for i in range(n):
        if batch["error"][i]:
            continue
        raw = batch["thumbs"][i]
        prepared = Prepared(
            str(batch["path"][i]),
            json.loads(str(batch["record"][i])),
            _EMPTY,
            _EMPTY,
            float(batch["t1"][i] - batch["t0"][i]),
            pickle.loads(raw) if len(raw) else {},
        )
        embedded[i] = Embedded(prepared, batch["features"][i], batch["visual"][i])
    tags = dict(zip(embedded, results.tag(list(embedded.values())), strict=True))
    for i in range(n):
        stats.note(batch, i)
        shown = str(batch["shown"][i])
        if i in embedded:
            results.store(embedded[i], tags[i])
        else:
            results.failed(Failure(shown, str(batch["error"][i]), bool(batch["kept"][i])))
        results.examined(shown)


class _Stats:
    """Decode and inference timings, nodes and actors of the arriving batches."""

    def __init__(self, results: Results) -> None:
        self.timings, self.trace = results.timings, results.trace
        self.batches: set[tuple[str, float]] = set()
        self.nodes: set[str] = set()
        self.actor_start: dict[str, float] = {}

    def note(self, batch: dict[str, np.ndarray], i: int) -> None:
        t0, t1 = float(batch["t0"][i]), float(batch["t1"][i])
        self.timings["decode_s"] += t1 - t0
        if self.trace is not None:
            self.trace.append(("decode", t0, t1))
        key = (str(batch["actor"][i]), float(batch["i0"][i]))
        if key in self.batches:
            return
        self.batches.add(key)
        self.nodes.add(str(batch["node"][i]))
        self.actor_start[key[0]] = float(batch["a1"][i] - batch["a0"][i])
        i0, i1 = float(batch["i0"][i]), float(batch["i1"][i])
        self.timings["inference_s"] += i1 - i0
        if self.trace is not None:
            self.trace.append((f"inference@{batch['node'][i]}", i0, i1))

    def close(self) -> None:
        self.timings["nodes"] = float(len(self.nodes))
        self.timings["actors"] = float(len(self.actor_start))
        self.timings["actor_start_s"] = max(self.actor_start.values(), default=0.0)


def scan_ray(
    folder: str | os.PathLike[str],
    lib: Library,
    *,
    encoders: Encoders | None = None,
    force: bool = False,
    address: str | None = None,
    keywords: Sequence[str] | KeywordTagger | None = None,
    progress: bool = True,
    on_progress: ProgressCallback | None = None,
    workers: int | None = None,
    batch_size: int | None = None,
    trace: bool = False,
    thumbs: ThumbSink | bool | None = None,
    num_actors: int | None = None,
    cpus_per_actor: float | None = None,
    gpus_per_actor: float | None = None,
) -> ScanReport:
    """`vv.scan(..., engine="ray")` with the encoder pool's knobs (`RayEngine`). `thumbs`'s
    `make` runs on the workers, so it must be picklable; `encoders.folder` must be readable at
    the same path on every node (so must the images)."""
    engine = RayEngine(
        address,
        workers=workers,
        num_actors=num_actors,
        cpus_per_actor=cpus_per_actor,
        gpus_per_actor=gpus_per_actor,
    )
    return run_scan(
        folder,
        lib,
        engine,
        encoders=encoders,
        force=force,
        keywords=keywords,
        progress=progress,
        on_progress=on_progress,
        batch_size=batch_size,
        trace=trace,
        thumbs=thumbs,
    )


def _next_or_model_error(stream: Iterator[dict[str, np.ndarray]]) -> dict[str, np.ndarray] | None:
    """The next batch; a worker's ModelError (models unreadable on a node) comes back as one."""
    from vectorvision_widget.errors import ModelError

    try:
        return next(stream, None)
    except _ray().exceptions.RayError as exc:
        prefix = f"{ModelError.__module__}.{ModelError.__name__}: "
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip().startswith(prefix)]
        if not lines:
            raise
        msg = (
            f"a Ray worker could not load the models: {lines[-1][len(prefix) :]} (every node "
            "must read the models folder at the same path)"
        )
        raise ModelError(msg) from exc


_EMPTY = np.zeros(0, np.float32)
