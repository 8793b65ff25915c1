"""Reads what the runtime must check in an ONNX file (ops, inputs, initializers, metadata_props) without the onnx package.

A minimal reader of the protobuf wire format, limited to the fields of onnx.proto it needs. It lets a
bundle be verified before onnxruntime sees it, on hosts that install only numpy and onnxruntime.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import BundleError

__all__ = ["OnnxInfo", "TensorInfo", "read_onnx_info", "read_metadata", "strip_metadata", "raw_initializer", "MAX_METADATA_BYTES"]

_ELEM_TYPES = {1: "float32", 2: "uint8", 3: "int8", 6: "int32", 7: "int64", 8: "string", 9: "bool", 10: "float16", 11: "float64"}
_MAX_DEPTH = 8
# metadata_props (ModelProto field 14, StringStringEntryProto key = 1, value = 2): at most this many
# entries, and this many bytes of keys and values together; keys are unique (as onnx.checker requires).
MAX_METADATA_ENTRIES = 256
MAX_METADATA_BYTES = 1 << 20


@dataclass
class TensorInfo:
    name: str
    dtype: str
    shape: list[int | str]  # an int, or a name for a dynamic dimension


@dataclass
class OnnxInfo:
    ir_version: int = 0
    opsets: dict[str, int] = field(default_factory=dict)
    inputs: list[TensorInfo] = field(default_factory=list)
    outputs: list[TensorInfo] = field(default_factory=list)
    initializers: dict[str, list[int]] = field(default_factory=dict)  # name -> dims
    op_census: Counter[str] = field(default_factory=Counter)  # op types, subgraphs included
    external_data: list[str] = field(default_factory=list)  # initializers stored outside the file
    functions: list[str] = field(default_factory=list)  # model-local functions (ModelProto.functions), by name
    metadata: dict[str, str] = field(default_factory=dict)  # metadata_props, key -> value


class _Reader:
    def __init__(self, data: memoryview) -> None:
        self.data = data
        self.pos = 0

    def varint(self) -> int:
        result = shift = 0
        while True:
            if self.pos >= len(self.data) or shift > 63:
                raise BundleError("model.onnx is not a valid ONNX file (truncated varint)")
            b = self.data[self.pos]
            self.pos += 1
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7

    def fields(self) -> Iterator[tuple[int, int, Any]]:
        """Yield (field number, wire type, value) with LEN values as memoryviews."""
        end = len(self.data)
        while self.pos < end:
            key = self.varint()
            number, wire = key >> 3, key & 7
            if wire == 0:
                yield number, wire, self.varint()
            elif wire == 2:
                length = self.varint()
                if self.pos + length > end:
                    raise BundleError("model.onnx is not a valid ONNX file (field runs past the end)")
                yield number, wire, self.data[self.pos : self.pos + length]
                self.pos += length
            elif wire == 1:
                self.pos += 8
                yield number, wire, None
            elif wire == 5:
                self.pos += 4
                yield number, wire, None
            else:
                raise BundleError(f"model.onnx is not a valid ONNX file (wire type {wire})")
            if self.pos > end:
                raise BundleError("model.onnx is not a valid ONNX file (truncated)")


def _fields(buf: memoryview) -> Iterator[tuple[int, int, Any]]:
    return _Reader(buf).fields()


def _text(buf: memoryview) -> str:
    try:
        return bytes(buf).decode("utf-8")
    except UnicodeDecodeError:
        raise BundleError("model.onnx is not a valid ONNX file (a name is not UTF-8)") from None


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _value_info(buf: memoryview) -> TensorInfo:
    name, dtype, shape = "", "unknown", []
    for num, wire, val in _fields(buf):
        if num == 1 and wire == 2:
            name = _text(val)
        elif num == 2 and wire == 2:  # TypeProto
            for tnum, twire, tval in _fields(val):
                if tnum == 1 and twire == 2:  # tensor_type
                    for n, w, v in _fields(tval):
                        if n == 1 and w == 0:
                            dtype = _ELEM_TYPES.get(v, f"type{v}")
                        elif n == 2 and w == 2:  # shape
                            for dn, dw, dv in _fields(v):
                                if dn == 1 and dw == 2:
                                    dim: int | str = "?"
                                    for an, aw, av in _fields(dv):
                                        if an == 1 and aw == 0:
                                            dim = _signed(av)
                                        elif an == 2 and aw == 2:
                                            dim = _text(av)
                                    shape.append(dim)
    return TensorInfo(name, dtype, shape)


def _tensor(buf: memoryview, info: OnnxInfo) -> None:
    name, dims, external = _tensor_fields(buf)
    info.initializers[name] = dims
    if external:
        info.external_data.append(name)


def _tensor_fields(buf: memoryview) -> tuple[str, list[int], bool]:
    """A TensorProto's name, dims, and whether its data lives outside the file."""
    name, dims, external = "", [], False
    for num, wire, val in _fields(buf):
        if num == 1:
            if wire == 0:
                dims.append(_signed(val))
            elif wire == 2:  # packed
                r = _Reader(val)
                while r.pos < len(val):
                    dims.append(_signed(r.varint()))
        elif num == 8 and wire == 2:
            name = _text(val)
        elif num == 13 and wire == 2:
            external = True
        elif num == 14 and wire == 0 and val == 1:
            external = True
    return name, dims, external


