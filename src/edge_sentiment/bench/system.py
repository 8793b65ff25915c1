"""What machine a benchmark ran on: CPU model, cores, instruction sets, library versions."""

from __future__ import annotations

import os
import platform
from typing import Any

from .._meta import tool_versions
from ..runtime.predictor import usable_cores

__all__ = ["machine_info"]

_ISA = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_tile", "neon", "asimd")


def machine_info() -> dict[str, Any]:
    model = platform.processor() or "unknown"
    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "Hardware") and model in ("unknown", "", platform.machine()):
                    model = value.strip()
                elif key in ("flags", "Features") and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    affinity = usable_cores()
    versions = tool_versions()
    return {
        "cpu": model,
        "arch": platform.machine(),
        "cores": os.cpu_count(),
        "usable_cores": affinity,
        "isa": [f for f in _ISA if f in flags],
        "os": f"{platform.system()} {platform.release()}",
        "python": versions["python"],
        "versions": {k: v for k, v in versions.items() if v},
    }
