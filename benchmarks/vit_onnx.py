"""Random-weight ViT encoders written straight as ONNX graphs (numpy + the onnx helper, no torch).

Why: timing needs the real architectures (the same matmuls, attention and token counts as the
published exports), not the real weights, and torch is a 1-GB install that a GPU box without a
registry cannot get. These graphs follow the published configs layer by layer (pre-LayerNorm
blocks, multi-head attention as MatMul/Softmax, erf-GELU MLPs; DINOv2's CLS token; SigLIP's
attention-pooling head and text tower) with the package's I/O contract (docs/models.md). They are
not bit-identical to an HF export (no layer-scale, no DINOv2 position interpolation): FLOPs and
memory traffic match, vectors are meaningless.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
TEXT_LENGTH = 64


@dataclass(frozen=True)
class Arch:
    """One tower: width, depth, heads, MLP width, patch and image size (or vocabulary)."""

    dim: int
    layers: int
    heads: int
    mlp: int
    patch: int = 16
    image: int = 224
    vocab: int = 32000


# From the published config.json files.
ARCHS = {
    "dinov2-small": Arch(384, 12, 6, 1536, patch=14),
    "dinov2-base": Arch(768, 12, 12, 3072, patch=14),
    "siglip-base-vision": Arch(768, 12, 12, 3072),
    "siglip-base-text": Arch(768, 12, 12, 3072),
    "siglip-large-vision": Arch(1024, 24, 16, 4096, image=256),
    "siglip-large-text": Arch(1024, 24, 16, 4096),
}


class _Graph:
    """Accumulates nodes and random initialisers with unique names."""

    def __init__(self, seed: int, half: bool = False) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.rng = np.random.default_rng(seed)
        self.n = 0
        self.half = half  # fp16 weights and compute; inputs and outputs stay float32

    def name(self, base: str) -> str:
        self.n += 1
        return f"{base}_{self.n}"

    def const(self, value: np.ndarray, base: str = "c") -> str:
        name = self.name(base)
        value = np.asarray(value)  # (ascontiguousarray would make a 0-d index 1-d)
        if self.half and value.dtype == np.float32:
            value = value.astype(np.float16)
        self.inits.append(numpy_helper.from_array(value.copy(order="C"), name))
        return name

    def weight(self, *shape: int, std: float = 0.02) -> str:
        return self.const(self.rng.standard_normal(shape, dtype=np.float32) * np.float32(std), "w")

    def op(self, kind: str, inputs: list[str], **attrs: object) -> str:
        out = self.name(kind.lower())
        self.nodes.append(helper.make_node(kind, inputs, [out], **attrs))
        return out

    def linear(self, x: str, din: int, dout: int) -> str:
        return self.op("Add", [self.op("MatMul", [x, self.weight(din, dout)]), self.weight(dout)])

    def layer_norm(self, x: str, dim: int) -> str:
        scale = self.const(np.ones(dim, np.float32))
        bias = self.const(np.zeros(dim, np.float32))
        return self.op("LayerNormalization", [x, scale, bias], axis=-1, epsilon=1e-6)

    def gelu(self, x: str) -> str:
        inner = self.op("Erf", [self.op("Mul", [x, self.const(np.float32(1 / np.sqrt(2)))])])
        half = self.op("Mul", [x, self.const(np.float32(0.5))])
        return self.op("Mul", [half, self.op("Add", [inner, self.const(np.float32(1.0))])])

    def heads(self, x: str, arch: Arch, perm: list[int]) -> str:
        shape = self.const(np.array([0, 0, arch.heads, arch.dim // arch.heads], np.int64))
        return self.op("Transpose", [self.op("Reshape", [x, shape])], perm=perm)

    def attention(self, q_in: str, kv_in: str, arch: Arch) -> str:
        """Multi-head attention of queries q_in over keys/values kv_in ([B, T, D] each)."""
        d = arch.dim
        q = self.heads(self.linear(q_in, d, d), arch, [0, 2, 1, 3])  # B H Tq Dh
        k = self.heads(self.linear(kv_in, d, d), arch, [0, 2, 3, 1])  # B H Dh Tk
        v = self.heads(self.linear(kv_in, d, d), arch, [0, 2, 1, 3])  # B H Tk Dh
        scale = self.const(np.float32(1 / np.sqrt(d // arch.heads)))
        scores = self.op("Mul", [self.op("MatMul", [q, k]), scale])
        ctx = self.op("MatMul", [self.op("Softmax", [scores], axis=-1), v])
        merged = self.op(
            "Reshape",
            [
                self.op("Transpose", [ctx], perm=[0, 2, 1, 3]),
                self.const(np.array([0, 0, d], np.int64)),
            ],
        )
        return self.linear(merged, d, d)

    def mlp(self, x: str, arch: Arch) -> str:
        return self.linear(self.gelu(self.linear(x, arch.dim, arch.mlp)), arch.mlp, arch.dim)

    def block(self, x: str, arch: Arch) -> str:
        h = self.layer_norm(x, arch.dim)
        x = self.op("Add", [x, self.attention(h, h, arch)])
        return self.op("Add", [x, self.mlp(self.layer_norm(x, arch.dim), arch)])

    def output(self, x: str, name: str) -> None:
        """Graph output `name` from x, as float32."""
        if self.half:
            self.nodes.append(helper.make_node("Cast", [x], [name], to=TensorProto.FLOAT))
        else:
            self.nodes.append(helper.make_node("Identity", [x], [name]))

    def patches(self, arch: Arch) -> str:
        """pixel_values [B,3,S,S] -> patch tokens [B, N, D]."""
        pixels = "pixel_values"
        if self.half:
            pixels = self.op("Cast", [pixels], to=TensorProto.FLOAT16)
        conv = self.op(
            "Conv",
            [pixels, self.weight(arch.dim, 3, arch.patch, arch.patch), self.weight(arch.dim)],
            kernel_shape=[arch.patch] * 2,
            strides=[arch.patch] * 2,
        )
        flat = self.op("Reshape", [conv, self.const(np.array([0, arch.dim, -1], np.int64))])
        return self.op("Transpose", [flat], perm=[0, 2, 1])

    def token_like(self, tokens: str, dim: int) -> str:
        """A learned [B, 1, D] token (CLS or probe), batch taken from `tokens`."""
        zero = self.op(
            "Mul",
            [self.op("ReduceMean", [tokens], axes=[1], keepdims=1), self.const(np.float32(0.0))],
        )
        return self.op("Add", [zero, self.weight(1, 1, dim)])


def _save(g: _Graph, inputs: list, outputs: list, path: Path) -> None:
    graph = helper.make_graph(g.nodes, path.stem, inputs, outputs, g.inits)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="vectorvision-bench"
    )
    model.ir_version = 8
    onnx.save(model, str(path))


def _pixels(arch: Arch) -> onnx.ValueInfoProto:
    dims = ["batch_size", 3, arch.image, arch.image]
    return helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, dims)


def build_dinov2(path: Path, arch: Arch, seed: int = 0, half: bool = False) -> None:
    """`pixel_values` -> `last_hidden_state` [B, 1+N, D] (CLS first, final LayerNorm)."""
    g = _Graph(seed, half)
    tokens = g.patches(arch)
    n = (arch.image // arch.patch) ** 2 + 1
    x = g.op(
        "Add",
        [
            g.op("Concat", [g.token_like(tokens, arch.dim), tokens], axis=1),
            g.weight(1, n, arch.dim),
        ],
    )
    for _ in range(arch.layers):
        x = g.block(x, arch)
    g.output(g.layer_norm(x, arch.dim), "last_hidden_state")
    out = helper.make_tensor_value_info(
        "last_hidden_state", TensorProto.FLOAT, ["batch_size", n, arch.dim]
    )
    _save(g, [_pixels(arch)], [out], path)


def _pooled_outputs(g: _Graph, hidden: str, pooled: str, arch: Arch, tokens: int) -> list:
    g.output(hidden, "last_hidden_state")
    g.output(pooled, "pooler_output")
    return [
        helper.make_tensor_value_info(
            "last_hidden_state", TensorProto.FLOAT, ["batch_size", tokens, arch.dim]
        ),
        helper.make_tensor_value_info("pooler_output", TensorProto.FLOAT, ["batch_size", arch.dim]),
    ]


def build_siglip_vision(path: Path, arch: Arch, seed: int = 1, half: bool = False) -> None:
    """`pixel_values` -> `last_hidden_state` [B,N,D], `pooler_output` [B,D] (attention pooling)."""
    g = _Graph(seed, half)
    n = (arch.image // arch.patch) ** 2
    x = g.op("Add", [g.patches(arch), g.weight(1, n, arch.dim)])
    for _ in range(arch.layers):
        x = g.block(x, arch)
    hidden = g.layer_norm(x, arch.dim)
    probe = g.token_like(hidden, arch.dim)
    pooled = g.attention(probe, hidden, arch)
    pooled = g.op("Add", [pooled, g.mlp(g.layer_norm(pooled, arch.dim), arch)])
    pooled = g.op("Squeeze", [pooled, g.const(np.array([1], np.int64))])
    _save(g, [_pixels(arch)], _pooled_outputs(g, hidden, pooled, arch, n), path)


def build_siglip_text(path: Path, arch: Arch, seed: int = 2, half: bool = False) -> None:
    """`input_ids` [B,64] -> `last_hidden_state` [B,64,D], `pooler_output` [B,D] (last token)."""
    g = _Graph(seed, half)
    x = g.op("Gather", [g.weight(arch.vocab, arch.dim), "input_ids"], axis=0)
    x = g.op("Add", [x, g.weight(1, TEXT_LENGTH, arch.dim)])
    for _ in range(arch.layers):
        x = g.block(x, arch)
    hidden = g.layer_norm(x, arch.dim)
    last = g.op("Gather", [hidden, g.const(np.array(TEXT_LENGTH - 1, np.int64))], axis=1)
    pooled = g.linear(last, arch.dim, arch.dim)
    inp = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch_size", TEXT_LENGTH])
    _save(g, [inp], _pooled_outputs(g, hidden, pooled, arch, TEXT_LENGTH), path)


def to_fp16(src: Path, dst: Path) -> None:
    """fp16 weights and compute, float32 inputs/outputs kept (for graphs built elsewhere, e.g. by
    torch; `build_*(half=True)` writes fp16 directly, much faster for the large models)."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
    onnx.save(model, str(dst))
