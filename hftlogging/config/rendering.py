"""The text of a translation: the YAML ``hftlogging convert`` prints, with a comment per
translated key, and the lines ``hftlogging check`` adds about a translated file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from hftlogging.config.seeds import Translation

__all__ = ["check_lines", "render_yaml"]


def _dollars(value: Any) -> Any:
    """Write ``$`` as ``$$``: loaded again, a ``$`` would start a ``${VAR}``."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, Mapping):
        return {k: _dollars(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dollars(v) for v in value]
    return value


def _flow(value: Any) -> str:
    value = _dollars(value)
    text = yaml.safe_dump(value, default_flow_style=True, width=1 << 20, sort_keys=False,
                          allow_unicode=True)
    text = text.strip()
    if text.endswith("\n..."):
        text = text[: -len("\n...")]
    elif text.endswith("..."):
        text = text[:-3].rstrip()
    return text


def _lines(obj: Mapping[str, Any], notes: Mapping[tuple[str, ...], str],
           path: tuple[str, ...], indent: int) -> list[str]:
    out = []
    pad = "  " * indent
    for key, value in obj.items():
        here = (*path, str(key))
        note = notes.get(here)
        tail = f"  # {note}" if note else ""
        head = f"{pad}{_flow(str(key))}:"
        if isinstance(value, Mapping) and value:
            out.append(head + tail)
            out.extend(_lines(value, notes, here, indent + 1))
        elif isinstance(value, list) and any(isinstance(v, (Mapping, list)) for v in value):
            out.append(head + tail)
            out.extend(f"{pad}  - {_flow(v)}" for v in value)
        else:
            out.append(f"{head} {_flow(value)}{tail}")
    return out


def render_yaml(translation: Translation) -> str:
    """The translated configuration as YAML with a comment per translated key.

    The text loads with :func:`hftlogging.configure` and routes as the original file.
    """
    src = translation.source or "the configuration"
    head = [
        f"# Translated by hftlogging convert from {src}",
        f"# (the logging: format) for environment {translation.environment!r}.",
        "# It loads with hftlogging.configure(path) and routes as the original file.",
        "# Values of ${VAR} references are as they were at conversion; literal $ is $$.",
    ]
    if translation.warnings:
        head.append("#")
        head.extend(f"# Warning: {w}" for w in translation.warnings)
    if translation.ignored:
        head.append("#")
        head.append("# Not translated:")
        head.extend(f"#   {key}: {why}" for key, why in translation.ignored)
    body = _lines(translation.config, translation.notes, (), 0)
    return "\n".join([*head, "", *body]) + "\n"


def check_lines(translation: Translation) -> list[str]:
    """What ``hftlogging check`` prints about a translated file."""
    lines = [f"translated from the logging: format (environment {translation.environment}; "
             "hftlogging convert prints the translation)"]
    lines.extend(f"  warning: {w}" for w in translation.warnings)
    for key, why in translation.ignored:
        lines.append(f"  not translated: {key}: {why}")
    return lines
