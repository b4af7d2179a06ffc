"""Configuration: YAML or dict → validated ``logging.config.dictConfig``, and the queue wiring.

What :func:`configure` does, in order:

1. Reads the file (a shipped name such as ``"production"``, a path, or a dict), with
   ``yaml.safe_load`` only: a tag that would construct a Python object is refused, and so
   is a document that is too large or expands beyond a bound through aliases.
2. Expands ``${VAR}`` and ``${VAR:-default}`` in string values.
3. Validates everything: the sections, every key (with "did you mean" for misspelt ones),
   class names, each handler's, filter's and formatter's keyword options against its
   signature, value types, levels, references between sections, the ``hftlogging:``
   section, and that the files can be written. Filters and formatters are built once to
   check their values.
4. Only then applies it with :func:`logging.config.dictConfig`, after draining the
   running queues; an error that only building a handler can reveal (a port in use)
   restores the previous configuration.
5. Starts the queue listeners.

One concept per module, each importing only the ones above it:

- :mod:`~hftlogging.config.messages`: how errors name keys and found values.
- :mod:`~hftlogging.config.source`: shipped names and files, safe YAML, ``${VAR}``.
- :mod:`~hftlogging.config.annotation`: the types an option accepts; ``${VAR}`` coercion.
- :mod:`~hftlogging.config.seeds`: the ``logging:`` format and its translation.
- :mod:`~hftlogging.config.rendering`: the text of a translation (``convert``, ``check``).
- :mod:`~hftlogging.config.plan`: the validated plan (:class:`Plan`, ``HandlerSpec``).
- :mod:`~hftlogging.config.validate`: validation of every section, key and option.
- :mod:`~hftlogging.config.loading`: source to plan (:func:`prepare`, :func:`load_config`).
- :mod:`~hftlogging.config.routes`: the routing table ``hftlogging check`` prints.
- :mod:`~hftlogging.config.apply`: :func:`configure`; the running configuration and its lock.
"""

from __future__ import annotations

from hftlogging.config.apply import (
    configure,
    setup_development_logging,
    setup_production_logging,
)
from hftlogging.config.loading import load_config, prepare
from hftlogging.config.plan import Plan
from hftlogging.config.routes import Route, logger_chain, routes
from hftlogging.config.source import (
    MAX_CONFIG_BYTES,
    MAX_CONFIG_VALUES,
    available_configs,
    default_env,
)

__all__ = [
    "MAX_CONFIG_BYTES",
    "MAX_CONFIG_VALUES",
    "Plan",
    "Route",
    "available_configs",
    "configure",
    "default_env",
    "load_config",
    "logger_chain",
    "prepare",
    "routes",
    "setup_development_logging",
    "setup_production_logging",
]

