"""The edge-sentiment command line: train, export, verify, predict, score, evaluate, bench, data.

TensorFlow is imported only inside the commands that need it (train, export, bench --compare keras).
Each module below adds its commands to the one group, main.
"""

from . import bench, export, score, serve, train  # noqa: F401  (register the commands)
from .base import PRECISIONS, main

__all__ = ["main", "PRECISIONS"]