def _graph(buf: memoryview, info: OnnxInfo, depth: int, top: bool) -> None:
    if depth > _MAX_DEPTH:
        raise BundleError("model.onnx nests subgraphs too deeply")
    for num, wire, val in _fields(buf):
        if wire != 2:
            continue
        if num == 1:
            _node(val, info, depth, top)
        elif num in (5, 15):  # initializer, sparse_initializer
            _tensor(val, info) if num == 5 else info.external_data.append("<sparse initializer>")
        elif top and num == 11:
            info.inputs.append(_value_info(val))
        elif top and num == 12:
            info.outputs.append(_value_info(val))


def _node(buf: memoryview, info: OnnxInfo, depth: int, top: bool) -> None:
    op, domain, inputs = "", "", []
    for num, wire, val in _fields(buf):
        if wire != 2:
            continue
        if num == 1:
            inputs.append(_text(val))
        elif num == 4:
            op = _text(val)
        elif num == 7:
            domain = _text(val)
        elif num == 5:  # attribute: subgraphs (g = 6, graphs = 11) and tensors (t = 5, tensors = 10)
            for an, aw, av in _fields(val):
                if an in (6, 11) and aw == 2:
                    _graph(av, info, depth + 1, top=False)
                elif an in (5, 10) and aw == 2:
                    name, _dims, external = _tensor_fields(av)
                    if external:
                        info.external_data.append(name or f"<attribute of {op or 'a node'}>")
                elif an in (22, 23):  # sparse tensors: never in an exported LSTM, and may hide external data
                    info.external_data.append("<sparse tensor attribute>")
    key = op if domain in ("", "ai.onnx") else f"{domain}.{op}"
    info.op_census[key] += 1


def _metadata_entry(buf: memoryview, metadata: dict[str, str], size: int) -> int:
    """Add one StringStringEntryProto to metadata; returns the bytes of the entries read so far."""
    size += len(buf)
    if size > MAX_METADATA_BYTES or len(metadata) >= MAX_METADATA_ENTRIES:
        raise BundleError(
            f"the model's metadata_props hold more than {MAX_METADATA_ENTRIES} entries or {MAX_METADATA_BYTES} bytes; "
            "re-export the bundle"
        )
    key = value = ""
    for n, w, v in _fields(buf):
        if n in (1, 2) and w == 2:
            try:
                text = bytes(v).decode("utf-8")
            except UnicodeDecodeError:
                raise BundleError("model.onnx is not a valid ONNX file (a metadata_props entry is not UTF-8)") from None
            key, value = (text, value) if n == 1 else (key, text)
    if key in metadata:
        raise BundleError(f"the model's metadata_props hold the key {key[:80]!r} twice (onnx.checker refuses that too)")
    metadata[key] = value
    return size


