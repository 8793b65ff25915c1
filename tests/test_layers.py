"""The layers: the runtime and its CLI commands work with TensorFlow, Keras, tf2onnx and onnx unimportable,
runtime/ imports only the standard library, numpy and onnxruntime, and the public API is explicit."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import ASSETS, ROOT, make_archive

import edge_sentiment

TINY = ASSETS / "tiny_bundle"
PACKAGE = ROOT / "src" / "edge_sentiment"
HEAVY = ("tensorflow", "keras", "tf2onnx", "onnx")
TRAIN_HINT = "pip install 'edge-sentiment[train]'"

# Run first in every subprocess below. Three ways to make the heavy packages unavailable:
#   hide:   every finder is wrapped so they are simply not found, exactly as when they are not installed;
#   refuse: a meta-path finder raises ModuleNotFoundError for them and any submodule;
#   broken: they are found, but importing them raises ImportError (stand-ins put first on PYTHONPATH),
#           as a broken install does (e.g. a TensorFlow wheel built for a newer libstdc++ than the host's).
# Every attempt is recorded (hide, refuse), and heavy_loaded() lists any that got into sys.modules.
PRELUDE = r"""
import importlib.abc, json, sys
HEAVY = ("tensorflow", "keras", "tf2onnx", "onnx")
ATTEMPTS = []

def _heavy(name):
    return name.split(".")[0] in HEAVY

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if _heavy(name):
            ATTEMPTS.append(name)
            raise ModuleNotFoundError(f"No module named {name!r} (refused by test_layers)", name=name)
        return None

class Hide:
    def __init__(self, finder):
        self._finder = finder
    def find_spec(self, name, path=None, target=None):
        if _heavy(name):
            ATTEMPTS.append(name)
            return None
        find = getattr(self._finder, "find_spec", None)
        return find(name, path, target) if find else None
    def __getattr__(self, attr):
        return getattr(self._finder, attr)

MODE = sys.argv[1]
ARGS = json.loads(sys.argv[2])
if MODE == "refuse":
    sys.meta_path.insert(0, Refuse())
elif MODE == "hide":
    sys.meta_path[:] = [Hide(finder) for finder in sys.meta_path]
assert not [m for m in sys.modules if _heavy(m)], "a heavy package was imported before the blocker"

def heavy_loaded():
    return sorted(m for m, module in sys.modules.items() if _heavy(m) and module is not None)
"""

RUNTIME_SCRIPT = (
    PRELUDE
    + r"""
import edge_sentiment
from edge_sentiment import Predictor
report = {"after_import": heavy_loaded()}
predictor = Predictor.load(ARGS["bundle"])
report["predictions"] = [[p.label, p.score] for p in predictor.predict(["A wonderful film.", "Boring and dull."])]

from click.testing import CliRunner
from edge_sentiment.cli import main
report["cli"] = {}
for name, args in ARGS["commands"].items():
    result = CliRunner().invoke(main, args)
    escaped = result.exception if not isinstance(result.exception, SystemExit) else None
    report["cli"][name] = {"exit_code": result.exit_code, "stdout": result.stdout, "output": result.output,
                           "exception": repr(escaped) if escaped else None}
report["heavy_loaded"] = heavy_loaded()
report["attempts"] = ATTEMPTS
print(json.dumps(report))
"""
)

CLI_SCRIPT = (
    PRELUDE
    + r"""
