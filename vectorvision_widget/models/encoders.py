"""SigLIP (meaning) and DINOv2 (look) image/text encoders on onnxruntime.

`Encoders.load()` checks the whole models folder up front — every file present, each ONNX file
readable with the input/output names, dtypes and ranks of docs/models.md, sha256 against
manifest.json when there is one — so a broken folder fails at once with a message naming the file
and the remedy, never later with a raw onnxruntime traceback. The check reads only each file's
graph header (`onnx_header.read_io`), not the weights, so it costs milliseconds; onnxruntime
sessions are created lazily on first use (a text-only user never pays for the image models).
Which models a folder holds comes from its manifest.json (`models.specs` lists the choices).
"""

from __future__ import annotations

import hashlib
import os
import string
import threading
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

import vectorvision_widget.images.decode as _images
import vectorvision_widget.images.preprocess as model_input
from vectorvision_widget.errors import ModelError
from vectorvision_widget.models.manifest import (
    calibration,
    load_manifest,
    selection,
    verify_file,
)
from vectorvision_widget.models.onnx_header import OnnxIO, read_io
from vectorvision_widget.models.runtime import (
    CPU,
    CUDA,
    REFETCH_HINT,
    choose_providers,
    create_session,
    physical_cores,
)
from vectorvision_widget.models.specs import (
    ModelSpec,
    SemanticModel,
    TensorSpec,
    TokenizerSpec,
    VisualModel,
    resolve_models_dir,
    semantic_model,
    visual_model,
)
from vectorvision_widget.vectors import l2_normalise

__all__ = ["CPU", "CUDA", "Encoders", "choose_providers", "physical_cores"]

#: Default images per inference call: 16 keeps a CPU's caches warm (docs/benchmarks.md); a GPU
#: needs bigger batches to fill it (benchmarks/bench_gpu.sh measures 16..128).
CPU_BATCH = 16
GPU_BATCH = 64
FETCH_HINT = (
    "run `vectorvision fetch-models` (or point VECTORVISION_MODELS, --models-dir on the command "
    "line or models_dir in Python at a folder that has them)"
)
#: float inputs/outputs may also be float16 (fp16 exports); we cast at the boundary.
_COMPATIBLE = {"tensor(float)": ("tensor(float)", "tensor(float16)")}
_PUNCT = str.maketrans("", "", string.punctuation)

ImageInput = Image.Image | str | os.PathLike[str]


def _l2_normalise(x: np.ndarray) -> np.ndarray:
    return np.asarray(l2_normalise(x, check_finite=False, what="embeddings"), np.float32)


