"""Read an ONNX file's graph inputs and outputs without loading its weights.

Why: `Encoders.load()` must reject a truncated, corrupt or wrong model at once, with a message
naming the file, yet creating three onnxruntime sessions for ~600 MB of weights just to look at six
tensor names would make every load slow. An ONNX file is a protobuf `ModelProto`; we walk its
fields, seek past node and weight payloads, and decode only the small `ValueInfoProto`s. The walk
also checks every length against the file size, so a half-downloaded file is caught here. (The
`onnx` package could do this too, but it is a test-only dependency and parses the whole file.)
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

# onnx.TensorProto.DataType -> onnxruntime's type string
_DTYPES = {
    1: "tensor(float)",
    2: "tensor(uint8)",
    3: "tensor(int8)",
    4: "tensor(uint16)",
    5: "tensor(int16)",
    6: "tensor(int32)",
    7: "tensor(int64)",
    8: "tensor(string)",
    9: "tensor(bool)",
    10: "tensor(float16)",
    11: "tensor(double)",
    12: "tensor(uint32)",
    13: "tensor(uint64)",
    16: "tensor(bfloat16)",
}
_MODEL_GRAPH, _GRAPH_INITIALIZER, _GRAPH_INPUT, _GRAPH_OUTPUT, _TENSOR_NAME = 7, 5, 11, 12, 8
_MAX_VALUE_INFO = 1 << 20  # a tensor description is bytes, not megabytes

Shape = list[int | str]


@dataclass
class OnnxIO:
    """Graph inputs (initializers excluded) and outputs: name -> (type string, shape)."""

    inputs: dict[str, tuple[str, Shape]] = field(default_factory=dict)
    outputs: dict[str, tuple[str, Shape]] = field(default_factory=dict)


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            msg = "malformed varint"
            raise ValueError(msg)
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of an in-memory message."""
    out: list[tuple[int, int, int | bytes]] = []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            out.append((num, wire, value))
        elif wire == 2:
            size, pos = _varint(buf, pos)
            if pos + size > len(buf):
                msg = "field runs past the end of its message"
                raise ValueError(msg)
            out.append((num, wire, buf[pos : pos + size]))
            pos += size
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            msg = f"unsupported protobuf wire type {wire}"
            raise ValueError(msg)
    if pos != len(buf) or not num:
        msg = "malformed message"
        raise ValueError(msg)
    return out


def _value_info(buf: bytes) -> tuple[str, str, Shape]:
    """ValueInfoProto -> (name, type string, shape); dims are ints or symbolic names ('?')."""
    name, dtype, shape = "", "unknown", []
    for num, _, val in _fields(buf):
        if num == 1 and isinstance(val, bytes):
            name = val.decode("utf-8", "replace")
        elif num == 2 and isinstance(val, bytes):  # TypeProto
            for tnum, _, tval in _fields(val):
                if tnum != 1 or not isinstance(tval, bytes):  # only tensor_type
                    continue
                for f, _, v in _fields(tval):
                    if f == 1 and isinstance(v, int):
                        dtype = _DTYPES.get(v, f"tensor(type {v})")
                    elif f == 2 and isinstance(v, bytes):  # TensorShapeProto
                        shape = [
                            _dim(d) for n, _, d in _fields(v) if n == 1 and isinstance(d, bytes)
                        ]
    return name, dtype, shape


def _dim(buf: bytes) -> int | str:
    for num, _, val in _fields(buf) if buf else []:
        if num == 1 and isinstance(val, int):
            return val
        if num == 2 and isinstance(val, bytes):
            return val.decode("utf-8", "replace")
    return "?"


class _Reader:
    """Streams the top-level fields of a message that lives in [start, end) of a file."""

    def __init__(self, fh: BinaryIO, start: int, end: int) -> None:
        self.fh, self.pos, self.end = fh, start, end

    def _byte(self) -> int:
        b = self.fh.read(1)
        if not b:
            msg = "file ends in the middle of a field (truncated?)"
            raise ValueError(msg)
        self.pos += 1
        return b[0]

    def _varint(self) -> int:
        result = shift = 0
        while shift < 64:
            b = self._byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
        msg = "malformed varint"
        raise ValueError(msg)

    def fields(self) -> Iterator[tuple[int, int, int, int]]:
        """Yield (field number, wire type, payload offset, payload size); caller may read it."""
        while self.pos < self.end:
            key = self._varint()
            num, wire = key >> 3, key & 7
            if num == 0:
                msg = "field number 0 (not a protobuf message)"
                raise ValueError(msg)
            if wire == 0:
                self._varint()
                continue
            if wire in (1, 5):
                size = 8 if wire == 1 else 4
            elif wire == 2:
                size = self._varint()
            else:
                msg = f"unsupported protobuf wire type {wire} (not an ONNX file)"
                raise ValueError(msg)
            start = self.pos
            if start + size > self.end:
                msg = f"a field of {size:,} bytes runs past the end (truncated download?)"
                raise ValueError(msg)
            yield num, wire, start, size
            self.pos = start + size
            self.fh.seek(self.pos)
        if self.pos != self.end:
            msg = "message length mismatch"
            raise ValueError(msg)


def read_io(path: str | os.PathLike[str]) -> OnnxIO:
    """Inputs and outputs of the ONNX graph in `path`; ValueError if it is not a whole ONNX file."""
    size = os.path.getsize(path)
    if size == 0:
        msg = "the file is empty"
        raise ValueError(msg)
    io = OnnxIO()
    inputs: list[tuple[str, str, Shape]] = []
    initializers: set[str] = set()
    graphs = 0
    with open(path, "rb") as fh:
        for num, wire, start, length in _Reader(fh, 0, size).fields():
            if num != _MODEL_GRAPH or wire != 2:
                continue
            graphs += 1
            for gnum, gwire, gstart, glen in _Reader(fh, start, start + length).fields():
                if gwire != 2 or gnum not in (_GRAPH_INPUT, _GRAPH_OUTPUT, _GRAPH_INITIALIZER):
                    continue
                if gnum == _GRAPH_INITIALIZER:  # old exports list weights as inputs too
                    for tnum, twire, tstart, tlen in _Reader(fh, gstart, gstart + glen).fields():
                        if tnum == _TENSOR_NAME and twire == 2:
                            fh.seek(tstart)
                            initializers.add(fh.read(tlen).decode("utf-8", "replace"))
                    continue
                if glen > _MAX_VALUE_INFO:
                    msg = "implausibly large input/output description"
                    raise ValueError(msg)
                fh.seek(gstart)
                name, dtype, shape = _value_info(fh.read(glen))
                if gnum == _GRAPH_INPUT:
                    inputs.append((name, dtype, shape))
                else:
                    io.outputs[name] = (dtype, shape)
    if graphs != 1 or not io.outputs or not inputs:
        msg = "no ONNX graph with inputs and outputs found"
        raise ValueError(msg)
    io.inputs = {n: (t, s) for n, t, s in inputs if n not in initializers}
    return io
