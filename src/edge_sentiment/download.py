"""Fetches the IMDB archive into the user's cache: resumable, checked against its sha256, renamed into place only whole.

Standard library only (urllib). The cache is $XDG_CACHE_HOME/edge-sentiment (default ~/.cache/edge-sentiment);
the address, checksum, size and timeout can be overridden by environment variables (for tests and mirrors).
"""

from __future__ import annotations

import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._meta import __version__
from .archive import (
    ARCHIVE_NAME,
    BYTES_ENV,
    SHA256_ENV,
    TIMEOUT_ENV,
    URL_ENV,
    ArchiveSource,
    archive_path,
    cached_archive,
    file_sha256,
    identify,
    source_from_env,
)
from .data import DATA_ENV, resolve_data_path
from .errors import DataError
from .runtime.files import cache_dir

__all__ = [
    "ArchiveSource",
    "Download",
    "source_from_env",
    "cache_dir",
    "archive_path",
    "cached_archive",
    "download_archive",
    "resolve_or_download",
    "URL_ENV",
    "SHA256_ENV",
    "BYTES_ENV",
    "TIMEOUT_ENV",
]

ATTEMPTS = 3  # connections per download; another is tried only after one that made progress
READ_BYTES = 1 << 16  # read from the connection at a time

DownloadProgress = Callable[[int, int], None]  # (bytes on disk, bytes expected)
Log = Callable[[str], None]


@dataclass(frozen=True)
class Download:
    """A verified archive in the cache; downloaded is False when it was already there."""

    path: Path
    bytes: int
    sha256: str
    downloaded: bool

    def as_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "bytes": self.bytes, "sha256": self.sha256, "downloaded": self.downloaded}


def _part_path(final: Path) -> Path:
    return final.with_name(final.name + ".part")


def download_archive(
    *,
    source: ArchiveSource | None = None,
    progress: DownloadProgress | None = None,
    log: Log | None = None,
    attempts: int = ATTEMPTS,
) -> Download:
    """The verified archive in the cache: downloaded (resuming a .part left by a cut) unless already there."""
    source = source or source_from_env()
    say = log or (lambda _msg: None)
    final = archive_path()
    part = _part_path(final)
    if final.is_file():
        size, digest = identify(final, source)
        if digest == source.sha256:
            return Download(final, size, digest, downloaded=False)
        final.unlink()
        say(f"removed {final}: {size} bytes, not the archive expected")
    final.parent.mkdir(parents=True, exist_ok=True)
    say(f"downloading {source.url} ({source.size / 1e6:.1f} MB) to {final}")
    if _size(part):
        say(f"resuming from the {_size(part)} bytes in {part}")
    for attempt in range(1, attempts + 1):
        before = _size(part)
        try:
            _fetch(source, part, progress, say)
            break
        except _Interrupted as cut:
            have = _size(part)
            if attempt == attempts or have <= before:
                raise DataError(
                    f"the download of {source.url} stopped at {have} of {source.size} bytes ({cut}). "
                    f"The bytes so far are kept in {part}: run the command again to resume"
                    + (f" (or set {TIMEOUT_ENV} to wait longer than {source.timeout:g} s)" if cut.stalled else "")
                ) from None
            say(f"the connection broke at {have} of {source.size} bytes ({cut}); resuming")
    digest = file_sha256(part)
    if digest != source.sha256:
        part.unlink()
        raise DataError(
            f"the file downloaded from {source.url} has sha256 {digest}, not {source.sha256}, so it was removed. "
            f"Run the command again to download it anew; if that fails too, download {ARCHIVE_NAME} by hand, "
            f"check its sha256 and pass it with --data"
        )
    os.replace(part, final)  # only a verified file ever has the final name
    _fsync_dir(final.parent)
    say(f"verified sha256 {digest}: {final}")
    return Download(final, source.size, digest, downloaded=True)


