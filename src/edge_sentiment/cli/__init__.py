"""The edge-sentiment command line: train, export, verify, predict, score, evaluate, bench, data.

TensorFlow is imported only inside the commands that need it (train, export, bench --compare keras).
Each module (bench, export, predict, score, train, verify) adds its commands to the one group, main, when it is
imported; main imports a command's module only when that command is asked for (base.COMMAND_MODULES).
"""

from .base import PRECISIONS, main

__all__ = ["main", "PRECISIONS"]