def read_metadata(data: bytes) -> dict[str, str]:
    """An ONNX file's metadata_props alone (what onnxruntime's custom_metadata_map shows), read from the
    top level of the file without walking the graph; BundleError on a malformed or oversized entry."""
    metadata: dict[str, str] = {}
    size = 0
    for num, wire, val in _fields(memoryview(data)):
        if num == 14 and wire == 2:
            size = _metadata_entry(val, metadata, size)
    return metadata


def strip_metadata(data: bytes, prefix: str) -> bytes:
    """data without its top-level metadata_props entries whose key starts with prefix, every other byte
    as it was (how export/writer.py shows that stamping changed nothing else)."""
    view, out = memoryview(data), bytearray()
    reader = _Reader(view)
    while reader.pos < len(view):
        begin = reader.pos
        key = reader.varint()
        value = None
        if key & 7 == 0:
            reader.varint()
        elif key & 7 == 2:
            length = reader.varint()
            value = view[reader.pos : reader.pos + length]
            reader.pos += length
        elif key & 7 in (1, 5):
            reader.pos += 8 if key & 7 == 1 else 4
        else:
            raise BundleError(f"model.onnx is not a valid ONNX file (wire type {key & 7})")
        if reader.pos > len(view):
            raise BundleError("model.onnx is not a valid ONNX file (field runs past the end)")
        if key >> 3 == 14 and value is not None:
            entry: dict[str, str] = {}
            _metadata_entry(value, entry, 0)
            if next(iter(entry)).startswith(prefix):
                continue
        out += view[begin : reader.pos]
    return bytes(out)


def read_onnx_info(data: bytes) -> OnnxInfo:
    """Parse the parts of an ONNX ModelProto the runtime checks; BundleError if it is not one."""
    info = OnnxInfo()
    has_graph = False
    metadata_size = 0
    for num, wire, val in _fields(memoryview(data)):
        if num == 1 and wire == 0:
            info.ir_version = val
        elif num == 7 and wire == 2:
            has_graph = True
            _graph(val, info, 0, top=True)
        elif num == 8 and wire == 2:
            domain, version = "", 0
            for n, w, v in _fields(val):
                if n == 1 and w == 2:
                    domain = _text(v)
                elif n == 2 and w == 0:
                    version = v
            info.opsets[domain or "ai.onnx"] = version
        elif num == 25 and wire == 2:  # a FunctionProto: ops the graph may call by its name
            name = next((_text(v) for n, w, v in _fields(val) if n == 1 and w == 2), "")
            info.functions.append(name or "<unnamed>")
        elif num == 14 and wire == 2:  # metadata_props: the labels, threshold, ... a bundle stamps (runtime/metadata.py)
            metadata_size = _metadata_entry(val, info.metadata, metadata_size)
    if not has_graph or info.ir_version == 0:
        raise BundleError("model.onnx is not a valid ONNX file (no graph or IR version)")
    return info


def raw_initializer(data: bytes, name: str) -> tuple[str, list[int], memoryview] | None:
    """The dtype, dims and raw bytes (a view into data, little-endian) of a top-level initializer stored
    as raw_data; None when the model has no such initializer or stores it otherwise."""
    for num, wire, val in _fields(memoryview(data)):
        if num != 7 or wire != 2:
            continue
        for gnum, gwire, gval in _fields(val):
            if gnum != 5 or gwire != 2:
                continue
            tensor_name, dims, external = _tensor_fields(gval)
            if tensor_name != name or external:
                continue
            dtype, raw = "unknown", None
            for tnum, twire, tval in _fields(gval):
                if tnum == 2 and twire == 0:
                    dtype = _ELEM_TYPES.get(tval, f"type{tval}")
                elif tnum == 9 and twire == 2:
                    raw = tval
            return (dtype, dims, raw) if raw is not None else None
    return None