from edge_sentiment.cli import main
sys.argv = ["edge-sentiment", *ARGS]
main()
"""
)


def run_blocked(script: str, mode: str, args: Any, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if mode == "broken":
        broken = tmp_path / "broken-site"
        for name in HEAVY:
            (broken / name).mkdir(parents=True)
            (broken / name / "__init__.py").write_text(
                'raise ImportError("libstdc++.so.6: version GLIBCXX_3.4.32 not found (a stand-in)")\n'
            )
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(broken), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-c", script, mode, json.dumps(args)], capture_output=True, text=True, timeout=120, cwd=ROOT, env=env
    )


MODES = ["hide", "refuse", "broken"]


@pytest.mark.parametrize("mode", MODES)
def test_runtime_and_its_commands_work_without_the_train_extra(tmp_path: Path, mode: str) -> None:
    archive = make_archive(tmp_path / "aclImdb.tar.gz")
    bundle = str(TINY)
    commands = {
        "predict": ["predict", "--bundle", bundle, "--json", "A wonderful film.", "Boring and dull."],
        "evaluate": ["evaluate", "--bundle", bundle, "--data", str(archive), "--json"],
        "verify": ["verify", bundle, "--json"],
    }
    done = run_blocked(RUNTIME_SCRIPT, mode, {"bundle": bundle, "commands": commands}, tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])

    assert report["after_import"] == []
    assert [label for label, _ in report["predictions"]] == ["positive", "negative"]
    for name, run in report["cli"].items():
        assert run["exception"] is None and run["exit_code"] == 0, f"{name}: {run}"
    rows = [json.loads(line) for line in report["cli"]["predict"]["stdout"].splitlines()]
    assert [r["label"] for r in rows] == ["positive", "negative"]
    assert [r["score"] for r in rows] == pytest.approx([s for _, s in report["predictions"]], abs=1e-6)
    evaluation = json.loads(report["cli"]["evaluate"]["stdout"])
    assert evaluation["reviews"] == 16 and "last 50 words" in evaluation["results"]
    assert json.loads(report["cli"]["verify"]["stdout"])["ok"] is True

    assert report["heavy_loaded"] == []
    assert report["attempts"] == []  # not even tried: nothing on the serving path reaches for them


KIND_SCRIPT = (
    PRELUDE
    + r"""
from edge_sentiment import Predictor
predictor = Predictor.load(ARGS["bundle"], threads=2, batch_size=3)
report = {"kind": predictor.tokenizer.kind, "scores": predictor.predict_proba(ARGS["texts"]).tolist(),
          "labels": [p.label for p in predictor.predict(ARGS["texts"])], "heavy_loaded": heavy_loaded(), "attempts": ATTEMPTS}