def _check_contract(path: Path, io: OnnxIO, spec: ModelSpec) -> None:
    """Names, dtypes and ranks of docs/models.md; extra *required* inputs are also an error."""

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
            f"feeds only those (docs/models.md). {REFETCH_HINT}"
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
    """The look model + the SigLIP pair + tokenizer of a models folder. Create with `load()`.

    Which models: the folder's manifest.json (written by `fetch_models(visual=, semantic=)`),
    else the defaults (dinov2-small, siglip-base); `load(visual=, semantic=)` overrides.
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
        look: VisualModel | None = None,
        meaning: SemanticModel | None = None,
        pixel_budget: int | None = _images.DEFAULT_PIXEL_BUDGET,
        manifest: dict[str, Any] | None = None,
    ) -> None:
        self.folder = folder
        self.batch_size = batch_size
        self.threads = threads
        self.max_pixels = max_pixels
        self.pixel_budget = pixel_budget
        self.look = look or visual_model()
        self.meaning = meaning or semantic_model()
        self._io = io
        self._tokenizer = tokenizer
        self._planned = providers
        self._sessions: dict[str, Any] = {}
        self._lock = threading.Lock()
        vision, dino = self.meaning.vision, self.look.model
        self._dims: dict[str, int | None] = {
            "features": _static_dim(io[vision.filename], vision.embedding_output),
            "visual": _static_dim(io[dino.filename], dino.embedding_output),
        }
        self._sha: dict[str, str] = {}
        self._manifest = manifest  # read once by load(); hashes are checked against it

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(
        cls,
        models_dir: str | os.PathLike[str] | None = None,
        *,
        batch_size: int | None = None,
        providers: Sequence[str] | str | None = None,
        threads: int | None = None,
        max_pixels: int | None = _images.DEFAULT_MAX_PIXELS,
        visual: str | None = None,
        semantic: str | None = None,
        pixel_budget: int | None = _images.DEFAULT_PIXEL_BUDGET,
    ) -> Encoders:
        """Check a models folder (argument, $VECTORVISION_MODELS, ./models) and prepare encoders.

        `visual` / `semantic` name the models to use (default: what the folder's manifest.json
        records, else "dinov2-small" / "siglip-base"). `max_pixels` / `pixel_budget`: the decode
        limits of `images.open_image` (None lifts them). Raises ModelError naming the file and the
        remedy; ValueError for an unknown provider or model name. `threads` defaults to the
        number of physical cores (CPU provider).
        """
        chosen = choose_providers(providers)
        if batch_size is None:
            batch_size = GPU_BATCH if chosen[0] == CUDA else CPU_BATCH
        if batch_size < 1:
            msg = f"batch_size must be >= 1, got {batch_size}"
            raise ValueError(msg)
        folder = resolve_models_dir(models_dir)
        if not folder.is_dir():
            msg = f"models folder {folder.resolve()} does not exist; {FETCH_HINT}"
            raise ModelError(msg)
        manifest = load_manifest(folder)  # the one read of manifest.json
        recorded = selection(manifest)
        look = visual_model(visual or recorded[0])
        meaning = semantic_model(semantic or recorded[1])
        calibrated = calibration(manifest, meaning.name)
        if calibrated is not None and not meaning.zero_shot.calibrated:  # read at fetch time
            scale, bias = calibrated
            zero_shot = replace(meaning.zero_shot, logit_scale=scale, logit_bias=bias)
            meaning = replace(meaning, zero_shot=zero_shot)
        specs = (meaning.vision, look.model, meaning.text)
        names = [s.filename for s in specs] + [meaning.tokenizer.filename]
        missing = [n for n in names if not (folder / n).is_file()]
        if missing:
            fetch = f"vectorvision fetch-models --visual {look.name} --semantic {meaning.name}"
            msg = f"{folder.resolve()} lacks {', '.join(missing)}; {FETCH_HINT} (`{fetch}`)"
            present = _models_present(folder)
            if present:
                msg += f"; it holds {', '.join(present)}: pass visual=/semantic= to use them"
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
        tokenizer = _load_tokenizer(folder / meaning.tokenizer.filename, meaning.tokenizer)
        enc = cls(
            folder,
            io,
            tokenizer,
            batch_size=batch_size,
            providers=chosen,
            threads=threads or physical_cores(),
            max_pixels=max_pixels,
            look=look,
            meaning=meaning,
            pixel_budget=pixel_budget,
            manifest=manifest,
        )
        text = meaning.text
        feat_text = _static_dim(io[text.filename], text.embedding_output)
        if feat_text and enc._dims["features"] and feat_text != enc._dims["features"]:
            msg = (
                f"{folder / text.filename} gives {feat_text}-d vectors but "
                f"{meaning.vision.filename} gives {enc._dims['features']}-d: text and vision must "
                f"come from the same SigLIP; {REFETCH_HINT}"
            )
            raise ModelError(msg)
        if manifest is not None:
            for name in names:  # a manifest promises hashes: hold the files to them now
                enc._sha[name] = verify_file(folder, name, manifest)
        _warn_int8_on_cuda(manifest, chosen, meaning.vision.filename)
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
        """The session is made from the bytes hashed here, so the vectors come from the file
        the provenance names: a file replaced since `load` hashed it is refused, never mixed
        into a library under the old file's fingerprint."""
        path = self.folder / spec.filename
        try:
            model = path.read_bytes()
        except OSError as exc:
            msg = f"{path} cannot be read ({exc}); {REFETCH_HINT}"
            raise ModelError(msg) from exc
        got = hashlib.sha256(model).hexdigest()
        known = self._sha.setdefault(spec.filename, got)
        if known != got:
            msg = (
                f"{path} changed since the encoders were loaded (sha256 {known[:12]}… then, "
                f"{got[:12]}… now): load the encoders again (vv.Encoders.load) so a library "
                "never mixes vectors of two model files"
            )
            raise ModelError(msg)
        return create_session(path, self._planned, self.threads, model)

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
        dim = self._dims[key]
        if dim is None:
            size = spec.preprocess.output_size if spec.preprocess else 224
            dim = int(self._run(spec, np.zeros((1, 3, size, size), np.float32)).shape[1])
            self._dims[key] = dim
        return dim

    @property
    def feature_dim(self) -> int:
        """Length of SigLIP `features` (768 for siglip-base; read from the model)."""
        return self._dim("features", self.meaning.vision)

    @property
    def visual_dim(self) -> int:
        """Length of DINOv2 `visualFeatures` (384 for dinov2-small; read from the model)."""
        return self._dim("visual", self.look.model)

    def _sha256(self, filename: str) -> str:
        if filename not in self._sha:
            self._sha[filename] = verify_file(self.folder, filename, self._manifest)
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
                "name": self.meaning.vision.filename,
                "sha256": self._sha256(self.meaning.vision.filename),
                "dim": self.feature_dim,
            },
            "visualFeatures": {
                "name": self.look.model.filename,
                "sha256": self._sha256(self.look.model.filename),
                "dim": self.visual_dim,
            },
        }

    # ------------------------------------------------------------------ images

    @property
    def decode_workers(self) -> int:
        """Decode threads for embed_images: all cores when a GPU runs the models (decoding is the
        bottleneck there), else a few (the CPU is busy with inference)."""
        if self.providers[0] == CUDA:
            return physical_cores()
        return min(4, physical_cores() + 1)

    @property
    def decode_size(self) -> int:
        """The shorter side a decoded image needs so no model upsamples it (JPEG draft size)."""
        return model_input.required_size(*self._preprocessing)

    @property
    def _preprocessing(self) -> tuple[Any, Any]:
        return self.meaning.vision.preprocess, self.look.model.preprocess

    def preprocess_image(self, img: Image.Image) -> tuple[np.ndarray, np.ndarray]:
        """RGB PIL image -> (siglip (3,S,S), dinov2 (3,224,224)) float32 tensors (S: 224, 256…)."""
        if img.mode != "RGB":
            img = _images.to_rgb(img)
        sig, dino = self._preprocessing
        return model_input.preprocess(img, sig), model_input.preprocess(img, dino)

    def load_image(self, source: _images.ImageSource) -> Image.Image:
        """Decode a path, bytes, a file object or a PIL image for the models (JPEG draft at the
        size they need)."""
        return model_input.load_for_models(
            source, *self._preprocessing, max_pixels=self.max_pixels, pixel_budget=self.pixel_budget
        )

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
            return (
                np.zeros((0, self.feature_dim), np.float32),
                np.zeros((0, self.visual_dim), np.float32),
            )
        features = _l2_normalise(self._run(self.meaning.vision, sig))
        visual = _l2_normalise(self._run(self.look.model, dino))
        self._dims["features"], self._dims["visual"] = features.shape[1], visual.shape[1]
        return features, visual

    def _prepare(self, source: ImageInput) -> tuple[np.ndarray, np.ndarray]:
        img = source if isinstance(source, Image.Image) else self.load_image(source)
        return self.preprocess_image(img)

    def embed_images(
        self, images: ImageInput | Iterable[ImageInput], *, workers: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """PIL images and/or paths -> (features (N,Df), visual (N,Dv)), float32, unit rows.

        Rows follow the input order. Batches of `batch_size`; images are decoded in `workers`
        threads overlapped with inference (`pipeline.py`, the scan's pipeline). A file that cannot
        be decoded raises `images.ImageDecodeError` naming it (the scan records such files).
        """
        from vectorvision_widget.models.pipeline import run_pipeline

        if isinstance(images, (Image.Image, str, os.PathLike)):
            images = [images]
        items = list(images)
        feats: list[np.ndarray] = []
        vis: list[np.ndarray] = []

        def infer(tensors: list[tuple[np.ndarray, np.ndarray]]) -> None:
            f, v = self.encode_pixels(
                np.stack([t[0] for t in tensors]), np.stack([t[1] for t in tensors])
            )
            feats.append(f)
            vis.append(v)

        n_workers = workers or self.decode_workers
        run_pipeline(items, self._prepare, infer, batch_size=self.batch_size, workers=n_workers)
        if not feats:
            return (
                np.zeros((0, self.feature_dim), np.float32),
                np.zeros((0, self.visual_dim), np.float32),
            )
        return np.concatenate(feats), np.concatenate(vis)

    # ------------------------------------------------------------------ text

    def tokenize(self, texts: Sequence[str]) -> np.ndarray:
        """Lowercase, strip punctuation, tokenize; (N, 64) int64 padded/truncated with `</s>`."""
        cleaned = [" ".join(t.lower().translate(_PUNCT).split()) for t in texts]
        encodings = self._tokenizer.encode_batch(cleaned)
        return np.array([e.ids for e in encodings], dtype=np.int64).reshape(
            len(cleaned), self.meaning.tokenizer.max_length
        )

    def embed_texts(self, texts: str | Sequence[str]) -> np.ndarray:
        """Texts -> (N, Df) float32 unit rows in the same space as the image `features`."""
        if isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.feature_dim), np.float32)
        out = [
            self._run(self.meaning.text, self.tokenize(texts[i : i + self.batch_size]))
            for i in range(0, len(texts), self.batch_size)
        ]
        result = _l2_normalise(np.concatenate(out))
        if self._dims["features"] is not None and result.shape[1] != self._dims["features"]:
            msg = (
                f"{self.folder / self.meaning.text.filename} gives {result.shape[1]}-d vectors "
                f"but the vision model {self._dims['features']}-d; they must come from one SigLIP"
            )
            raise ModelError(msg)
        return result

    def __repr__(self) -> str:
        return (
            f"Encoders({str(self.folder)!r}, providers={self.providers}, batch={self.batch_size})"
        )


