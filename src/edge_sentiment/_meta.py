"""Package version and the versions of the tools a run used (read from metadata, never by importing)."""

from __future__ import annotations

import platform
from importlib import metadata

__all__ = ["__version__", "tool_versions"]

try:
    __version__ = metadata.version("edge-sentiment")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

_TOOLS = ("edge-sentiment", "numpy", "onnxruntime", "tensorflow", "keras", "tf2onnx", "onnx")


def tool_versions() -> dict[str, str | None]:
    """Installed versions of Python and the tools edge-sentiment uses (None where absent)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in _TOOLS:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out
