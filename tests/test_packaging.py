"""The wheel holds every package of the source tree: a subpackage missing from
pyproject.toml's list would pass every test run from the checkout and fail installed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - 3.10: the test extra installs tomli there
    import tomli as tomllib


def test_every_package_directory_is_listed_in_pyproject() -> None:
    """Each directory under hftlogging/ with an __init__.py is a package the wheel ships."""
    if not (ROOT / "pyproject.toml").is_file():
        pytest.fail("pyproject.toml not found beside tests/: run the suite from a checkout")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "hftlogging").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert on_disk, "no package found under hftlogging/"
    assert on_disk - listed == set(), "packages missing from [tool.setuptools] packages"
