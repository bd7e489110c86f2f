"""SigLIP (meaning) and DINOv2 (look) image/text encoders on onnxruntime.

`Encoders.load()` checks the whole models folder up front — every file present, each ONNX file
readable with the input/output names, dtypes and ranks of MODELS.md, sha256 against manifest.json
when there is one — so a broken folder fails at once with a message naming the file and the remedy,
never later with a raw onnxruntime traceback. The check reads only each file's graph header
(`onnx_header.read_io`), not the weights, so it costs milliseconds; onnxruntime sessions are created
lazily on first use (a text-only or image-only user never pays for the other models).
"""

from __future__ import annotations

import os
import string
import threading
import warnings
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from . import images as _images
from .errors import ModelError
from .models import (
    DINOV2_SMALL,
    MANIFEST_FILENAME,
    SIGLIP_TEXT,
    SIGLIP_TOKENIZER,
    SIGLIP_VISION,
    ModelSpec,
    TensorSpec,
    resolve_models_dir,
)
from .onnx_header import OnnxIO, read_io

FETCH_HINT = "run `vectorvision fetch-models` (or pass models_dir= / set VECTORVISION_MODELS)"
REFETCH_HINT = "re-download it with `vectorvision fetch-models --force`"
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
_ALIASES = {"cuda": CUDA, "gpu": CUDA, "cpu": CPU}
#: float inputs/outputs may also be float16 (fp16 exports); we cast at the boundary.
_COMPATIBLE = {"tensor(float)": ("tensor(float)", "tensor(float16)")}
_PUNCT = str.maketrans("", "", string.punctuation)

ImageInput = Image.Image | str | os.PathLike[str]


def physical_cores() -> int:
    """Physical cores available to this process (hyper-threads do not speed up matmuls)."""
    logical = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        import psutil

        physical = psutil.cpu_count(logical=False)
    except ImportError:
        physical = None
    return max(1, min(physical or logical or 1, logical or 1))


