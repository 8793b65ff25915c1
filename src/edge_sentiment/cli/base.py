"""The command group and what every command shares: errors without a traceback, JSON output, help texts,
optional dependencies named with their install command."""

from __future__ import annotations

import contextlib
import json
import shlex
import sys
from collections.abc import Callable, Iterator
from typing import Any

import click

from .._meta import __version__
from ..errors import EdgeSentimentError


# Which module defines each command: a command's module is imported only when that command runs (or
# --help lists them all), so `edge-sentiment predict` starts without importing the others' code.
COMMAND_MODULES = {
    "bench": "bench",
    "calibrate": "calibrate",
    "data": "train",
    "evaluate": "predict",
    "export": "export",
    "predict": "predict",
    "score": "score",
    "train": "train",
    "verify": "verify",
}


class _Group(click.Group):
    """Turns the library's own errors into a one-line message and exit status 1, without a traceback;
    loads each command's module when the command is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(COMMAND_MODULES))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMAND_MODULES:
            import importlib

            importlib.import_module(f"{__package__}.{COMMAND_MODULES[cmd_name]}")  # registers it on main
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EdgeSentimentError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="edge-sentiment")
def main() -> None:
    """Train an LSTM sentiment model, export it to ONNX, and serve it on small offline CPUs."""


def command_line() -> str:
    return shlex.join(["edge-sentiment", *sys.argv[1:]])


def echo_json(obj: Any) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False))


DATA_HELP = "The IMDB data: the aclImdb .tar.gz (read without extracting) or its folder. Default: $EDGE_SENTIMENT_DATA."

PRECISIONS = ("fp32", "int8")  # the runtime's precisions (runtime/bundle.py PRECISION_FILES; a test checks they agree)
BUNDLE_HELP = "Bundle folder. Default: the bundle shipped inside the package."
PRECISION_HELP = "Model precision: fp32, or int8 where the bundle has one (export --quantize int8)."
AUTO_HELP = (
    "Model precision: fp32 (exact), int8 where the bundle has one (export --quantize int8), or auto: the faster "
    "of the two on this machine, timed once for about 0.2 s and remembered in the cache folder."
)
THREADS_HELP = (
    "CPU threads for many texts: batches run in parallel, one thread each; one long text with the bundle's "
    "fast path runs its two LSTM directions on two. Small hosts often want 1. Default: the cores this process may use."
)


def labelled_options(purpose: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--rating-classes, --labelled, --text-field, --label-field: the labelled texts (labelled.py) that
    `purpose` is measured on; by default IMDB's test reviews by their negative/positive labels."""
    options = [
        click.option(
            "--rating-classes",
            default=None,
            metavar="RANGES",
            help=f"For {purpose}, label IMDB's test reviews by their star rating: one range of ratings per class, in "
            "the order of the bundle's labels, e.g. 1-4,7-8,9-10 for three classes. Reviews rated outside every "
            "range are left out. Default: IMDB's own negative/positive labels (for a bundle of two classes).",
        ),
        click.option(
            "--labelled",
            "labelled_path",
            type=click.Path(exists=True, dir_okay=False),
            default=None,
            help=f"For {purpose}, your own labelled texts instead of IMDB's: JSON Lines (one object a line) or "
            "CSV with a header row (.csv); each row a text and a label (one of the bundle's labels or its index).",
        ),
        click.option("--text-field", default="text", show_default=True, help="The text's field (column) in --labelled."),
        click.option("--label-field", default="label", show_default=True, help="The label's field (column) in --labelled."),
    ]

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def labelled_source(rating_classes: str | None, labelled_path: str | None, text_field: str, label_field: str) -> Any:
    from ..labelled import LabelledSource

    return LabelledSource(labelled_path, rating_classes, text_field, label_field)


def int_list(_ctx: click.Context, _param: click.Parameter, value: str) -> list[int]:
    try:
        out = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated whole numbers, got {value!r}") from None
    if not out or min(out) < 1:
        raise click.BadParameter("expected whole numbers of 1 or more, e.g. 1,64")
    return out


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for the duration (Python exceptions still propagate)."""
    import os

    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def require_extra(module: str, extra: str, what: str) -> None:
    """Import an optional dependency now, or fail with the install command; quiet TensorFlow's logging."""
    import importlib
    import os

    from ..errors import MissingDependencyError

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        with _quiet_native_stderr():  # TensorFlow's C++ start-up notes ignore TF_CPP_MIN_LOG_LEVEL
            importlib.import_module(module)
    except ImportError as exc:
        message = str(MissingDependencyError.for_extra(module, extra, what))
        if getattr(exc, "name", None) != module or "No module named" not in str(exc):
            message = message.replace("is not installed", f"could not be imported ({exc})")
        raise click.ClickException(message) from None
