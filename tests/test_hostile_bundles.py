"""Hostile bundle folders (issue 30): non-regular files named as bundle files, and `verify` holding a
folder to its manifest (a listed file missing, an unlisted file present, a name outside the folder).

Every case builds its hostile folder from a copy of tests/assets/tiny_bundle, then asserts the package's
own error (library) or exit status 1 with the message and no traceback (CLI), and that nothing waits.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from conftest import ASSETS

from edge_sentiment import BundleError, Predictor, TextModel, TokenizerError, load_bundle
from edge_sentiment.cli import main
from edge_sentiment.runtime.bundle import BundleFolder
from edge_sentiment.runtime.files import open_regular
from edge_sentiment.runtime.tokenizer import Tokenizer
from edge_sentiment.runtime.verify import verify_bundle

TINY = ASSETS / "tiny_bundle"
FILES = ["manifest.json", "model.onnx", "tokenizer.json", "conformance.jsonl", "model.text.onnx"]
WAIT = 20.0  # seconds a call may take before it counts as blocked


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    return Path(shutil.copytree(TINY, tmp_path / "bundle"))


def invoke(*args: Any) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_fails(result: Result, *pieces: str) -> None:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), f"{result.exception!r} escaped:\n{result.output}"
    assert "Traceback" not in result.output
    for piece in pieces:
        assert piece in result.output, result.output


# -- non-regular files ----------------------------------------------------------------------------


def _release(path: Path) -> None:
    """Let a reader blocked on a FIFO go: open its other end, then close it (the reader sees end of file)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
    except OSError:
        pass


def returns_without_blocking(call: Callable[[], Any], path: Path) -> Any:
    """call()'s result or exception; the test fails (and the reader is released) if it waits on path."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # handed to the test below
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(WAIT)
    if thread.is_alive():
        _release(path)
        thread.join(WAIT)
        pytest.fail(f"blocked on {path.name} for {WAIT:.0f} s: a non-regular file was opened without O_NONBLOCK")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def _fifo(path: Path) -> Iterator[None]:
    os.mkfifo(path)
    yield


def _socket(path: Path) -> Iterator[None]:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    try:
        yield
    finally:
        server.close()


def _device(path: Path) -> Iterator[None]:
    try:
        os.mknod(path, stat.S_IFCHR | 0o644, os.makedev(1, 5))  # /dev/zero: endless bytes
    except PermissionError:
        pytest.skip("making a device node needs root")
    yield


KINDS = {"fifo": _fifo, "socket": _socket, "device": _device}


@pytest.fixture(params=list(KINDS))
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def replace_with(folder: Path, name: str, kind: str) -> Iterator[Path]:
    path = folder / name
    path.unlink()
    with_kind = KINDS[kind](path)
    next(with_kind)
    yield path
    with_kind.close()


@pytest.fixture
def hostile(bundle: Path, kind: str, request: pytest.FixtureRequest) -> Iterator[Path]:
    """The bundle copy with request.param's file replaced by a FIFO, socket or device."""
    yield from replace_with(bundle, request.param, kind)


@pytest.mark.parametrize("hostile", FILES, indirect=True)
def test_verify_bundle_refuses_a_non_regular_file_without_waiting(hostile: Path, kind: str) -> None:
    with pytest.raises(BundleError, match=f"{hostile.name}.*(not a regular file|No such device)"):
        returns_without_blocking(lambda: verify_bundle(hostile.parent), hostile)


@pytest.mark.parametrize("hostile", ["manifest.json", "model.onnx", "tokenizer.json"], indirect=True)
@pytest.mark.parametrize("load", [load_bundle, Predictor.load, TextModel.load], ids=["load_bundle", "Predictor", "TextModel"])
def test_loaders_refuse_a_non_regular_file_without_waiting(hostile: Path, kind: str, load: Callable[[Path], Any]) -> None:
    with pytest.raises(BundleError, match="not a regular file|No such device"):
        returns_without_blocking(lambda: load(hostile.parent), hostile)


@pytest.mark.parametrize("hostile", ["model.text.onnx"], indirect=True)
def test_text_model_refuses_a_fifo_text_model(hostile: Path, kind: str) -> None:
    with pytest.raises(BundleError, match="model.text.onnx is a link or not a regular file"):
        returns_without_blocking(lambda: TextModel.load(hostile.parent), hostile)


@pytest.mark.parametrize("name", ["model.onnx", "tokenizer.json", "conformance.jsonl"])
@pytest.mark.parametrize("command", ["predict", "verify"])
def test_cli_refuses_a_fifo_bundle_file_with_one_error_line(bundle: Path, name: str, command: str) -> None:
    (bundle / name).unlink()
    os.mkfifo(bundle / name)
    args = ["predict", "--bundle", bundle, "great film"] if command == "predict" else ["verify", bundle]
    result = returns_without_blocking(lambda: invoke(*args), bundle / name)
    if command == "predict" and name == "conformance.jsonl":
        assert result.exit_code == 0, result.output  # predict never reads the vectors
        return
    assert_fails(result, name, "not a regular file")


def test_a_tokenizer_file_that_is_a_fifo_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tokenizer.json"
    os.mkfifo(path)
    with pytest.raises(TokenizerError, match="not a regular file"):
        returns_without_blocking(lambda: Tokenizer.load(path), path)


