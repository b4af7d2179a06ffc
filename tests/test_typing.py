"""The public API type-checks as users write it: ``mypy --strict`` over the examples.

Two sources: ``typing_examples.py`` (every call of the public API, with the types a user
relies on) and every Python example of the README and of ``docs/*.md`` that uses the
public API, checked as printed. mypy is in the ``test`` extra: without it the test skips
on a developer's machine and fails in CI (``CI`` set), so the check never silently stops.
"""

from __future__ import annotations

import ast
import builtins
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import hftlogging

ROOT = Path(__file__).resolve().parent.parent
TESTS_DIR = Path(__file__).resolve().parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
# A block uses the public API when it names the package, one of its public classes, or
# calls a logger (``log.``). (Public functions have common names: ``context``, ``stats``.)
_USES_API = re.compile(
    r"\bhftlogging\b|\blog\.|\b(?:"
    + "|".join(re.escape(n) for n in hftlogging.__all__ if n[0].isupper()) + r")\b"
)

#: Blocks that are sketches, not code (they do not parse), by a text they contain.
SKETCHES = {
    '{"version": 1, ...}': "a dictConfig dict elided with '...'",
    '"queue": {"()": "hftlogging.handlers.QueueHandler"': "one entry of a dict, not a statement",
}

#: What a fragment may use without defining it (a block that defines the name wins).
#: Each is one line, so a line number in a block is the file's line number minus the
#: prelude's length.
_TYPED = "_hftlogging_typed"
FIXTURES = {
    "hftlogging": "import hftlogging",
    "logging": "import logging",
    "json": "import json",
    "urllib": "import urllib.request",
    "Any": "from typing import Any",
    "Sequence": "from collections.abc import Sequence",
    "ConfigError": "from hftlogging.exceptions import ConfigError",
    "log": 'import hftlogging as _api; log = _api.get_logger("docs.example")',
    "oid": 'oid = "o-1"',
    "name": 'name = "option"',
    "place": "def place() -> None: pass",
    "feed": "import typing as _t; feed: list[_t.Any] = []",
    _TYPED: f"import hftlogging as {_TYPED}",
}


def _blocks() -> list[tuple[str, str]]:
    out = []
    for doc in DOCUMENTS:
        text = doc.read_text(encoding="utf-8")
        for m in _BLOCK.finditer(text):
            line = text.count("\n", 0, m.start()) + 2  # the block's first line of code
            out.append((f"{doc.relative_to(ROOT).as_posix()}:{line}", m.group(1)))
    return out


def _undefined(tree: ast.Module) -> set[str]:
    """Names a block loads but neither assigns, imports nor gets from builtins."""
    defined: set[str] = set(dir(builtins))
    loaded: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else defined).add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            defined.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
            if not isinstance(node, ast.ClassDef):
                a = node.args
                defined.update(x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs))
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            defined.add(node.name)
    return loaded - defined


def _as_checked(code: str) -> str:
    """The block as mypy reads it.

    After ``install()`` (or ``configure()``), ``logging.getLogger`` returns an
    :class:`~hftlogging.HFTLogger`, which stdlib's own annotations cannot say: the check
    reads it as ``hftlogging.get_logger``, the typed spelling of the same call.
    """
    return code.replace("logging.getLogger(", f"{_TYPED}.get_logger(")


def _api_blocks() -> list[tuple[str, str]]:
    return [(where, code) for where, code in _blocks() if _USES_API.search(code)]


def _sketch(code: str) -> str | None:
    return next((why for text, why in SKETCHES.items() if text in code), None)


def _write_examples(directory: Path) -> dict[str, str]:
    """One module per example block, with the fixtures it uses; file name -> where."""
    files: dict[str, str] = {}
    for where, code in _api_blocks():
        if _sketch(code):
            continue
        checked = _as_checked(code)
        missing = _undefined(ast.parse(checked))
        unknown = missing - set(FIXTURES)
        assert not unknown, f"{where} uses {sorted(unknown)}: add them to FIXTURES"
        prelude = ["from __future__ import annotations"]
        prelude += [FIXTURES[n] for n in FIXTURES if n in missing]
        name = "example_" + re.sub(r"\W", "_", where) + ".py"
        text = "\n".join(prelude) + "\n" + checked
        (directory / name).write_text(text, encoding="utf-8")
        files[name] = f"{where} (line numbers: minus {len(prelude)})"
    return files


def _run_mypy(paths: list[Path], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    if importlib.util.find_spec("mypy") is None:
        if os.environ.get("CI"):
            pytest.fail("mypy is not installed: it is in the test extra, and CI must run this")
        pytest.skip("mypy is not installed (pip install -e '.[test]')")
    env = dict(os.environ)
    # mypy finds the package where this process imports it from (and runs outside the
    # checkout, so never finds it there instead): an installed wheel is in
    # site-packages, which mypy reads; a checkout or an editable install is given by its
    # directory.
    source = Path(hftlogging.__file__).resolve().parent.parent
    if "site-packages" not in source.parts and "dist-packages" not in source.parts:
        env["MYPYPATH"] = str(source)
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent",
         "--no-incremental", "--config-file=", "--cache-dir=" + os.devnull,
         *map(str, paths)],
        capture_output=True, text=True, timeout=600, check=False, env=env, cwd=cwd,
    )


def test_the_examples_are_found() -> None:
    """The collection works: README examples are found, and each sketch still exists."""
    blocks = _api_blocks()
    assert sum(1 for where, _ in blocks if where.startswith("README.md")) >= 3
    assert sum(1 for where, _ in blocks if where.startswith("docs/")) >= 3
    for text in SKETCHES:
        assert any(text in code for _, code in blocks), f"sketch {text!r} is gone: unlist it"


def test_a_block_that_does_not_parse_is_a_listed_sketch() -> None:
    """Every block that uses the API is code mypy can read, or a listed sketch."""
    broken = []
    for where, code in _api_blocks():
        try:
            ast.parse(code)
        except SyntaxError:
            if not _sketch(code):
                broken.append(where)
    assert not broken, f"examples that do not parse (fix them or list them in SKETCHES): {broken}"


def test_the_public_api_passes_mypy_strict(tmp_path: Path) -> None:
    """mypy --strict accepts typing_examples.py and every README and docs example."""
    files = _write_examples(tmp_path)
    assert files
    proc = _run_mypy([TESTS_DIR / "typing_examples.py", *(tmp_path / f for f in files)],
                     cwd=tmp_path)
    report = proc.stdout + proc.stderr
    for name, where in files.items():
        report = report.replace(str(tmp_path / name), where).replace(name, where)
    assert proc.returncode == 0, report


def test_without_mypy_ci_fails_and_a_developer_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    """A missing mypy fails the check in CI and skips it elsewhere, never silently passes."""
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "mypy" else real(name, *a))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="mypy is not installed"):
        _run_mypy([])
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        _run_mypy([])
