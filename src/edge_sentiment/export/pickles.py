"""Pickled tokenizer files read as plain data, without running anything the file names.

`pickle.load` calls whatever a pickle names, so a `tokenizer.pickle` from elsewhere is a program. This reader
is an Unpickler whose find_class never hands out a real global: the classic Keras Tokenizer (every module path
Keras has used) becomes a record of its attributes, the builtin containers and numpy's array reconstruction
become stand-ins that only build data, and any other global is refused, naming it, before anything is called.
"""

from __future__ import annotations

import io
import os
import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import TokenizerError
from .options import MAX_USER_FILE_BYTES

__all__ = ["PickledObject", "TOKENIZER_MODULES", "looks_pickled", "read_pickle"]

_MAX_DEPTH = 64

# Where the classic Tokenizer class has lived: Keras 2.0-2.1 and 2.9-2.12 (keras.preprocessing.text),
# keras_preprocessing (Keras 2.2-2.8, TF 1.10-2.8's tf.keras), Keras 2.13-2.15 (keras.src), tf-keras,
# TF 1.x's copies, and Keras 3's legacy module.
TOKENIZER_MODULES = (
    "keras.preprocessing.text",
    "keras.src.preprocessing.text",
    "keras_preprocessing.text",
    "tf_keras.preprocessing.text",
    "tf_keras.src.preprocessing.text",
    "tensorflow.keras.preprocessing.text",
    "tensorflow.python.keras.preprocessing.text",
    "tensorflow.python.keras._impl.keras.preprocessing.text",
    "tensorflow.contrib.keras.python.keras.preprocessing.text",
    "keras.legacy.preprocessing.text",
    "keras.src.legacy.preprocessing.text",
    "keras._legacy.preprocessing.text",
)

# The first byte of a pickle: PROTO (protocol 2 and up), or a protocol 0/1 opcode no JSON text starts with.
_PICKLE_STARTS = b"\x80(c}])VSX"


class _Refused(Exception):
    """A pickle names a global the reader does not hand out."""


class _Malformed(Exception):
    """A pickle uses what the reader hands out to build something other than plain data."""


class PickledObject:
    """An instance a pickle describes, kept as the attributes it was saved with; none of its code exists here."""

    kind = "object"
    state: Any = None  # set by the pickle's BUILD; a class attribute, as NEWOBJ skips __init__

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
            raise _Malformed(f"a {self.kind} whose saved state is not a mapping of attribute names")
        self.state = state


class KerasTokenizerRecord(PickledObject):
    """keras.preprocessing.text.Tokenizer's attributes."""

    kind = "Tokenizer"


class _Marker:
    """A global that may appear only as an argument (numpy.ndarray for _reconstruct, int for defaultdict)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __setstate__(self, state: Any) -> None:  # BUILD must not change what every later read is handed
        raise _Malformed(f"{self.name} given a state")


class _Call(_Marker):
    """A stand-in function a pickle may call (REDUCE), and never change."""

    __slots__ = ("func",)

    def __init__(self, name: str, func: Any) -> None:
        super().__init__(name)
        self.func = func

    def __call__(self, *args: Any) -> Any:
        return self.func(*args)


_OBJECT = _Marker("builtins.object")
_NDARRAY = _Marker("numpy.ndarray")
_FACTORIES = {name: _Marker(f"builtins.{name}") for name in ("int", "float", "str", "list", "dict", "set")}


def _reconstructor(cls: Any, base: Any, state: Any) -> PickledObject:
    """copyreg._reconstructor, as protocols 0 and 1 write a plain object: only for the known classes."""
    if not (isinstance(cls, type) and issubclass(cls, PickledObject)) or base is not _OBJECT or state is not None:
        raise _Malformed("copyreg._reconstructor applied to something other than a Keras Tokenizer")
    return cls.__new__(cls)


def _pairs(items: Any, what: str) -> list[tuple[Any, Any]]:
    if not isinstance(items, (list, tuple)) or not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in items):
        raise _Malformed(f"{what} built from something other than key, value pairs")
    return [(k, v) for k, v in items]


def _ordered_dict(items: Any = ()) -> dict[Any, Any]:
    return dict(_pairs(items, "collections.OrderedDict"))


def _default_dict(factory: Any = None, items: Any = ()) -> dict[Any, Any]:
    if factory is not None and factory not in _FACTORIES.values():
        raise _Malformed("collections.defaultdict with a default other than a builtin container or number")
    return dict(_pairs(items, "collections.defaultdict"))


def _set(items: Any = ()) -> set[Any]:
    if not isinstance(items, (list, tuple)):
        raise _Malformed("builtins.set built from something other than a list")
    return set(items)


def _frozenset(items: Any = ()) -> frozenset[Any]:
    return frozenset(_set(items))


def _bytes(*args: Any) -> bytes:
    if args:  # bytes(n) would allocate n bytes; pickles write only bytes() this way
        raise _Malformed("builtins.bytes with arguments")
    return b""


def _latin1(text: Any, encoding: Any = None) -> bytes:
    """_codecs.encode(text, 'latin1'): how protocols 0-2 write bytes."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _Malformed("_codecs.encode other than of a string to latin1")
    return text.encode("latin1")


