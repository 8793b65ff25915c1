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
    several classes), made by tools/maintenance/make_test_assets.py, score text with TensorFlow, Keras, tf2onnx and
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


# -- the package's own imports: no cycle, no reach into another module's private names --------------


def module_name(path: Path, src: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_imports(sources: dict[str, tuple[str, bool]]) -> list[tuple[str, int, str, str]]:
    """Every import of a package module, read from the source (inside functions too):
    (importing module, line, imported module, name or "" for the module itself).

    sources maps a module's dotted name to (its source, whether it is a package's __init__.py)."""
    found = []
    for module, (source, is_package) in sources.items():
        here = module.split(".") if is_package else module.split(".")[:-1]
        for node in ast.walk(ast.parse(source, module)):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here[: len(here) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for alias in node.names:
                    if f"{target}.{alias.name}" in sources:  # from . import module
                        found.append((module, node.lineno, f"{target}.{alias.name}", ""))
                    else:
                        found.append((module, node.lineno, target, alias.name))
            elif isinstance(node, ast.Import):
                found += [(module, node.lineno, alias.name, "") for alias in node.names]
    return [f for f in found if f[2] in sources]


def private_imports(sources: dict[str, tuple[str, bool]]) -> list[str]:
    """`from X import _name` where X is another module of the package (dunders such as __version__ are public)."""
    return [
        f"{module}:{line}: from {target} import {name}"
        for module, line, target, name in package_imports(sources)
        if name.startswith("_") and not (name.startswith("__") and name.endswith("__")) and target != module
    ]


def import_cycles(sources: dict[str, tuple[str, bool]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or round a loop (Tarjan's strongly connected
    components); a lazy import inside a function counts, as it is a cycle all the same."""
    graph: dict[str, set[str]] = {module: set() for module in sources}
    for module, _line, target, _name in package_imports(sources):
        if target != module:
            graph[module].add(target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = [stack.pop()]
            while group[-1] != v:
                group.append(stack.pop())
            if len(group) > 1:
                cycles.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def package_sources() -> dict[str, tuple[str, bool]]:
    src = ROOT / "src"
    return {
        module_name(path, src): (path.read_text(encoding="utf-8"), path.name == "__init__.py") for path in PACKAGE.rglob("*.py")
    }


def test_the_package_has_no_import_cycle() -> None:
    sources = package_sources()
    assert len(sources) > 50 and "edge_sentiment.runtime.predictor" in sources
    assert len(package_imports(sources)) > 100  # the check sees the package's imports
    assert import_cycles(sources) == []


def test_no_module_imports_another_modules_private_names() -> None:
    assert private_imports(package_sources()) == []


def fake_package(**modules: str) -> dict[str, tuple[str, bool]]:
    """Sources of a made-up package `p`: keyword a__b is module p.a.b; a name ending in __init is a package."""
    out = {}
    for key, source in modules.items():
        parts = key.split("__")
        is_package = parts[-1] == "init"
        name = ".".join(["p", *(parts[:-1] if is_package else parts)])
        out[name] = (source, is_package)
    return out


@pytest.mark.parametrize(
    "modules, cycles",
    [
        ({"a": "from . import b", "b": "x = 1"}, []),
        ({"a": "from .b import f", "b": "from .a import g"}, [["p.a", "p.b"]]),
        ({"a": "def f():\n    from .b import g", "b": "from .a import f"}, [["p.a", "p.b"]]),  # lazy still counts
        ({"a": "import p.b", "b": "from .c import x", "c": "from . import a"}, [["p.a", "p.b", "p.c"]]),
        ({"s__init": "from .x import f", "s__x": "from ..a import g", "a": "from .s.x import f"}, [["p.a", "p.s.x"]]),
        ({"s__init": "from .x import f", "s__x": "def f(): pass"}, []),
    ],
)
def test_the_cycle_check_itself(modules: dict[str, str], cycles: list[list[str]]) -> None:
    assert import_cycles(fake_package(**modules)) == cycles


@pytest.mark.parametrize(
    "source, found",
    [
        ("from .b import _hidden", ["p.a:1: from p.b import _hidden"]),
        ("from p.b import public, _Hidden", ["p.a:1: from p.b import _Hidden"]),
        ("def f():\n    from .b import _late", ["p.a:2: from p.b import _late"]),
        ("from .b import __version__, public", []),
        ("from . import b\nfrom os import _exit", []),  # another package's private name is not ours to police
    ],
)
def test_the_private_import_check_itself(source: str, found: list[str]) -> None:
    assert private_imports(fake_package(a=source, b="x = 1")) == found


# -- docs/design.md opens with the tree of folders, and it is true -------------------------------------

DESIGN = ROOT / "docs" / "design.md"


def design_tree(text: str) -> list[str]:
    """The folders the first code block of docs/design.md lists, one a line, two spaces a level deeper."""
    block = text.split("```", 2)[1]
    folders: list[str] = []
    parents: list[str] = []
    for line in block.splitlines()[1:]:
        if not line.strip():
            continue
        depth = (len(line) - len(line.lstrip(" "))) // 2
        name = line.split()[0]
        assert name.endswith("/"), f"{line!r}: each line of the tree names a folder"
        parents[depth:] = [name.rstrip("/")]
        folders.append("/".join(parents))
    return folders


def code_folders() -> set[str]:
    """The package's folders and those of tools/: every folder that holds Python (caches aside)."""
    return {
        path.parent.relative_to(ROOT).as_posix()
        for top in (PACKAGE, ROOT / "tools")
        for path in top.rglob("*.py")
        if "__pycache__" not in path.parts
    }


def test_design_md_opens_with_the_true_tree() -> None:
    text = DESIGN.read_text(encoding="utf-8")
    assert text.index("```") < text.index("\n## ", text.index("## ") + 1), "the tree comes first"
    listed = design_tree(text)
    assert len(listed) == len(set(listed)), "a folder listed twice"
    assert [f for f in listed if not (ROOT / f).is_dir()] == [], "the tree lists folders that do not exist"
    assert sorted(code_folders() - set(listed)) == [], "folders with code missing from docs/design.md's tree"
    assert "src/edge_sentiment/runtime" in listed and "js" in listed


def test_the_tree_reader_itself() -> None:
    text = "# T\n\n```\na/   x\n  b/   y\n    c/ z\n  d/\ne/\n```\n"
    assert design_tree(text) == ["a", "a/b", "a/b/c", "a/d", "e"]
    with pytest.raises(AssertionError, match="names a folder"):
        design_tree("```\na/\n  file.py  not a folder\n```")