def resolve_or_download(
    path: str | os.PathLike[str] | None, *, progress: DownloadProgress | None = None, log: Log | None = None
) -> Path:
    """train's order: --data, then $EDGE_SENTIMENT_DATA, then the cached archive, else download it."""
    if (path is not None and str(path) != "") or os.environ.get(DATA_ENV):
        return resolve_data_path(path)
    if log is not None and not archive_path().is_file():
        log(f"no --data, no ${DATA_ENV} and no archive in {cache_dir()}: downloading it")
    return download_archive(progress=progress, log=log).path  # the cached one when it is there and verified


class _Interrupted(Exception):
    """A connection that ended before the whole file arrived (what is on disk is kept)."""

    def __init__(self, reason: str, stalled: bool = False) -> None:
        super().__init__(reason)
        self.stalled = stalled


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _fetch(source: ArchiveSource, part: Path, progress: DownloadProgress | None, say: Log) -> None:
    """One connection: append to part from where it stops (a Range request), or start over when the
    server sends the whole file; raises _Interrupted when the body ends early."""
    start = _size(part)
    if start > source.size:
        part.unlink()
        start = 0
    if start == source.size:
        return  # all there already; the checksum decides
    headers = {"User-Agent": f"edge-sentiment/{__version__}"}
    if start:
        headers["Range"] = f"bytes={start}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(source.url, headers=headers), timeout=source.timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and start:  # the part does not fit the server's file: start over
            part.unlink()
            say("the server refused to resume; starting over")
            return _fetch(source, part, progress, say)
        raise DataError(f"{source.url} answered HTTP {exc.code} {exc.reason}. {_by_hand(source)}") from None
    except TimeoutError:
        raise _Interrupted(f"no answer from the server in {source.timeout:g} s", stalled=True) from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise _Interrupted(f"no answer from the server in {source.timeout:g} s", stalled=True) from None
        raise DataError(f"cannot reach {source.url} ({exc.reason}); are you offline? {_by_hand(source)}") from None
    with response:
        if start and response.status == 206:
            offered = response.headers.get("Content-Range", "")
            if not offered.startswith(f"bytes {start}-"):  # resumed at the wrong place: start over
                response.close()
                part.unlink()
                say(f"the server resumed at the wrong place ({offered!r}); starting over")
                return _fetch(source, part, progress, say)
            mode = "ab"
        elif response.status == 200:
            if start:
                say("the server ignored the resume request; starting over")
            start, mode = 0, "wb"
        else:
            raise DataError(f"{source.url} answered HTTP {response.status}, not the file. {_by_hand(source)}")
        length = response.headers.get("Content-Length")
        if length is not None and length.isdigit() and start + int(length) != source.size:
            raise DataError(
                f"{source.url} offers a file of {start + int(length)} bytes, not the {source.size}-byte archive. "
                f"{_by_hand(source)}"
            )
        with open(part, mode) as fh:
            done = start
            if progress:
                progress(done, source.size)
            try:
                while done < source.size:  # every pass adds at least one byte, or leaves
                    block = response.read(min(READ_BYTES, source.size - done))
                    if not block:
                        break
                    fh.write(block)
                    done += len(block)
                    if progress:
                        progress(done, source.size)
            except TimeoutError:
                raise _Interrupted(f"the server sent nothing for {source.timeout:g} s", stalled=True) from None
            except (OSError, http.client.HTTPException) as exc:
                raise _Interrupted(f"{type(exc).__name__}: {exc}") from None
            finally:
                fh.flush()
                os.fsync(fh.fileno())
        if done < source.size:
            raise _Interrupted("the connection closed early")


def _by_hand(source: ArchiveSource) -> str:
    return (
        f"To go on without downloading: fetch {ARCHIVE_NAME} ({source.url}) elsewhere and put it at "
        f"{archive_path()}, or pass --data PATH or set {DATA_ENV} to a copy you have."
    )


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # not possible on every system (Windows)
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
