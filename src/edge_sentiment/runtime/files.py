"""File helpers shared by train, export and the runtime: checksums, atomic folder writes, reading only
regular files (a FIFO or device named as a bundle file must not block a load), and JSON read with limits."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import math
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

try:  # CPython's own SHA-256: hashlib would load OpenSSL, ~3.7 MiB more resident on a small host
    from _sha256 import sha256 as _sha256  # type: ignore[import-not-found]  # Python <= 3.11
except ImportError:
    try:
        from _sha2 import sha256 as _sha256  # type: ignore[import-not-found]  # Python >= 3.12
    except ImportError:
        from hashlib import sha256 as _sha256

__all__ = [
    "sha256_bytes",
    "sha256_file",
    "atomic_folder",
    "check_target",
    "fsync_tree",
    "open_regular",
    "read_regular",
    "parse_json",
    "JSON_MAX_DEPTH",
]

JSON_MAX_DEPTH = 32  # nesting any file of ours needs (a manifest: 5), far below Python's recursion limit
_JSON_MAX_DIGITS = 30  # an integer of more digits is no count, id or size of ours


def cache_dir() -> Path:
    """$XDG_CACHE_HOME/edge-sentiment, or ~/.cache/edge-sentiment (the data download; precision="auto"'s timings)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "edge-sentiment"


def sha256_bytes(data: bytes) -> str:
    return str(_sha256(data).hexdigest())


def manifest_sha256(manifest: Any) -> str:
    """The sha256 of a manifest's content (key order aside): what identifies a bundle's exact state."""
    import json

    return sha256_bytes(json.dumps(manifest, sort_keys=True).encode("utf-8"))


def open_regular(path: str | os.PathLike[str], *, dir_fd: int | None = None, follow: bool = True) -> int:
    """A read-only descriptor of a regular file; OSError for anything else, without blocking on it.

    Opened with O_NONBLOCK, so a FIFO with no writer (or a device) opens at once instead of hanging,
    then refused by its fstat (errno EINVAL, "not a regular file"). follow=False refuses a symbolic link (ELOOP).
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, dir_fd=dir_fd) if dir_fd is not None else os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
    except BaseException:
        os.close(fd)
        raise
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise OSError(errno.EINVAL, f"not a regular file (a {_kind(mode)})")
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return fd


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "folder"),
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISLNK, "symbolic link"),
    ):
        if test(mode):
            return name
    return "special file"


def read_regular(path: str | os.PathLike[str], limit: int) -> bytes:
    """A regular file's bytes, at most limit + 1 of them (so a caller sees it is too large); OSError otherwise."""
    fd = open_regular(path)
    with os.fdopen(fd, "rb") as fh:
        return fh.read(limit + 1)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > _JSON_MAX_DIGITS:
        raise ValueError(f"an integer of {len(text.lstrip('-'))} digits")
    return int(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:20]} is out of range")
    return value


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether parsed JSON nests deeper than limit (iteratively: no recursion of ours)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        elif not isinstance(item, list):
            continue
        if depth > limit:
            return True
        kinds = set(map(type, item))  # a long list of strings or numbers (a vocabulary) is passed over at once
        if dict in kinds or list in kinds or any(issubclass(kind, (dict, list)) for kind in kinds):
            stack.extend((child, depth + 1) for child in item if isinstance(child, (dict, list)))
    return False


def parse_json(data: bytes | str, where: str) -> Any:
    """JSON text, strictly: UTF-8, no NaN or Infinity, no number beyond float range or of more than 30
    digits, at most JSON_MAX_DEPTH levels. ValueError saying what was wrong, naming `where`.

    json.loads alone turns such files into RecursionError, a ValueError about integer digits, or inf.
    """
    try:
        text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
        value = json.loads(text, parse_constant=_refuse_constant, parse_int=_bounded_int, parse_float=_finite_float)
    except RecursionError:
        raise ValueError(f"{where} nests deeper than {JSON_MAX_DEPTH} levels") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{where} is not valid UTF-8 JSON ({exc.reason} at byte {exc.start})") from None
    except ValueError as exc:  # json.JSONDecodeError and the refusals above
        raise ValueError(f"{where} is not valid UTF-8 JSON ({exc})") from None
    if _depth_exceeds(value, JSON_MAX_DEPTH):
        raise ValueError(f"{where} nests deeper than {JSON_MAX_DEPTH} levels")
    return value


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = _sha256()
    with os.fdopen(open_regular(path), "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return str(h.hexdigest())


def fsync_tree(folder: Path) -> None:
    """Flush every file in a folder, then the folder itself, to disk."""
    for entry in folder.iterdir():
        if entry.is_file():
            with open(entry, "rb") as fh:
                os.fsync(fh.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _swap(new: Path, target: Path) -> None:
    """Exchange two folders in one atomic step where the OS can (Linux renameat2), else two renames."""
    if _renameat2 is not None:
        if _renameat2(_AT_FDCWD, os.fsencode(new), _AT_FDCWD, os.fsencode(target), _RENAME_EXCHANGE) == 0:
            return
    aside = new.with_name(new.name + ".previous")
    os.rename(target, aside)
    try:
        os.rename(new, target)
    except BaseException:
        os.rename(aside, target)  # put the previous folder back before anything else happens
        raise
    os.rename(aside, new)


def _load_renameat2() -> Any:
    if sys.platform != "linux":
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_renameat2 = _load_renameat2()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def check_target(target: str | os.PathLike[str], *, force: bool, what: str = "folder") -> None:
    """Refuse, before any work, a target that exists and may not be replaced."""
    from ..errors import EdgeSentimentError

    target = Path(target)
    if target.exists() and not target.is_dir():
        raise EdgeSentimentError(f"{target} exists and is not a folder; choose another path")
    if target.exists() and not force and not _is_empty_dir(target):
        raise EdgeSentimentError(f"{what} {target} exists and is not empty; pass --force to replace it")


@contextlib.contextmanager
def atomic_folder(target: str | os.PathLike[str], *, force: bool, what: str = "folder") -> Iterator[Path]:
    """Yield a temporary folder beside target; on success it replaces target in one rename.

    On any error the temporary folder is removed and target is left as it was. An existing,
    non-empty target is only replaced when force is true.
    """
    import shutil
    import tempfile

    from ..errors import EdgeSentimentError

    target = Path(target)
    check_target(target, force=force, what=what)
    parent = target.parent.resolve()
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=parent))
        tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it private; the result should look like mkdir's
    except OSError as exc:
        raise EdgeSentimentError(f"cannot write {what} in {parent}: {exc.strerror or exc}") from None
    try:
        yield tmp
        fsync_tree(tmp)
        if target.exists():
            _swap(tmp, target)  # tmp now holds the previous folder
            _fsync_dir(parent)
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            os.rename(tmp, target)
            _fsync_dir(parent)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError):
            raise EdgeSentimentError(f"could not write {what} {target}: {exc.strerror or exc}") from None
        raise
