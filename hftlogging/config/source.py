"""Configuration sources: shipped names and files, safe YAML, ``${VAR}`` expansion.

Reads a file (a shipped name such as ``"production"``, a path, or a dict) with
``yaml.safe_load`` only: a tag that would construct a Python object is refused, and so is
a document that is too large or expands beyond a bound through aliases. Expands
``${VAR}`` and ``${VAR:-default}`` in string values. Every error names the file.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from hftlogging.config.messages import did_you_mean, key_path, suggest
from hftlogging.exceptions import ConfigError, Found, describe
from hftlogging.routing import ENVIRONMENT_ALIASES, environment_name
from hftlogging.worker import get_worker

__all__ = [
    "ENV_REFERENCE",
    "MAX_CONFIG_BYTES",
    "MAX_CONFIG_VALUES",
    "TOP_KEYS",
    "EnvStr",
    "available_configs",
    "check_expansion",
    "copy_tree",
    "default_env",
    "default_source",
    "expand",
    "merge",
    "parse_yaml",
    "plain",
    "read_text",
    "resolve_source",
    "yaml_scalar",
]

#: Largest configuration file read, in bytes.
MAX_CONFIG_BYTES = 1_000_000
#: Most values a configuration may hold once YAML aliases are expanded.
MAX_CONFIG_VALUES = 100_000

_CONFIG_PACKAGE = "hftlogging.logging_configs"
_SHORTER = "split the file or remove what it does not need"
_FLATTER = "nest the configuration less deeply"
#: The top-level keys of a dictConfig configuration (with the hftlogging: section).
TOP_KEYS = (
    "version", "formatters", "filters", "handlers", "loggers", "root", "incremental",
    "disable_existing_loggers", "hftlogging",
)


# --- sources --------------------------------------------------------------------------------


def _configs_dir() -> Path:
    """The shipped configurations: installed as ``hftlogging.logging_configs``, or, when
    running from a source checkout, the repository's ``logging_configs/``."""
    spec = importlib.util.find_spec(_CONFIG_PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    checkout = Path(__file__).resolve().parent.parent.parent / "logging_configs"
    if (checkout / "production.yaml").is_file():
        return checkout
    msg = describe(None, "the shipped configurations beside the package",
                   Found("none in this installation"), "reinstall hftlogging")
    raise ConfigError(msg)


def available_configs() -> list[str]:
    """Names of the configurations shipped with the package."""
    return sorted(p.stem for p in _configs_dir().glob("*.yaml"))


def resolve_source(name_or_path: str | os.PathLike[str]) -> Path:
    text = os.fspath(name_or_path)
    p = Path(text)
    if p.suffix in (".yaml", ".yml") or os.sep in text or p.exists():
        if not p.is_file():
            found = "a directory" if p.is_dir() else "nothing"
            msg = describe(None, "a configuration file", Found(f"{found} at {text!r}"),
                           "give the path of a YAML file or a shipped configuration name")
            raise ConfigError(msg, path=text)
        return p
    shipped = _configs_dir() / f"{text}.yaml"
    if not shipped.is_file():
        names = available_configs()
        msg = describe(None, f"a shipped configuration name ({', '.join(names)}) or a path",
                       text, suggest(text, names, "name one of those or a YAML file"))
        raise ConfigError(msg)
    return shipped


def read_text(path: Path, source: str) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            msg = describe(None, f"a file of at most {MAX_CONFIG_BYTES} bytes",
                           Found(f"{size} bytes"), _SHORTER)
            raise ConfigError(msg, path=source)
        with path.open("rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as e:
        msg = describe(None, "a file it can read", Found(f"cannot read it: {e.strerror or e}"),
                       "check the path and its permissions")
        raise ConfigError(msg, path=source) from e
    if len(data) > MAX_CONFIG_BYTES:
        msg = describe(None, f"a file of at most {MAX_CONFIG_BYTES} bytes", Found("more"),
                       _SHORTER)
        raise ConfigError(msg, path=source)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        msg = describe(None, "UTF-8 text", Found(f"an invalid byte at offset {e.start}"),
                       "save the file as UTF-8")
        raise ConfigError(msg, path=source) from e


def parse_yaml(text: str, source: str | None) -> Any:
    """``yaml.safe_load``, with the document's expanded size checked before it is built.

    Building is where an alias bomb explodes: merge keys (``<<: [*a, *a]``) copy the
    merged pairs, so even ``safe_load`` takes exponential time on a small file. The node
    graph is composed first (aliases stay shared there) and measured.
    """
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        check_expansion(node, source)
        _check_duplicate_keys(node, source)
        return loader.construct_document(node)
    except yaml.constructor.ConstructorError as e:
        mark = e.problem_mark
        line = f"line {mark.line + 1}" if mark is not None else None
        tag = re.search(r"tag '([^']*)'", str(e.problem))
        found = f"the tag {tag.group(1)!r}" if tag else str(e.problem)
        msg = describe(line, "plain YAML data (read with yaml.safe_load)",
                       Found(f"{found}, which would construct a Python object"),
                       "remove the tag")
        raise ConfigError(msg, path=source) from e
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        msg = describe(None, "valid YAML", Found(f"a syntax error{where}: {problem}"),
                       "correct the syntax there")
        raise ConfigError(msg, path=source) from e
    except RecursionError as e:
        msg = describe(None, "valid YAML", Found("nesting too deep to read"), _FLATTER)
        raise ConfigError(msg, path=source) from e
    finally:
        loader.dispose()


def _check_duplicate_keys(root: yaml.Node, source: str | None) -> None:
    """Refuse a mapping that has the same key twice: YAML would keep only the last one.

    Two blocks pasted one after the other (``logging:`` then ``logging:`` again) would
    otherwise lose the first block without a word.
    """
    seen_nodes: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[str, int] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    line = key.start_mark.line + 1
                    if key.value in first:
                        msg = describe(
                            f"line {line}", "each key once in a mapping",
                            Found(f"{key.value!r} again (first at line {first[key.value]})"),
                            "YAML would keep only the last one: merge the two")
                        raise ConfigError(msg, path=source)
                    first[key.value] = line
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)


def _children(obj: Any) -> list[Any] | None:
    """The children of a container: a YAML node's or a Python value's; None for a leaf."""
    if isinstance(obj, yaml.MappingNode):
        return [x for pair in obj.value for x in pair]
    if isinstance(obj, yaml.SequenceNode):
        return list(obj.value)
    if isinstance(obj, yaml.Node):
        return None
    if isinstance(obj, Mapping):
        return [*obj.keys(), *obj.values()]
    if isinstance(obj, list):
        return obj
    return None


def check_expansion(data: Any, source: str | None) -> None:
    """Refuse alias bombs ("billion laughs") and self-referencing aliases.

    Works on a composed YAML node graph or on Python data. Aliases share one object, so
    the document is small in memory; walking or building it is what explodes. The
    expanded size is counted with memoisation, in time linear in the distinct objects.
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(obj: Any) -> int:
        children = _children(obj)
        if children is None:
            return 1
        key = id(obj)
        known = sizes.get(key)
        if known is not None:
            return known
        if key in active:
            msg = describe(None, "a tree of values",
                           Found("a YAML alias that refers to its own parent"),
                           "replace the alias by the values it stands for")
            raise ConfigError(msg, path=source)
        active.add(key)
        total = 1
        for child in children:
            total += size(child)
            if total > MAX_CONFIG_VALUES:
                msg = describe(
                    None, f"at most {MAX_CONFIG_VALUES} values once YAML aliases are expanded",
                    Found("more (an alias bomb?)"), "use fewer aliases of large blocks")
                raise ConfigError(msg, path=source)
        active.discard(key)
        sizes[key] = total
        return total

    try:
        size(data)
    except RecursionError as e:
        msg = describe(None, "a configuration of reasonable depth",
                       Found("nesting too deep"), _FLATTER)
        raise ConfigError(msg, path=source) from e


# --- ${VAR} expansion ---------------------------------------------------------------------------

ENV_REFERENCE = re.compile(r"\$\$|\$\{([^}]*)\}")
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class EnvStr(str):
    """A value that was exactly one ``${VAR}``: its type is decided by what the option expects."""

    __slots__ = ()



def expand(value: Any, env: Mapping[str, str], source: str | None, path: list[Any]) -> Any:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if _is_dollar_format(path, k, value):
                out[k] = v
            else:
                out[k] = expand(v, env, source, [*path, k])
        return out
    if isinstance(value, list):
        return [expand(v, env, source, [*path, i]) for i, v in enumerate(value)]
    if not isinstance(value, str) or "$" not in value:
        return value
    whole = ENV_REFERENCE.fullmatch(value)

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        body = m.group(1)
        name, sep, default = body.partition(":-")
        if not _VAR_NAME.match(name):
            msg = describe(
                None,
                "${NAME} or ${NAME:-default} with NAME made of letters, digits and underscores",
                m.group(0), "write $$ for a literal $")
            raise ConfigError(msg, path=source, key=key_path(path))
        found = env.get(name)
        if found is not None:
            return found
        if sep:
            return default
        msg = describe(None, f"environment variable {name} to be set ({m.group(0)} has no "
                       "default)", Found("it unset"),
                       f"set {name} or write ${{{name}:-default}}")
        raise ConfigError(msg, path=source, key=key_path(path))

    result = ENV_REFERENCE.sub(sub, value)
    if whole is not None and whole.group(0) != "$$":
        return EnvStr(result)
    return result


def _is_dollar_format(path: list[Any], key: Any, entry: Mapping[str, Any]) -> bool:
    """``$``-style format strings (``${asctime}``) are formats, not environment references."""
    return (
        len(path) == 2 and path[0] == "formatters" and key in ("format", "fmt")
        and entry.get("style") == "$"
    )


def yaml_scalar(text: str) -> Any:
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        return text
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return text


def plain(value: Any) -> Any:
    """Turn ``EnvStr`` values back into plain strings, deep.

    Only an option's own value is given a type (see :func:`coerce`); a value nested in a
    mapping (a label value, a worker name such as ``01``) stays the string it was.
    """
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, EnvStr):
        return str(value)
    return value


# --- loading -----------------------------------------------------------------------------------


def default_env() -> dict[str, str]:
    """``os.environ`` with ``HFTLOGGING_WORKER`` set to :func:`hftlogging.get_worker`."""
    env = dict(os.environ)
    env["HFTLOGGING_WORKER"] = get_worker()
    return env


def default_source(environ: Mapping[str, str]) -> Path:
    """The configuration named by ``$HFTLOGGING_ENV``, else ``$ENVIRONMENT``, else development.

    The variables take a shipped name, ``dev``/``prod`` (and other cases of those), or a
    path; an unknown name is an error naming the variable it came from.
    """
    for var in ("HFTLOGGING_ENV", "ENVIRONMENT"):
        value = environ.get(var)
        if not value:
            continue
        text = value.strip()
        if os.sep in text or text.endswith((".yaml", ".yml")) or Path(text).is_file():
            try:
                return resolve_source(text)
            except ConfigError as e:
                raise e.restated(before=f"${var}: ") from e
        name = environment_name(text)
        shipped = _configs_dir() / f"{name}.yaml"
        if shipped.is_file():
            return shipped
        names = available_configs()
        aliases = ", ".join(f"{a} ({n})" for a, n in ENVIRONMENT_ALIASES.items())
        hint = did_you_mean(name, [*names, *ENVIRONMENT_ALIASES]).removeprefix("; ")
        msg = describe(
            None,
            f"${var} to name a shipped configuration ({', '.join(names)}; also {aliases}) "
            "or a configuration file",
            Found(f"{value!r}{f' ({hint})' if hint else ''}"),
            f"set {var} to one of those or unset it")
        raise ConfigError(msg)
    return resolve_source("development")


def copy_tree(value: Any) -> Any:
    """Copy the mappings and lists of a configuration; objects in it (a handler given
    directly in a dict configuration) are shared, not copied."""
    if isinstance(value, Mapping):
        return {k: copy_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_tree(v) for v in value]
    return value


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = merge(dict(out[k]), dict(v))
        else:
            out[k] = v
    return out