def _load_tokenizer(path: Path, spec: TokenizerSpec) -> Any:
    from tokenizers import Tokenizer

    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception subclass
        msg = f"{path} is not a readable tokenizer.json ({exc}); {REFETCH_HINT}"
        raise ModelError(msg) from exc
    tok.enable_truncation(max_length=spec.max_length)
    tok.enable_padding(length=spec.max_length, pad_id=spec.pad_id, pad_token="</s>")
    return tok


def _warn_int8_on_cuda(manifest: dict[str, Any] | None, providers: list[str], name: str) -> None:
    """int8 files run on CUDA mostly on the CPU (no CUDA kernels for their integer matmuls)."""
    entry = ((manifest or {}).get("files") or {}).get(name) or {}
    if providers[0] == CUDA and entry.get("variant") == "quantized":
        warnings.warn(
            "the models are the int8 (quantized) files, which run slowly on CUDA; "
            "`vectorvision fetch-models --variant fp16` gets the GPU variant",
            RuntimeWarning,
            stacklevel=3,
        )


def _models_present(folder: Path) -> list[str]:
    """Registry models whose files are all in `folder` (for the 'lacks' message)."""
    from vectorvision_widget.models.specs import SEMANTIC_MODELS, VISUAL_MODELS

    every: list[VisualModel | SemanticModel] = [*VISUAL_MODELS.values(), *SEMANTIC_MODELS.values()]
    return [m.name for m in every if all((folder / f).is_file() for f in m.files)]
