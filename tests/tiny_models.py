"""Tiny ONNX stand-ins for DINOv2-small and SigLIP (vision, text, tokenizer), built in a second.

They have exactly the I/O names, dtypes and ranks of the published exports (docs/models.md), so
they go through the same loading, validation, preprocessing, batching and provider code as the real
models.
Their embeddings are simple, *known* functions of the input, so tests elsewhere can reason about
them:

- DINOv2 (`visual`): token 0 of `last_hidden_state` = ``W_dino @ grid4x4(pixels) + b_dino`` where
  ``grid4x4`` is the 4×4 box-average of the preprocessed tensor (48 numbers, colour *and* layout).
  The other tokens are a strided-conv patch embedding. Similar images → similar vectors.
- SigLIP vision (`features`): `pooler_output` = ``W_sig @ grid4x4(pixels) + b_sig``.
- SigLIP text: `pooler_output` = mean over the 64 positions of a token embedding table in which
  padding (`</s>`, id 1) is zero, so the direction is the sum of the words' embeddings. Every colour
  word's embedding is exactly the vision embedding of a uniform image of that colour (before
  normalisation), and filler words ("this is a photo of") are short, so "a red car" lands next to
  red images.

`TinyModels` returned by `build_tiny_models` carries the weights so tests can recompute the
expected vectors independently with numpy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

OPSET = 17
GRID = 4  # the box-average grid that carries colour + layout
IMAGE = 224

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 180, 40),
    "blue": (30, 60, 220),
    "yellow": (240, 220, 30),
    "orange": (250, 140, 20),
    "purple": (130, 40, 170),
    "pink": (250, 150, 190),
    "brown": (120, 70, 30),
    "white": (250, 250, 250),
    "black": (5, 5, 5),
    "grey": (128, 128, 128),
}
FILLER = ("this", "is", "a", "an", "the", "photo", "of", "picture", "image")
NOUNS = (
    "car",
    "cat",
    "dog",
    "bird",
    "beach",
    "sky",
    "sea",
    "tree",
    "forest",
    "mountain",
    "snow",
    "city",
    "house",
    "flower",
    "grass",
    "sunset",
    "night",
    "food",
    "person",
    "face",
    "water",
    "bridge",
    "rocket",
    "clock",
    "cup",
    "texture",
    "brick",
    "wall",
)
SPECIAL = ("<pad>", "</s>", "<unk>")  # ids 0, 1, 2 as in SigLIP's tokenizer
PAD_ID = 1


@dataclass(frozen=True)
class TinyModels:
    """Where the files are and the weights that define them (for independent recomputation)."""

    folder: Path
    feature_dim: int
    visual_dim: int
    dino_w: np.ndarray  # (visual_dim, 3*GRID*GRID)
    dino_b: np.ndarray  # (visual_dim,)
    siglip_w: np.ndarray  # (feature_dim, 3*GRID*GRID)
    siglip_b: np.ndarray  # (feature_dim,)
    token_embeddings: np.ndarray  # (vocab, feature_dim)
    vocab: dict[str, int]

    def expected_visual(self, pixels: np.ndarray) -> np.ndarray:
        """Unnormalised DINOv2 CLS for a preprocessed (B,3,224,224) batch, computed in numpy."""
        return grid_average(pixels) @ self.dino_w.T + self.dino_b

    def expected_features(self, pixels: np.ndarray) -> np.ndarray:
        """Unnormalised SigLIP pooler_output for a preprocessed (B,3,224,224) batch."""
        return grid_average(pixels) @ self.siglip_w.T + self.siglip_b


def grid_average(pixels: np.ndarray, grid: int = GRID) -> np.ndarray:
    """(B,3,H,W) -> (B, 3*grid*grid) box averages, flattened channel-major like the ONNX graph."""
    b, c, h, w = pixels.shape
    blocks = pixels.reshape(b, c, grid, h // grid, grid, w // grid).astype(np.float64)
    return blocks.mean(axis=(3, 5)).reshape(b, c * grid * grid)


def _const(name: str, array: np.ndarray) -> TensorProto:
    return numpy_helper.from_array(np.ascontiguousarray(array), name)


def _grid_nodes(prefix: str, image: int = IMAGE) -> list[onnx.NodeProto]:
    """pixels -> (B, 48): AveragePool with an image/4-px kernel, then flatten (channel-major)."""
    k = image // GRID
    return [
        helper.make_node(
            "AveragePool", ["pixel_values"], [f"{prefix}_pool"], kernel_shape=[k, k], strides=[k, k]
        ),
        helper.make_node("Flatten", [f"{prefix}_pool"], [f"{prefix}_grid"], axis=1),
    ]


def _tokens(prefix: str, dim_shape: str) -> list[onnx.NodeProto]:
    """(B, D, h, w) conv output -> (B, h*w, D)."""
    return [
        helper.make_node("Reshape", [f"{prefix}_conv", dim_shape], [f"{prefix}_bdp"]),
        helper.make_node("Transpose", [f"{prefix}_bdp"], [f"{prefix}_tokens"], perm=[0, 2, 1]),
    ]


def _save(graph: onnx.GraphProto, path: Path) -> None:
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="vectorvision-tests"
    )
    model.ir_version = 8  # readable by onnxruntime >= 1.14
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _image_input(dynamic: bool, image: int = IMAGE) -> onnx.ValueInfoProto:
    dims = ["batch_size", 3, "height", "width"] if dynamic else ["batch_size", 3, image, image]
    return helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, dims)


def build_dinov2(path: Path, w: np.ndarray, b: np.ndarray, patch_w: np.ndarray) -> None:
    """`pixel_values` [B,3,H,W] (dynamic) -> `last_hidden_state` [B, 1+P, D]; CLS = W·grid + b."""
    dim = w.shape[0]
    nodes = [
        *_grid_nodes("cls"),
        helper.make_node("Gemm", ["cls_grid", "cls_w", "cls_b"], ["cls_vec"], transB=1),
        helper.make_node("Unsqueeze", ["cls_vec", "axis1"], ["cls_token"]),
        helper.make_node(
            "Conv", ["pixel_values", "patch_w"], ["p_conv"], kernel_shape=[14, 14], strides=[14, 14]
        ),
        *_tokens("p", "bdp_shape"),
        helper.make_node("Concat", ["cls_token", "p_tokens"], ["last_hidden_state"], axis=1),
    ]
    inits = [
        _const("cls_w", w.astype(np.float32)),
        _const("cls_b", b.astype(np.float32)),
        _const("patch_w", patch_w.astype(np.float32)),
        _const("axis1", np.array([1], np.int64)),
        _const("bdp_shape", np.array([0, dim, -1], np.int64)),
    ]
    out = helper.make_tensor_value_info(
        "last_hidden_state", TensorProto.FLOAT, ["batch_size", "sequence_length", dim]
    )
    _save(helper.make_graph(nodes, "tiny_dinov2", [_image_input(True)], [out], inits), path)


def build_siglip_vision(
    path: Path, w: np.ndarray, b: np.ndarray, patch_w: np.ndarray, image: int = IMAGE
) -> None:
    """`pixel_values` [B,3,S,S] -> `last_hidden_state` [B,(S/16)²,D], `pooler_output` [B,D]."""
    dim = w.shape[0]
    nodes = [
        *_grid_nodes("pool", image),
        helper.make_node("Gemm", ["pool_grid", "pool_w", "pool_b"], ["pooler_output"], transB=1),
        helper.make_node(
            "Conv", ["pixel_values", "patch_w"], ["p_conv"], kernel_shape=[16, 16], strides=[16, 16]
        ),
        *_tokens("p", "bdp_shape"),
        helper.make_node("Identity", ["p_tokens"], ["last_hidden_state"]),
    ]
    inits = [
        _const("pool_w", w.astype(np.float32)),
        _const("pool_b", b.astype(np.float32)),
        _const("patch_w", patch_w.astype(np.float32)),
        _const("bdp_shape", np.array([0, dim, -1], np.int64)),
    ]
    outs = [
        helper.make_tensor_value_info(
            "last_hidden_state", TensorProto.FLOAT, ["batch_size", (image // 16) ** 2, dim]
        ),
        helper.make_tensor_value_info("pooler_output", TensorProto.FLOAT, ["batch_size", dim]),
    ]
    inputs = [_image_input(False, image)]
    graph = helper.make_graph(nodes, "tiny_siglip_vision", inputs, outs, inits)
    _save(graph, path)


def build_siglip_text(path: Path, table: np.ndarray, max_length: int = 64) -> None:
    """`input_ids` int64 [B,64] -> `last_hidden_state` [B,64,D], `pooler_output` [B,D] (mean)."""
    dim = table.shape[1]
    nodes = [
        helper.make_node("Gather", ["table", "input_ids"], ["last_hidden_state"], axis=0),
        helper.make_node(
            "ReduceMean", ["last_hidden_state"], ["pooler_output"], axes=[1], keepdims=0
        ),
    ]
    inp = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch_size", max_length])
    outs = [
        helper.make_tensor_value_info(
            "last_hidden_state", TensorProto.FLOAT, ["batch_size", max_length, dim]
        ),
        helper.make_tensor_value_info("pooler_output", TensorProto.FLOAT, ["batch_size", dim]),
    ]
    inits = [_const("table", table.astype(np.float32))]
    _save(helper.make_graph(nodes, "tiny_siglip_text", [inp], outs, inits), path)


def build_tokenizer(path: Path, vocab: dict[str, int]) -> None:
    """A WordLevel tokenizer.json with SigLIP's special ids (<pad> 0, </s> 1, <unk> 2) + eos."""
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", PAD_ID)]
    )
    tok.save(str(path))


