"""Derived worker names: processes started the same way never share one, and a restarted
service gets the same names back."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

NAMER = textwrap.dedent(
    """
    import os, sys
    import hftlogging

    print(hftlogging.get_worker(), flush=True)
    if sys.argv[1:] == ["fork"]:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.write(w, hftlogging.get_worker().encode())
            os._exit(0)
        os.waitpid(pid, 0)
        print(os.read(r, 100).decode(), hftlogging.get_worker(), flush=True)
    sys.stdin.readline()
    """
)

Start = Callable[..., "Namer"]


class Namer:
    """A process that prints its worker name and waits for a line on stdin."""

    def __init__(self, script: Path, env: dict[str, str], *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, str(script), *args], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.name = self.proc.stdout.readline().strip()

    def line(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def end(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        assert self.proc.wait(30) == 0


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    """Start namer processes with a private runtime directory and a given log directory."""
    script = tmp_path / "namer.py"
    script.write_text(NAMER)
    (tmp_path / "run").mkdir()
    made: list[Namer] = []

    def run(log_dir: str = "logs", *args: str, **extra: str) -> Namer:
        env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path / "run"),
               "HFTLOGGING_DIR": str(tmp_path / log_dir),
               "PYTHONPATH": os.pathsep.join(p for p in sys.path if p), **extra}
        if "HFTLOGGING_WORKER" not in extra:
            env.pop("HFTLOGGING_WORKER", None)
        n = Namer(script, env, *args)
        made.append(n)
        return n

    yield run
    for n in made:
        if n.proc.poll() is None:
            n.proc.kill()
        n.proc.wait(30)


def test_processes_of_one_directory_get_distinct_names(start: Start) -> None:
    """Three processes without a name are main, main-2, main-3; once main ends, the next
    process is main again (a restart continues the same files)."""
    first, second, third = start(), start(), start()
    assert [first.name, second.name, third.name] == ["main", "main-2", "main-3"]
    first.end()
    assert start().name == "main"


def test_names_are_per_log_directory_and_explicit_names_win(start: Start) -> None:
    """Another log directory has its own names; HFTLOGGING_WORKER is taken as given."""
    assert start("logs").name == "main"
    assert start("other").name == "main"
    assert start("logs", HFTLOGGING_WORKER="worker_open").name == "worker_open"
    assert start("logs").name == "main-2"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_derives_a_name_of_its_own(start: Start) -> None:
    """A child forked from a process named main is not main; the parent stays main."""
    parent = start("logs", "fork")
    assert parent.name == "main"
    child_name, parent_after = parent.line().split()
    assert (child_name, parent_after) == ("main-2", "main")