print(json.dumps(report))
"""
)
KIND_BUNDLES = sorted((ASSETS / "kinds").iterdir()) + sorted((ASSETS / "shapes").iterdir())


@pytest.mark.parametrize("bundle", KIND_BUNDLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_tokenizer_kind_and_shape_runs_without_the_train_extra(tmp_path: Path, bundle: Path) -> None:
    """The bundles of the Keras tokenizer kinds and of each way a model is fed (pads fed, none, skipped;
    several classes), made by scripts/make_test_assets.py, score text with TensorFlow, Keras, tf2onnx and
    onnx refused, as they do here."""
    from edge_sentiment import Predictor

    texts = ["A wonderful film.", "Boring and dull.", "", "The GREAT movie<br />was bad, bad, bad!", "film " * 60]
    done = run_blocked(KIND_SCRIPT, "refuse", {"bundle": str(bundle), "texts": texts}, tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    here = Predictor.load(bundle)
    assert report["kind"] == (bundle.name if bundle.parent.name == "kinds" else "edge-sentiment")
    assert report["heavy_loaded"] == [] and report["attempts"] == []
    assert np.asarray(report["scores"]) == pytest.approx(here.predict_proba(texts), abs=1e-7)
    assert report["labels"] == [p.label for p in here.predict(texts)]
    assert len({json.dumps(s) for s in report["scores"]}) > 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("command", ["train", "export"])
def test_train_and_export_without_the_train_extra_name_the_fix(tmp_path: Path, command: str, mode: str) -> None:
    """`train`/`export` with TensorFlow or tf2onnx unavailable say how to install them, without a traceback.

    "hide" is a package that is not installed; "refuse" and "broken" are ones whose import fails (an import
    hook, a broken or partial install): the command should still end with the install hint, not a traceback.
    """
    out = tmp_path / "out"
    if command == "train":
        archive = make_archive(tmp_path / "aclImdb.tar.gz")
        args = ["train", "--data", str(archive), "--out", str(out)]
    else:
        args = ["export", str(ASSETS / "tiny_run"), "--out", str(out)]
    done = run_blocked(CLI_SCRIPT, mode, args, tmp_path)
    assert done.returncode == 1, done.stderr
    assert TRAIN_HINT in done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stdout == ""
    assert not out.exists()


# -- runtime/ imports, read from the source ------------------------------------------------------

ALLOWED_THIRD_PARTY = {"numpy", "onnxruntime"}
# CPython's private SHA-256 modules (3.11: _sha256, 3.12+: _sha2) are standard library on either version.
STDLIB_PRIVATE = {"_sha256", "_sha2"}
FOUNDATION = {"errors"}  # the package modules below runtime/ that it may use: ..errors


def import_problems(source: str, filename: str = "<source>") -> list[str]:
    """Imports in a runtime/ module of anything but the standard library, numpy, onnxruntime, its own
    package (relative) and ..errors; dynamic imports count as problems too, as this check cannot see them."""
    problems = []
    for node in ast.walk(ast.parse(source, filename)):
        where = f"{filename}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ALLOWED_THIRD_PARTY | STDLIB_PRIVATE:
                    problems.append(f"{where}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                top = (node.module or "").split(".")[0]
                if top not in sys.stdlib_module_names and top not in ALLOWED_THIRD_PARTY | STDLIB_PRIVATE:
                    problems.append(f"{where}: from {node.module} import ...")
            elif node.level == 2:
                targets = {node.module.split(".")[0]} if node.module else {a.name for a in node.names}
                if not targets <= FOUNDATION:
                    problems.append(f"{where}: from ..{node.module or ''} import ... (above runtime/)")
            elif node.level > 2:
                problems.append(f"{where}: relative import {node.level} levels up")
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in ("import_module", "__import__"):
                problems.append(f"{where}: dynamic import")
    return problems


RUNTIME_FILES = sorted((PACKAGE / "runtime").rglob("*.py"))


def test_runtime_files_are_found() -> None:
    names = {p.name for p in RUNTIME_FILES}
    assert {"__init__.py", "bundle.py", "predictor.py", "tokenizer.py"} <= names


@pytest.mark.parametrize("path", RUNTIME_FILES, ids=lambda p: p.name)
def test_runtime_imports_only_stdlib_numpy_and_onnxruntime(path: Path) -> None:
    assert import_problems(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT))) == []


def test_what_runtime_uses_from_above_is_standard_library_only() -> None:
    for name in FOUNDATION:
        path = PACKAGE / f"{name}.py"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert all(a.name.split(".")[0] in sys.stdlib_module_names for a in node.names), path
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0 and (node.module or "").split(".")[0] in sys.stdlib_module_names, path


@pytest.mark.parametrize(
    "source, ok",
    [
        ("import numpy as np\nimport onnxruntime\nimport os.path\nfrom collections import Counter", True),
        ("from .bundle import load_bundle\nfrom ..errors import BundleError\nfrom .. import errors", True),
        ("def f():\n    import tensorflow as tf", False),
        ("import keras", False),
        ("from onnx import helper", False),
        ("import click", False),
        ("from edge_sentiment.errors import BundleError", False),
        ("from ..train.model import build_model", False),
        ("from .. import cli", False),
        ("from ...x import y", False),
        ("import importlib\nimportlib.import_module('tensorflow')", False),
    ],
)
def test_the_import_check_itself(source: str, ok: bool) -> None:
    assert (import_problems(source) == []) is ok


# -- the public API (httpx's tests/test_exported_members.py) -------------------------------------


def test_exported_members() -> None:
    exported = edge_sentiment.__all__
    assert len(exported) == len(set(exported)), "duplicates in __all__"
    for name in exported:
        assert hasattr(edge_sentiment, name), f"edge_sentiment.__all__ names {name!r}, which does not exist"
    assert {"Predictor", "Prediction", "Tokenizer", "EdgeSentimentError", "BundleError", "__version__"} <= set(exported)
    public = {
        name
        for name, value in vars(edge_sentiment).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == set(exported) - {"__version__"}, "every public name is in __all__, and only those"


def test_exported_errors_form_one_tree() -> None:
    for name in edge_sentiment.__all__:
        value = getattr(edge_sentiment, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, edge_sentiment.EdgeSentimentError), name
            assert value.__module__ == "edge_sentiment.errors"


def test_star_import() -> None:
    namespace: dict[str, Any] = {}
    exec("from edge_sentiment import *", namespace)
    assert {"Predictor", "Prediction", "Tokenizer", "BundleError"} <= set(namespace)