_DTYPE_CODE = re.compile(r"^[|<>=]?([biufcOUS])(\d{0,3})$")


class _Dtype:
    """numpy.dtype(code) as a pickle builds it: a plain numeric, string, bytes or object dtype only."""

    dtype: Any = None

    def __init__(self, code: Any, align: Any = False, copy: Any = True) -> None:
        found = _DTYPE_CODE.match(code) if isinstance(code, str) else None
        if found is None or not isinstance(align, (bool, int)) or not isinstance(copy, (bool, int)):
            raise _Malformed(f"numpy.dtype({code!r}): only plain numeric, string, bytes and object dtypes are read")
        self.dtype = np.dtype(code)

    def __setstate__(self, state: Any) -> None:
        # (version, byte order, subarray, names, fields, item size, alignment, flags[, metadata])
        if not isinstance(state, tuple) or len(state) not in (8, 9) or any(s is not None for s in state[2:5]):
            raise _Malformed("a numpy dtype with fields or subarrays")
        order, size = state[1], state[5]
        if order not in ("<", ">", "|", "=") or not isinstance(size, int):
            raise _Malformed("a numpy dtype with a malformed state")
        kind = self.dtype.char
        if kind in ("U", "S") and size > 0:
            self.dtype = np.dtype(f"{order if kind == 'U' else '|'}{kind}{size // 4 if kind == 'U' else size}")
        elif order in ("<", ">"):
            self.dtype = self.dtype.newbyteorder(order)


def _dtype_of(value: Any) -> np.dtype[Any]:
    if not isinstance(value, _Dtype) or value.dtype is None:
        raise _Malformed("a numpy array whose dtype is not a numpy.dtype")
    dtype: np.dtype[Any] = value.dtype
    return dtype


def _shape(value: Any) -> tuple[int, ...]:
    if (
        not isinstance(value, tuple)
        or len(value) > 32
        or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in value)
    ):
        raise _Malformed("a numpy array with a malformed shape")
    return value


def _numbers(raw: Any, dtype: np.dtype[Any], shape: tuple[int, ...], fortran: bool) -> Any:
    """A numeric or string array from its bytes, as nested lists; the bytes must be exactly its size."""
    if dtype.hasobject:
        raise _Malformed("an object array given as raw bytes")
    if not isinstance(raw, (bytes, bytearray)) or len(raw) != int(np.prod(shape, dtype=object)) * dtype.itemsize:
        raise _Malformed("a numpy array whose data does not match its shape and dtype")
    return np.frombuffer(bytes(raw), dtype=dtype).reshape(shape, order="F" if fortran else "C").tolist()


class _Array:
    """numpy.ndarray as numpy's _reconstruct leaves it: its data arrives with the state, as nested lists."""

    value: Any = None
    filled = False

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 5:
            state = state[1:]  # (version, shape, dtype, is_fortran, data)
        if not isinstance(state, tuple) or len(state) != 4:
            raise _Malformed("a numpy array with a malformed state")
        shape, dtype, fortran, raw = _shape(state[0]), _dtype_of(state[1]), bool(state[2]), state[3]
        if dtype.hasobject:
            if not isinstance(raw, list) or len(raw) != int(np.prod(shape, dtype=object)):
                raise _Malformed("an object array whose items do not match its shape")
            holder = np.empty(len(raw), dtype=object)
            for i, item in enumerate(raw):
                holder[i] = item
            self.value = holder.reshape(shape, order="F" if fortran else "C").tolist()
        else:
            self.value = _numbers(raw, dtype, shape, fortran)
        self.filled = True


def _reconstruct(subtype: Any, shape: Any, typecode: Any) -> _Array:
    if subtype is not _NDARRAY:
        raise _Malformed("numpy's _reconstruct applied to something other than numpy.ndarray")
    return _Array()


def _frombuffer(buffer: Any, dtype: Any, shape: Any, order: Any) -> Any:
    """numpy's _frombuffer, as protocol 5 writes a contiguous array."""
    if order not in ("C", "F"):
        raise _Malformed("numpy _frombuffer with an unknown order")
    return _numbers(buffer, _dtype_of(dtype), _shape(shape), order == "F")


def _scalar(dtype: Any, data: Any = None) -> Any:
    """numpy's scalar(dtype, bytes): a numpy number, as the Python number it holds."""
    found = _dtype_of(dtype)
    if found.hasobject:
        return data
    return _numbers(data, found, (), False)