def choose_providers(requested: Sequence[str] | str | None = None) -> list[str]:
    """CUDA then CPU when available; a requested provider that this onnxruntime build lacks is
    dropped with a warning (CPU is always the last resort); an unknown name is a ValueError."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if requested is None:
        chosen = [p for p in (CUDA, CPU) if p in available]
        return chosen or [CPU]
    if isinstance(requested, str):
        requested = [requested]
    known = set(ort.get_all_providers()) | set(available)
    chosen = []
    for name in requested:
        full = _ALIASES.get(name.lower(), name)
        if full not in known:
            msg = (
                f"unknown onnxruntime provider {name!r}; this installation offers "
                f"{', '.join(available)} (plus aliases 'cuda', 'cpu')"
            )
            raise ValueError(msg)
        if full not in available:
            hint = " (GPU: pip uninstall onnxruntime && pip install onnxruntime-gpu)" * (
                full == CUDA
            )
            warnings.warn(
                f"{full} is not available in this onnxruntime build (available: "
                f"{', '.join(available)}); falling back to {CPU}{hint}",
                RuntimeWarning,
                stacklevel=3,
            )
            continue
        if full not in chosen:
            chosen.append(full)
    if CPU not in chosen:
        chosen.append(CPU)
    return chosen


def _l2_normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, np.float32(1e-12))


def _check_contract(path: Path, io: OnnxIO, spec: ModelSpec) -> None:
    """Names, dtypes and ranks of MODELS.md; extra *required* inputs are also an error."""

    def describe(items: dict[str, tuple[str, list[int | str]]]) -> str:
        return ", ".join(f"{n} {t} {s}" for n, (t, s) in items.items()) or "nothing"

    def check(kind: str, want: TensorSpec, found: dict[str, tuple[str, list[int | str]]]) -> None:
        ok_types = _COMPATIBLE.get(want.dtype, (want.dtype,))
        got = found.get(want.name)
        if got is None or got[0] not in ok_types or len(got[1]) != want.rank:
            msg = (
                f"{path} does not match the {spec.role} model contract: expected {kind} "
                f"'{want.name}' {want.dtype} of rank {want.rank}, found {kind}s: {describe(found)}."
                f" Is this the right file? {REFETCH_HINT}"
            )
            raise ModelError(msg)

    for want in spec.inputs:
        check("input", want, io.inputs)
    for want in spec.outputs:
        check("output", want, io.outputs)
    extra = [n for n in io.inputs if n not in {t.name for t in spec.inputs}]
    if extra:
        msg = (
            f"{path} needs inputs {extra} besides {[t.name for t in spec.inputs]}; this package "
            f"feeds only those (MODELS.md). {REFETCH_HINT}"
        )
        raise ModelError(msg)
    pre = spec.preprocess
    if pre is not None:  # a static image size must equal what preprocessing produces
        dims = io.inputs[spec.inputs[0].name][1]
        static = [d for d in dims[2:] if isinstance(d, int) and d > 0]
        if any(d != pre.output_size for d in static):
            msg = f"{path} expects {dims[2:]} pixels but preprocessing makes {pre.output_size}²"
            raise ModelError(msg)


def _static_dim(io: OnnxIO, output: str) -> int | None:
    last = io.outputs[output][1][-1]
    return last if isinstance(last, int) and last > 0 else None


class Encoders:
    """The three models + tokenizer of a models folder. Create with `Encoders.load()`.

    Thread-safety: preprocessing is pure and can run in many threads; sessions are created under a
    lock and `InferenceSession.run` is thread-safe.
    """

    def __init__(
        self,
        folder: Path,
        io: dict[str, OnnxIO],
        tokenizer: Any,
        *,
        batch_size: int,
        providers: list[str],
        threads: int,
        max_pixels: int | None,
    ) -> None:
        self.folder = folder
        self.batch_size = batch_size
        self.threads = threads
        self.max_pixels = max_pixels
        self._io = io
        self._tokenizer = tokenizer
        self._planned = providers
        self._sessions: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._dims: dict[str, int | None] = {
            "features": _static_dim(io[SIGLIP_VISION.filename], SIGLIP_VISION.embedding_output),
            "visual": _static_dim(io[DINOV2_SMALL.filename], DINOV2_SMALL.embedding_output),
        }
        self._sha: dict[str, str] = {}

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(
        cls,
        models_dir: str | os.PathLike[str] | None = None,
        *,
        batch_size: int = 16,
        providers: Sequence[str] | str | None = None,
        threads: int | None = None,
        max_pixels: int | None = _images.DEFAULT_MAX_PIXELS,
    ) -> Encoders:
        """Check a models folder (argument, $VECTORVISION_MODELS, ./models) and prepare encoders.

        Raises ModelError naming the file and the remedy; ValueError for an unknown provider.
        `threads` defaults to the number of physical cores (CPU provider).
        """
        if batch_size < 1:
            msg = f"batch_size must be >= 1, got {batch_size}"
            raise ValueError(msg)
        chosen = choose_providers(providers)
        folder = resolve_models_dir(models_dir)
        if not folder.is_dir():
            msg = f"models folder {folder.resolve()} does not exist; {FETCH_HINT}"
            raise ModelError(msg)
        specs = (SIGLIP_VISION, DINOV2_SMALL, SIGLIP_TEXT)
        names = [s.filename for s in specs] + [SIGLIP_TOKENIZER.filename]
        missing = [n for n in names if not (folder / n).is_file()]
        if missing:
            msg = f"{folder.resolve()} lacks {', '.join(missing)}; {FETCH_HINT}"
            raise ModelError(msg)
        io = {}
        for spec in specs:
            path = folder / spec.filename
            try:
                io[spec.filename] = read_io(path)
            except ValueError as exc:
                msg = f"{path} is not a readable ONNX model ({exc}); {REFETCH_HINT}"
                raise ModelError(msg) from exc
            _check_contract(path, io[spec.filename], spec)
        tokenizer = _load_tokenizer(folder / SIGLIP_TOKENIZER.filename)
        enc = cls(
            folder, io, tokenizer, batch_size=batch_size, providers=chosen,
            threads=threads or physical_cores(), max_pixels=max_pixels,
        )  # fmt: skip
        feat_text = _static_dim(io[SIGLIP_TEXT.filename], SIGLIP_TEXT.embedding_output)
        if feat_text and enc._dims["features"] and feat_text != enc._dims["features"]:
            msg = (
                f"{folder / SIGLIP_TEXT.filename} gives {feat_text}-d vectors but "
                f"{SIGLIP_VISION.filename} gives {enc._dims['features']}-d: text and vision must "
                f"come from the same SigLIP; {REFETCH_HINT}"
            )
            raise ModelError(msg)
        if (folder / MANIFEST_FILENAME).exists():
            for name in names:  # a manifest promises hashes: hold the files to them now
                enc._sha[name] = _verify(folder, name)
        return enc

    # ------------------------------------------------------------------ sessions

    def _session(self, spec: ModelSpec) -> Any:
        """The onnxruntime session of `spec`, created on first use."""
        session = self._sessions.get(spec.filename)
        if session is not None:
            return session
        with self._lock:
            if spec.filename not in self._sessions:
                self._sessions[spec.filename] = self._create_session(spec)
            return self._sessions[spec.filename]

    def _create_session(self, spec: ModelSpec) -> Any:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")  # idle = no CPU
        opts.log_severity_level = 3
        path = self.folder / spec.filename
        try:
            return ort.InferenceSession(str(path), sess_options=opts, providers=self._planned)
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... types
            msg = f"{path} could not be loaded by onnxruntime ({exc}); {REFETCH_HINT}"
            raise ModelError(msg) from exc

    @property
    def providers(self) -> list[str]:
        """Providers in use: those of the first session created, else the planned ones."""
        for session in list(self._sessions.values()):
            return list(session.get_providers())
        return list(self._planned)

    def _run(self, spec: ModelSpec, feed: np.ndarray) -> np.ndarray:
        session = self._session(spec)
        inp = spec.inputs[0]
        if self._io[spec.filename].inputs[inp.name][0] == "tensor(float16)":
            feed = feed.astype(np.float16)
        out = session.run([spec.embedding_output], {inp.name: feed})[0]
        if spec.cls_token:
            out = out[:, 0, :]
        return np.asarray(out, dtype=np.float32)

    # ------------------------------------------------------------------ dims + provenance

    def _dim(self, key: str, spec: ModelSpec) -> int:
        """Embedding size from the graph's output shape, else from one run on a blank image."""
        if self._dims[key] is None:
            size = spec.preprocess.output_size if spec.preprocess else 224
            self._dims[key] = int(
                self._run(spec, np.zeros((1, 3, size, size), np.float32)).shape[1]
            )
        return int(self._dims[key])  # type: ignore[arg-type]

    @property
    def feature_dim(self) -> int:
        """Length of SigLIP `features` (768 for siglip-base; read from the model)."""
        return self._dim("features", SIGLIP_VISION)

    @property
    def visual_dim(self) -> int:
        """Length of DINOv2 `visualFeatures` (384 for dinov2-small; read from the model)."""
        return self._dim("visual", DINOV2_SMALL)

    def _sha256(self, filename: str) -> str:
        if filename not in self._sha:
            self._sha[filename] = _verify(self.folder, filename)
        return self._sha[filename]

    def model_sha256(self, filename: str) -> str:
        """sha256 of one file in the models folder (checked against the manifest, else hashed
        once); keys caches such as the keyword label embeddings."""
        return self._sha256(filename)

    def provenance(self) -> dict[str, dict[str, Any]]:
        """Which model files make the vectors: {"features": {name, sha256, dim}, "visualFeatures":
        {...}}. sha256 from the manifest's check, else hashed once from the file."""
        return {
            "features": {
                "name": SIGLIP_VISION.filename,
                "sha256": self._sha256(SIGLIP_VISION.filename),
                "dim": self.feature_dim,
            },
            "visualFeatures": {
                "name": DINOV2_SMALL.filename,
                "sha256": self._sha256(DINOV2_SMALL.filename),
                "dim": self.visual_dim,
            },
        }

    # ------------------------------------------------------------------ images

    def preprocess_image(self, img: Image.Image) -> tuple[np.ndarray, np.ndarray]:
        """RGB PIL image -> (siglip (3,224,224), dinov2 (3,224,224)) float32 tensors."""
        if img.mode != "RGB":
            img = _images.to_rgb(img)
        return (
            _images.preprocess(img, SIGLIP_VISION.preprocess),  # type: ignore[arg-type]
            _images.preprocess(img, DINOV2_SMALL.preprocess),  # type: ignore[arg-type]
        )

    def load_image(self, source: ImageInput) -> Image.Image:
        """Decode a path or PIL image for the models (JPEG draft at the size they need)."""
        return _images.load_for_models(
            source, SIGLIP_VISION.preprocess, DINOV2_SMALL.preprocess,  # type: ignore[arg-type]
            max_pixels=self.max_pixels,
        )  # fmt: skip

    def encode_pixels(
        self, siglip_batch: np.ndarray, dino_batch: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Preprocessed (B,3,S,S) batches -> L2-normalised (features (B,Df), visual (B,Dv)).

        Runs the whole batch at once; split it yourself (or use embed_images) for batch_size.
        """
        sig = np.ascontiguousarray(siglip_batch, dtype=np.float32)
        dino = np.ascontiguousarray(dino_batch, dtype=np.float32)
        if sig.shape[0] != dino.shape[0]:
            msg = f"batches differ in length: siglip {sig.shape[0]}, dinov2 {dino.shape[0]}"
            raise ValueError(msg)
        if sig.shape[0] == 0:
            return (np.zeros((0, self.feature_dim), np.float32),
                    np.zeros((0, self.visual_dim), np.float32))  # fmt: skip
        features = _l2_normalise(self._run(SIGLIP_VISION, sig))
        visual = _l2_normalise(self._run(DINOV2_SMALL, dino))
        self._dims["features"], self._dims["visual"] = features.shape[1], visual.shape[1]
        return features, visual

    def _prepare(self, source: ImageInput) -> tuple[np.ndarray, np.ndarray]:
        img = source if isinstance(source, Image.Image) else self.load_image(source)
        return self.preprocess_image(img)

    def embed_images(
        self, images: ImageInput | Iterable[ImageInput], *, workers: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """PIL images and/or paths -> (features (N,Df), visual (N,Dv)), float32, unit rows.

        Rows follow the input order. Batches of `batch_size`; the next batch is decoded in
        `workers` threads while the current one runs. A file that cannot be decoded raises
        `images.ImageDecodeError` naming it (the analyzer's scan records such files instead).
        """
        if isinstance(images, (Image.Image, str, os.PathLike)):
            images = [images]
        items = list(images)
        feats: list[np.ndarray] = []
        vis: list[np.ndarray] = []
        n_workers = workers or min(4, physical_cores() + 1)
        with ThreadPoolExecutor(max_workers=n_workers) as pool:
            for tensors in _prefetch(pool, self._prepare, items, self.batch_size):
                f, v = self.encode_pixels(
                    np.stack([t[0] for t in tensors]), np.stack([t[1] for t in tensors])
                )
                feats.append(f)
                vis.append(v)
        if not feats:
            return self.encode_pixels(np.zeros((0, 3, 224, 224)), np.zeros((0, 3, 224, 224)))
        return np.concatenate(feats), np.concatenate(vis)

    # ------------------------------------------------------------------ text

    def tokenize(self, texts: Sequence[str]) -> np.ndarray:
        """Lowercase, strip punctuation, tokenize; (N, 64) int64 padded/truncated with `</s>`."""
        cleaned = [" ".join(t.lower().translate(_PUNCT).split()) for t in texts]
        encodings = self._tokenizer.encode_batch(cleaned)
        return np.array([e.ids for e in encodings], dtype=np.int64).reshape(
            len(cleaned), SIGLIP_TOKENIZER.max_length
        )

    def embed_texts(self, texts: str | Sequence[str]) -> np.ndarray:
        """Texts -> (N, Df) float32 unit rows in the same space as the image `features`."""
        if isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.feature_dim), np.float32)
        out = [
            self._run(SIGLIP_TEXT, self.tokenize(texts[i : i + self.batch_size]))
            for i in range(0, len(texts), self.batch_size)
        ]
        result = _l2_normalise(np.concatenate(out))
        if self._dims["features"] is not None and result.shape[1] != self._dims["features"]:
            msg = (
                f"{self.folder / SIGLIP_TEXT.filename} gives {result.shape[1]}-d vectors but the "
                f"vision model {self._dims['features']}-d; they must come from the same SigLIP"
            )
            raise ModelError(msg)
        return result

    def __repr__(self) -> str:
        return (
            f"Encoders({str(self.folder)!r}, providers={self.providers}, batch={self.batch_size})"
        )


def _prefetch(
    pool: ThreadPoolExecutor, fn: Any, items: list[Any], batch: int
) -> Iterator[list[Any]]:
    """Yield fn(item) per batch, in order, while the next batch is already being computed."""

    def submit(start: int) -> list[Future[Any]]:
        return [pool.submit(fn, it) for it in items[start : start + batch]]

    pending = submit(0)
    for start in range(0, len(items), batch):
        current = pending
        pending = submit(start + batch)
        try:
            yield [f.result() for f in current]
        except BaseException:
            for f in pending:
                f.cancel()
            raise


def _load_tokenizer(path: Path) -> Any:
    from tokenizers import Tokenizer

    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception subclass
        msg = f"{path} is not a readable tokenizer.json ({exc}); {REFETCH_HINT}"
        raise ModelError(msg) from exc
    spec = SIGLIP_TOKENIZER
    tok.enable_truncation(max_length=spec.max_length)
    tok.enable_padding(length=spec.max_length, pad_id=spec.pad_id, pad_token="</s>")
    return tok


def _verify(folder: Path, filename: str) -> str:
    from .models import verify_against_manifest

    return verify_against_manifest(folder, filename)
