"""The captured-call tuple has one layout, :data:`hftlogging.capture.FIELDS`: every tuple
the capture sites build and every place the listener side reads one agree with it.

The hot path writes plain tuple literals (no namedtuple, no call), so this is checked by
reading the source."""

from __future__ import annotations

import ast
from pathlib import Path

from hftlogging import capture

PKG = Path(__file__).resolve().parent.parent / "hftlogging"
KINDS = {"KIND_TEXT", "KIND_METRIC", "KIND_AUDIT", "kind"}

# What a capture site may put in each slot that does not vary with the kind of call.
SLOT_SOURCES = {
    "kind": KINDS,
    "logger": {"self"},
    "level": {"level", "METRIC_LEVEL", "AUDIT_LEVEL"},
    "lctx": {"self._context"},
    "cv": {"_cv_get()"},
    "t_ns": {"_time_ns()"},
    "tid": {"_get_ident()", "tid"},
    "caller": {"None", "caller"},
    "task": {"None", "task"},
}

# Functions that read single slots of a captured item (``item[i]``), and the slots they
# mean to read.
INDEXED_READS = {
    ("hftlogging.handlers.ring", "kind_level"): {"kind", "level"},
    ("hftlogging.monitor", "_arm"): {"kind", "logger", "level", "args"},
}


def _trees() -> dict[str, ast.Module]:
    out = {}
    for path in sorted(PKG.rglob("*.py")):
        parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = ast.parse(path.read_text(encoding="utf-8"))
    return out


def _functions(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def test_index_constants_name_the_fields() -> None:
    """Each ``I_<FIELD>`` constant is the position of that field in FIELDS."""
    assert len(capture.FIELDS) == 12
    for i, name in enumerate(capture.FIELDS):
        assert getattr(capture, f"I_{name.upper()}") == i


def test_capture_sites_build_the_layout() -> None:
    """Every tuple literal a capture site builds has the 12 slots, in FIELDS order."""
    sites = 0
    for mod, tree in _trees().items():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Tuple) and isinstance(node.ctx, ast.Load) and node.elts):
                continue
            first = node.elts[0]
            if not (isinstance(first, ast.Name) and first.id in KINDS and len(node.elts) > 6):
                continue
            sites += 1
            where = f"{mod}:{node.lineno}"
            assert len(node.elts) == len(capture.FIELDS), f"{where}: {len(node.elts)} slots"
            for field, elt in zip(capture.FIELDS, node.elts, strict=True):
                allowed = SLOT_SOURCES.get(field)
                if allowed is not None:
                    source = ast.unparse(elt)
                    assert source in allowed, f"{where}: slot {field!r} is {source}"
    assert sites >= 4  # the level methods (ring and overflow), _enqueue, counter


def test_listener_unpacks_the_layout() -> None:
    """Every unpacking of a whole captured item names the slots in FIELDS order."""
    unpacks = 0
    for mod, tree in _trees().items():
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Name)
                and node.value.id == "item"
                and isinstance(node.targets[0], ast.Tuple)
            ):
                unpacks += 1
                names = tuple(ast.unparse(t) for t in node.targets[0].elts)
                assert names == capture.FIELDS, f"{mod}:{node.lineno}: {names}"
    assert unpacks >= 1  # materialize


def test_single_slot_reads_match_the_layout() -> None:
    """``item[i]`` reads only where listed, each index the slot the reader means."""
    found: dict[tuple[str, str], set[str]] = {}
    for mod, tree in _trees().items():
        for fn in _functions(tree):
            for node in ast.walk(fn):
                if (
                    isinstance(node, ast.Subscript)
                    and isinstance(node.value, ast.Name)
                    and node.value.id == "item"
                    and isinstance(node.slice, ast.Constant)
                    and type(node.slice.value) is int
                ):
                    found.setdefault((mod, fn.name), set()).add(capture.FIELDS[node.slice.value])
    assert found == INDEXED_READS