_GLOBALS: dict[tuple[str, str], Any] = {
    ("copyreg", "_reconstructor"): _reconstructor,
    ("copy_reg", "_reconstructor"): _reconstructor,
    ("collections", "OrderedDict"): _ordered_dict,
    ("collections", "defaultdict"): _default_dict,
    ("_codecs", "encode"): _latin1,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _Dtype,
}
for _builtins in ("builtins", "__builtin__"):
    _GLOBALS.update(
        {
            (_builtins, "object"): _OBJECT,
            (_builtins, "set"): _set,
            (_builtins, "frozenset"): _frozenset,
            (_builtins, "bytes"): _bytes,
            **{(_builtins, name): marker for name, marker in _FACTORIES.items()},
        }
    )
_GLOBALS[("__builtin__", "long")] = _FACTORIES["int"]
for _core in ("numpy.core", "numpy._core"):
    _GLOBALS[(f"{_core}.multiarray", "_reconstruct")] = _reconstruct
    _GLOBALS[(f"{_core}.multiarray", "scalar")] = _scalar
    _GLOBALS[(f"{_core}.numeric", "_frombuffer")] = _frombuffer
# Functions are handed out wrapped, so that a BUILD on one cannot change it (its __defaults__) for later reads.
_GLOBALS = {key: _Call(".".join(key), v) if callable(v) and not isinstance(v, type) else v for key, v in _GLOBALS.items()}
for _module in TOKENIZER_MODULES:
    _GLOBALS[(_module, "Tokenizer")] = KerasTokenizerRecord


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        found = _GLOBALS.get((module, name))
        if found is None:
            raise _Refused(f"{module}.{name}")
        return found

    def persistent_load(self, pid: Any) -> Any:
        raise _Malformed("a persistent id (an object stored outside the pickle)")


def looks_pickled(path: str | os.PathLike[str]) -> bool:
    """Whether a file starts as a pickle does (and no JSON text can)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(1)
    except OSError:
        return False
    return bool(head) and head in _PICKLE_STARTS


class _Plain:
    """The loaded value as plain data, numpy arrays as nested lists. Refuses markers met as data, deep nesting,
    cycles, and more items than the file could spell out one by one (a pickle can refer to one list many
    times, so a few bytes can stand for an exponential tree)."""

    def __init__(self, budget: int) -> None:
        self.budget = budget

    def __call__(self, value: Any, depth: int = 0) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise _Malformed("more items than its bytes spell out (the same containers referred to over and over)")
        if depth > _MAX_DEPTH:
            raise _Malformed(f"data nested deeper than {_MAX_DEPTH} levels (or a cycle)")
        if isinstance(value, _Array):
            if not value.filled:
                raise _Malformed("a numpy array without its data")
            return self(value.value, depth + 1)
        if isinstance(value, PickledObject):
            found = type(value).__new__(type(value))
            found.state = self(value.state, depth + 1)
            return found
        if isinstance(value, dict):
            return {self(k, depth + 1): self(v, depth + 1) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            items = [self(v, depth + 1) for v in value]
            return items if isinstance(value, list) else tuple(items)
        if isinstance(value, (set, frozenset, str, bytes, bytearray, int, float, complex, type(None))):
            return value
        if isinstance(value, np.generic):
            return value.item()
        shown = value.name if isinstance(value, _Marker) else type(value).__name__
        raise _Malformed(f"{shown} where data was expected")


def read_pickle(path: str | os.PathLike[str], what: str) -> Any:
    """A pickle's contents as plain data (PickledObject for a Keras Tokenizer); TokenizerError for any other
    global it names, with nothing in the file run."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_USER_FILE_BYTES:
            raise TokenizerError(f"{path} is {size} bytes, larger than any {what} ({MAX_USER_FILE_BYTES})")
        data = path.read_bytes()
    except FileNotFoundError:
        raise TokenizerError(f"{what} not found: {path}") from None
    except OSError as exc:
        raise TokenizerError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    try:
        loaded = _RestrictedUnpickler(io.BytesIO(data), encoding="utf-8").load()
        return _Plain(2 * len(data) + 10_000)(loaded)
    except _Refused as exc:
        raise TokenizerError(
            f"{path} is a pickle that names {exc}, which edge-sentiment does not read: unpickling runs what a pickle "
            f"names, so only {_READ} are read, and nothing in this file was run. {_INSTEAD}"
        ) from None
    except _Malformed as exc:
        raise TokenizerError(
            f"{path} is a pickle edge-sentiment does not read: it holds {exc}. Only {_READ} are read, and nothing in "
            f"this file was run. {_INSTEAD}"
        ) from None
    except Exception as exc:  # a malformed pickle fails in many ways; none of them ran code from the file
        raise TokenizerError(f"{path} is not a pickle edge-sentiment can read ({type(exc).__name__}: {exc})") from None


_READ = "a Keras Tokenizer, a TextVectorization {'config', 'weights'} dict, Python containers and numpy arrays"
_INSTEAD = (
    "Save the tokenizer as JSON instead (tokenizer.to_json(), or {'config': layer.get_config(), "
    "'vocabulary': layer.get_vocabulary()})"
)
