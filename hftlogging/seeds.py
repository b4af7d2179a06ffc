"""The ``logging:`` configuration format: moved to :mod:`hftlogging.config.seeds`
(the translation) and :mod:`hftlogging.config.rendering` (its text).

Kept so that ``from hftlogging.seeds import translate`` goes on working.
"""

from __future__ import annotations

from hftlogging.config.rendering import check_lines, render_yaml
from hftlogging.config.seeds import (
    BACKEND_KINDS,
    HFT_SETTINGS,
    NOT_SHIPPED,
    SEED_KEYS,
    Translation,
    is_seed_config,
    translate,
)

__all__ = [
    "BACKEND_KINDS",
    "HFT_SETTINGS",
    "NOT_SHIPPED",
    "SEED_KEYS",
    "Translation",
    "check_lines",
    "is_seed_config",
    "render_yaml",
    "translate",
]