def build_tiny_models(
    folder: str | Path,
    *,
    feature_dim: int = 32,
    visual_dim: int = 24,
    seed: int = 0,
    manifest: bool = False,
    visual: str = "dinov2-small",
    semantic: str = "siglip-base",
) -> TinyModels:
    """Write dinov2_small.onnx, siglip_vision.onnx, siglip_text.onnx, siglip_tokenizer.json.

    `visual` / `semantic` name registry models (vectorvision_widget.models.specs): the files then
    get
    those models' names and the SigLIP input its preprocessing size (e.g. 256 for siglip-large).
    With `manifest=True` also a manifest.json holding each file's sha256 (as the fetch writes it)
    and, for non-default models, the selection.
    """
    from vectorvision_widget.models.specs import semantic_model, visual_model

    look, meaning = visual_model(visual), semantic_model(semantic)
    image = meaning.vision.preprocess.output_size  # type: ignore[union-attr]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n_grid = 3 * GRID * GRID
    dino_w = rng.normal(0, 1 / np.sqrt(n_grid), (visual_dim, n_grid))
    dino_b = rng.normal(0, 0.05, visual_dim)
    siglip_w = rng.normal(0, 1 / np.sqrt(n_grid), (feature_dim, n_grid))
    siglip_b = rng.normal(0, 0.05, feature_dim)

    words = [*SPECIAL, *FILLER, *COLOURS, *NOUNS]
    vocab = {w: i for i, w in enumerate(words)}
    table = rng.normal(0, 1 / np.sqrt(feature_dim), (len(words), feature_dim))
    table[vocab["<pad>"]] = 0.0
    table[vocab["</s>"]] = 0.0  # padding must not move the mean's direction
    for word in FILLER:
        table[vocab[word]] *= 0.05
    for word, rgb in COLOURS.items():
        uniform = np.broadcast_to((np.array(rgb) / 127.5 - 1.0)[:, None, None], (3, image, image))[
            None
        ]  # SigLIP-normalised uniform image
        table[vocab[word]] = grid_average(uniform) @ siglip_w.T + siglip_b

    build_dinov2(
        folder / look.model.filename, dino_w, dino_b, rng.normal(0, 0.02, (visual_dim, 3, 14, 14))
    )
    build_siglip_vision(
        folder / meaning.vision.filename,
        siglip_w,
        siglip_b,
        rng.normal(0, 0.02, (feature_dim, 3, 16, 16)),
        image,
    )
    build_siglip_text(folder / meaning.text.filename, table)
    build_tokenizer(folder / meaning.tokenizer.filename, vocab)
    if manifest:
        write_manifest(folder, visual=visual, semantic=semantic)
    return TinyModels(
        folder,
        feature_dim,
        visual_dim,
        dino_w.astype(np.float32),
        dino_b.astype(np.float32),
        siglip_w.astype(np.float32),
        siglip_b.astype(np.float32),
        table.astype(np.float32),
        vocab,
    )


