"""Every Python example of the README (and docs/migration.md) runs as printed and shows something.

Each ```python block is written to a file and run in a fresh interpreter, in an empty
directory, with no hftlogging or environment-name variables set (a newcomer's shell).
It must exit 0 without a traceback and leave visible output: a line on the console, or a
non-empty file whose name the example mentions.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", ROOT / "docs" / "migration.md"]
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _blocks() -> list[tuple[str, str]]:
    out = []
    for doc in DOCUMENTS:
        if not doc.exists():
            continue
        text = doc.read_text(encoding="utf-8")
        for m in _BLOCK.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            out.append((f"{doc.relative_to(ROOT)}:{line}", m.group(1)))
    return out


BLOCKS = _blocks()


def test_the_readme_has_examples() -> None:
    """The collection itself works: the README's examples are found."""
    assert sum(1 for where, _ in BLOCKS if where.startswith("README.md")) >= 3


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HFTLOGGING_", "PROMETHEUS_MULTIPROC"))
           and k not in ("ENVIRONMENT", "PYTHONSTARTUP")}
    # Any free port for the shipped configurations' /metrics endpoint: examples run
    # beside other tests and other processes on this host.
    env["HFTLOGGING_PROMETHEUS_PORT"] = "0"
    return env


def _mentioned_files(cwd: Path, code: str) -> list[Path]:
    return [p for p in cwd.rglob("*")
            if p.is_file() and p.stat().st_size > 0 and p.name in code]


@pytest.mark.parametrize(("where", "code"), BLOCKS, ids=[w for w, _ in BLOCKS])
def test_example_runs_as_printed_and_shows_output(
    where: str, code: str, tmp_path: Path
) -> None:
    """The block exits 0, prints no traceback, and prints a line or writes a named file."""
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    proc = subprocess.run(
        [sys.executable, str(script)], cwd=cwd, env=_env(), capture_output=True, text=True,
        timeout=300, check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{where} failed:\n{output}"
    assert "Traceback" not in output, f"{where} printed a traceback:\n{output}"
    assert output.strip() or _mentioned_files(cwd, code), (
        f"{where} ran but showed nothing: no console line and no file it names"
    )