def test_open_regular_names_the_kind(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "f")
    with pytest.raises(OSError, match=r"not a regular file \(a FIFO\)"):
        returns_without_blocking(lambda: open_regular(tmp_path / "f"), tmp_path / "f")
    with pytest.raises(OSError, match=r"a folder"):
        open_regular(tmp_path)
    (tmp_path / "r").write_bytes(b"x")
    os.close(open_regular(tmp_path / "r"))


# -- verify: the folder against its manifest --------------------------------------------------------


def _rehash(folder: Path, name: str) -> None:
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    data = (folder / name).read_bytes() if (folder / name).exists() else b"x"
    manifest["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")


def listed_but_missing(name: str) -> Callable[[Path], str]:
    def make(folder: Path) -> str:
        (folder / name).unlink()
        return name

    return make


def listed_never_written(folder: Path) -> str:
    (folder / "notes.txt").write_bytes(b"x")
    _rehash(folder, "notes.txt")
    (folder / "notes.txt").unlink()
    return "notes.txt"


def unlisted_file(folder: Path) -> str:
    (folder / "extra.bin").write_bytes(b"\x00" * 16)
    return "extra.bin"


def unlisted_hidden_file(folder: Path) -> str:
    (folder / ".hidden").write_text("x", encoding="utf-8")
    return ".hidden"


def unlisted_folder(folder: Path) -> str:
    (folder / "more").mkdir()
    return "more"


def dot_dot_name(folder: Path) -> str:
    (folder.parent / "outside.txt").write_bytes(b"x")
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"]["../outside.txt"] = {"sha256": hashlib.sha256(b"x").hexdigest(), "bytes": 1}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return "../outside.txt"


def changed_unread_file(folder: Path) -> str:
    (folder / "conformance.jsonl").write_bytes((folder / "conformance.jsonl").read_bytes() + b"\n")
    return "conformance.jsonl"


CASES = [
    pytest.param(listed_but_missing("conformance.jsonl"), "listed in the manifest but missing", id="missing-conformance"),
    pytest.param(listed_but_missing("model.text.onnx"), "listed in the manifest but missing", id="missing-text-model"),
    pytest.param(listed_never_written, "listed in the manifest but missing", id="missing-file-nothing-loads"),
    pytest.param(unlisted_file, "a file the manifest does not list", id="unlisted-file"),
    pytest.param(unlisted_hidden_file, "a file the manifest does not list", id="unlisted-hidden-file"),
    pytest.param(unlisted_folder, "a folder the manifest does not list", id="unlisted-folder"),
    pytest.param(dot_dot_name, "not a plain file name", id="dot-dot-name"),
    pytest.param(changed_unread_file, "manifest says", id="changed-file"),
]


@pytest.mark.parametrize(("make", "message"), CASES)
def test_verify_fails_naming_the_file(bundle: Path, make: Callable[[Path], str], message: str) -> None:
    name = make(bundle)
    assert_fails(invoke("verify", bundle), name, message)
    assert_fails(invoke("verify", bundle, "--json"), name, message)
    with pytest.raises(BundleError, match=message):
        verify_bundle(bundle)


def test_verify_names_every_problem_at_once(bundle: Path) -> None:
    names = [unlisted_file(bundle), listed_never_written(bundle), listed_but_missing("conformance.jsonl")(bundle)]
    result = invoke("verify", bundle)
    assert_fails(result, *names, "re-export the bundle")
    assert result.output.count("\n  ") == 3


def test_verify_bundle_returns_its_figures_for_a_good_bundle(bundle: Path) -> None:
    report = verify_bundle(bundle)
    assert sorted(report.files) == sorted(FILES[1:])
    assert list(report.models) == ["fp32"] and 0 <= report.models["fp32"]["sample_score"] <= 1
    assert report.conformance is not None and report.conformance.passed
    assert report.text_model is not None and report.text_model.passed
    assert report.to_dict()["ok"] is True


def test_a_bundle_read_never_leaves_its_folder(bundle: Path) -> None:
    """BundleFolder.read refuses a name with a folder part even if a caller passes one."""
    opened = BundleFolder(bundle)
    try:
        with pytest.raises(BundleError, match="not a plain file name"):
            opened.read("../bundle/model.onnx", 1 << 20, "bundle file")
    finally:
        opened.close()


# -- ONNX functions ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["model.onnx", "model.text.onnx"])
def test_a_model_that_defines_functions_is_refused_before_a_session(bundle: Path, name: str) -> None:
    """A function named like an allowed op is inert on today's onnxruntime (the built-in op wins), but no
    exported bundle has one: the Python loaders refuse it, as the JS one does."""
    onnx = pytest.importorskip("onnx", reason="builds the hostile model with onnx (the [train] extra)")
    from onnx import helper

    model = onnx.load(bundle / name)
    model.functions.append(helper.make_function("", "Sigmoid", ["x"], ["y"], [helper.make_node("Neg", ["x"], ["y"])], []))
    onnx.save(model, bundle / name)
    _rehash(bundle, name)
    load = (lambda: TextModel.load(bundle)) if name == "model.text.onnx" else (lambda: Predictor.load(bundle))
    with pytest.raises(BundleError, match=r"defines functions.*\(Sigmoid\)|defines functions, which no exported text model has"):
        load()