def write_manifest(
    folder: str | Path, *, visual: str = "dinov2-small", semantic: str = "siglip-base"
) -> Path:
    """A manifest.json in the fetch's format, with the files' real sha256 values."""
    import hashlib

    from vectorvision_widget.models.specs import semantic_model, visual_model

    folder = Path(folder)
    files = {}
    for name in (*visual_model(visual).files, *semantic_model(semantic).files):
        data = (folder / name).read_bytes()
        files[name] = {
            "repo": "tests/tiny",
            "revision": "0" * 40,
            "path": name,
            "variant": "tiny",
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
        }
    path = folder / "manifest.json"
    doc = {"format": "vectorvision-models", "version": 1, "files": files}
    if (visual, semantic) != ("dinov2-small", "siglip-base"):
        doc["models"] = {"visual": visual, "semantic": semantic}
    path.write_text(json.dumps(doc))
    return path


# --- broken model files, for the error tests ------------------------------------------------------


def truncate_file(path: str | Path, keep: float = 0.5) -> None:
    """Cut a file to `keep` of its length (a half-finished download)."""
    path = Path(path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def write_not_onnx(path: str | Path) -> None:
    """Replace a model with something that is not ONNX at all (an HTML error page)."""
    Path(path).write_text("<!DOCTYPE html><html><body>404 Not Found</body></html>\n")


def rename_output(path: str | Path, old: str, new: str) -> None:
    """Rename a graph output (and its producer) so the model breaks the I/O contract by name."""
    model = onnx.load(str(path))
    for node in model.graph.node:
        node.output[:] = [new if o == old else o for o in node.output]
        node.input[:] = [new if i == old else i for i in node.input]
    for out in model.graph.output:
        if out.name == old:
            out.name = new
    onnx.save(model, str(path))


def build_wrong_rank_dinov2(path: str | Path, dim: int = 24) -> None:
    """A 'DINOv2' whose last_hidden_state is [B, D] (rank 2) instead of [B, 1+P, D]."""
    rng = np.random.default_rng(1)
    w = rng.normal(0, 0.1, (dim, 3 * GRID * GRID))
    nodes = [
        *_grid_nodes("cls"),
        helper.make_node("Gemm", ["cls_grid", "cls_w"], ["last_hidden_state"], transB=1),
    ]
    out = helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch_size", dim])
    graph = helper.make_graph(
        nodes, "wrong_rank", [_image_input(True)], [out], [_const("cls_w", w.astype(np.float32))]
    )
    _save(graph, Path(path))
