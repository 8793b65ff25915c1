"""File helpers shared by train and export: checksums and atomic folder writes."""

from __future__ import annotations

import contextlib
import ctypes
import os
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

__all__ = ["sha256_bytes", "sha256_file", "atomic_folder", "check_target", "fsync_tree"]


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


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = _sha256()
    with open(path, "rb") as fh:
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
