"""Package version and the versions of the tools a run used (read from metadata, never by importing)."""

from __future__ import annotations

import platform

__all__ = ["__version__", "tool_versions"]

# The single source of the version (pyproject.toml reads it). A literal, not importlib.metadata:
# that import alone costs ~0.1 s and ~9 MiB, which a cold `predict` on a small host should not pay.
__version__ = "0.1.0"

_TOOLS = ("edge-sentiment", "numpy", "onnxruntime", "tensorflow", "keras", "tf-keras", "tf2onnx", "onnx")


def tool_versions() -> dict[str, str | None]:
    """Installed versions of Python and the tools edge-sentiment uses (None where absent)."""
    from importlib import metadata

    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in _TOOLS:
        if name == "edge-sentiment":
            out[name] = __version__
            continue
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out
