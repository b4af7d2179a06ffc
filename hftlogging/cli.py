"""The ``hftlogging`` command: ``check``, ``convert``, ``demo``, ``bench``, ``audit verify``.

Exit codes (every command):

====  ===============================================================================
0     success: the configuration is valid / the demo ran and its audit trail verified
      / every audit file verified
1     failure: the configuration is invalid, an audit file does not verify, or the
      demo lost records or could not run
2     usage error: unknown command or option (printed by argparse)
130   interrupted (Ctrl-C)
====  ===============================================================================

A configuration mistake is reported as one message naming the file and the key, never
as a Python traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import TextIO

from hftlogging import __version__
from hftlogging.config import Plan, default_env, logger_chain, prepare, routes
from hftlogging.exceptions import ConfigError, Found, HftLoggingError, describe

__all__ = [
    "EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "UsageError", "main",
    "render_check", "render_convert",
]

class UsageError(HftLoggingError, argparse.ArgumentTypeError):
    """A command-line value of the wrong form (argparse reports it as a usage error)."""


EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

_EPILOG = """\
exit codes: 0 success, 1 failure (invalid configuration, audit trail not verified,
demo problem), 2 usage error, 130 interrupted.
"""


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hftlogging",
        description="Standard-library logging for latency-sensitive services.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"hftlogging {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    c = sub.add_parser(
        "check",
        help="validate a configuration and print its routing table",
        description=(
            "Validate a configuration (a shipped name such as 'production', or a YAML "
            "path) without applying it, then print which handlers and files receive each "
            "log type at each level, for each configured logger."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_argument("config", metavar="CONFIG", help="a shipped configuration name or a YAML path")
    c.add_argument(
        "--set", dest="env", action="append", default=[], metavar="NAME=VALUE",
        help="set an environment variable for ${NAME} expansion (repeatable)",
    )

    cv = sub.add_parser(
        "convert",
        help="print a configuration in the logging: format as dictConfig YAML",
        description=(
            "Translate a configuration in the logging: format (backends, routing_rules, "
            "global_context, hft_settings) into the equivalent dictConfig and print it as "
            "YAML, with a comment per translated key. The output loads with "
            "hftlogging.configure(path) and routes as the original file."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cv.add_argument("config", metavar="SEED_CONFIG", help="a YAML path in the logging: format")
    cv.add_argument(
        "--set", dest="env", action="append", default=[], metavar="NAME=VALUE",
        help="set an environment variable (ENVIRONMENT, ${NAME} expansion; repeatable)",
    )

    d = sub.add_parser(
        "demo",
        help="run a simulated trading service and show what the library does",
        description=(
            "Run exchange connectors and order workers in several processes for a few "
            "seconds, logging text, metrics and audit events through a shipped "
            "configuration into a directory, with a live Prometheus endpoint; then print "
            "records per component, records/s, drops, caller-side latency, the files "
            "written and the verification of the audit trail."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d.add_argument("--seconds", type=_positive_float, default=10.0, metavar="N",
                   help="how long to run (default 10)")
    d.add_argument("--workers", type=_positive_int, default=2, metavar="K",
                   help="worker processes (default 2)")
    d.add_argument("--config", default="production", metavar="NAME",
                   help="configuration: a shipped name or a YAML path (default production)")
    d.add_argument("--port", type=_port, default=9108, metavar="P",
                   help="port of the Prometheus endpoint on 127.0.0.1 (default 9108; 0: any "
                        "free port)")
    d.add_argument("--dir", default="hftlogging-demo", metavar="DIR",
                   help="where the files go (default ./hftlogging-demo)")
    d.add_argument("--rate", type=_positive_int, default=5000, metavar="R",
                   help="simulated market events per second per worker (default 5000)")

    b = sub.add_parser(
        "bench", add_help=False,
        help="benchmark against the standard library and the peers (bench --help)",
        description="Benchmarks; every option is passed to 'hftlogging bench'.",
    )
    b.add_argument("bench_args", nargs=argparse.REMAINDER, metavar="...")

    a = sub.add_parser("audit", help="work with JSON audit trails",
                       description="Work with the hash-chained JSON audit trails.",
                       epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    audit_sub = a.add_subparsers(dest="audit_command", metavar="ACTION")
    audit_sub.required = True
    v = audit_sub.add_parser(
        "verify", help="verify the hash chain of audit files",
        description="Verify the hash chain of audit files; exit 0 with the number of "
                    "verified records, or 1 naming the first line that was altered, "
                    "deleted, inserted or reordered.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    v.add_argument("files", nargs="+", metavar="FILE")
    return parser


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(describe(None, "a number", text, "give a number such as 0.5")) from None
    if not value > 0:
        raise UsageError(describe(None, "a number > 0", text, "give a number above 0, such as 0.5"))
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise UsageError(describe(None, "an integer", text,
                                  "give a whole number such as 4")) from None
    if value < 1:
        raise UsageError(describe(None, "an integer >= 1", text,
                                  "give a whole number of 1 or more, such as 4"))
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise UsageError(describe(None, "a port number", text, "give a port in 0..65535")) from None
    if not 0 <= value <= 65535:
        raise UsageError(describe(None, "a port in 0..65535", text, "give a port in 0..65535"))
    return value


# --- check -----------------------------------------------------------------------------------


def render_check(config: str, env: dict[str, str] | None = None) -> str:
    """Validate ``config`` and return the text ``hftlogging check`` prints.

    Raises:
        ConfigError: the configuration is invalid.
    """
    environ = default_env()
    if env:
        environ.update(env)
    plan = prepare(config, env=environ)
    lines = [f"configuration: {plan.source or config}", "", "handlers:"]
    width = max((len(n) for n in plan.handlers), default=0)
    for name, spec in plan.handlers.items():
        extras = []
        if spec.level:
            extras.append(f"level {logging.getLevelName(spec.level)}+")
        if spec.filters:
            extras.append(f"filters {', '.join(spec.filters)}")
        if spec.is_queue:
            o = spec.options
            settings = ", ".join(
                f"{k} {o[k]}" for k in ("capacity", "overflow", "batch_size", "flush_interval_ms")
                if k in o
            )
            what = f"QueueHandler -> {', '.join(spec.targets)}"
            if settings:
                extras.append(settings)
        else:
            what = spec.destination()
            if spec.options.get("exclusive") is False:
                extras.append("shared: every process appends, rotation coordinated")
        tail = f"  ({'; '.join(extras)})" if extras else ""
        lines.append(f"  {name:<{width}}  {what}{tail}")
    fields = plan.settings.get("global_context")
    if fields:
        pairs = ", ".join(f"{k}={v}" for k, v in fields.items())
        lines += ["", f"global context (on every record): {pairs}"]
    lines += _component_routes(plan)
    lines += ["", "routing (log type, level: handlers that write it):"]
    table = routes(plan)
    by_logger: dict[str, list[str]] = {}
    for r in table:
        tags = f" tags={','.join(r.tags)}" if r.tags else ""
        kind = f"{r.log_type:<6} {logging.getLevelName(r.level):<8}{tags}"
        shown = [
            f"{h} ({f})" if (f := plan.handlers[h].file_for(r.logger)) else h
            for h in r.handlers
        ]
        by_logger.setdefault(r.logger, []).append(
            f"    {kind:<28} {', '.join(shown) if shown else '-'}"
        )
    groups: dict[tuple[str, ...], list[str]] = {}
    for logger, logger_rows in by_logger.items():
        note = _fast_path_note(plan, logger)
        groups.setdefault((note, *logger_rows), []).append(logger)
    for (note, *rows), loggers in groups.items():
        title = "logger" if len(loggers) == 1 else "loggers"
        lines.append(f"  {title} {', '.join(loggers)}{note}:")
        lines.extend(rows)
    if plan.translation is not None:
        from hftlogging.config.rendering import check_lines

        lines += ["", *check_lines(plan.translation)]
    lines += ["", "ok: the configuration is valid"]
    return "\n".join(lines) + "\n"


def _component_routes(plan: Plan) -> list[str]:
    """For each handler routing by ``component_map``: which logger names reach which file,
    and where every other name goes."""
    out: list[str] = []
    for name, spec in plan.handlers.items():
        mapping = spec.options.get("component_map")
        template = spec.options.get("filename", "{component}.log")
        if not isinstance(mapping, dict) or not isinstance(template, str):
            continue
        if spec.options.get("component_from") not in (None, "map"):
            continue

        def file_of(component: object, template: str = template) -> str:
            return template.replace("{component}", str(component))

        rows = [(str(k) or "(any other name)", file_of(c)) for k, c in mapping.items()]
        if "" not in mapping:
            default = spec.options.get("default_component", "main")
            rows.append(("(any other name)", file_of(default)))
        width = max(len(k) for k, _ in rows)
        out += ["", f"component routes of {name} (logger name -> file; a name also takes "
                    "its children, *.x any name ending in .x):"]
        out += [f"  {k:<{width}}  {f}" for k, f in rows]
    return out


def _fast_path_note(plan: Plan, logger: str) -> str:
    """Whether calls on ``logger`` take the fast path, and if not, why."""
    chain = logger_chain(plan, logger)
    handlers: list[str] = []
    for _, entry in chain:
        handlers.extend(entry.get("handlers") or [])
    if chain[0][1].get("filters"):
        return " (stdlib path: the logger has filters)"
    if len(handlers) != 1:
        return f" (stdlib path: {len(handlers)} handlers on the way up)" if handlers \
            else " (no handler: stdlib's last resort prints WARNING+ to stderr)"
    spec = plan.handlers.get(handlers[0])
    if spec is None or not spec.is_queue:
        return " (stdlib path: no queue handler)"
    if spec.filters:
        return " (stdlib path: the queue handler has filters)"
    return " (fast path)"


def _env_args(command: str, env_args: Sequence[str], err: TextIO) -> dict[str, str] | None:
    env = {}
    for item in env_args:
        name, sep, value = item.partition("=")
        if not sep or not name:
            err.write(f"hftlogging {command}: expected NAME=VALUE after --set, found {item!r}\n")
            return None
        env[name] = value
    return env


def render_convert(config: str, env: dict[str, str] | None = None) -> str:
    """Translate ``config`` (the ``logging:`` format) and return the YAML ``convert`` prints.

    Raises:
        ConfigError: the file is not in that format, or is invalid.
    """
    environ = default_env()
    if env:
        environ.update(env)
    plan = prepare(config, env=environ)
    if plan.translation is None:
        msg = describe(
            None, "a configuration in the logging: format (a top-level logging: with "
            "backends, routing_rules, global_context or hft_settings)",
            Found("a dictConfig configuration"),
            "hftlogging.configure loads that one as it is: there is nothing to convert")
        raise ConfigError(msg, path=plan.source)
    from hftlogging.config.rendering import render_yaml

    return render_yaml(plan.translation)


def _convert(config: str, env_args: Sequence[str], out: TextIO, err: TextIO) -> int:
    env = _env_args("convert", env_args, err)
    if env is None:
        return EXIT_USAGE
    try:
        text = render_convert(config, env)
    except ConfigError as e:
        err.write(f"hftlogging convert: {e}\n")
        return EXIT_FAILED
    out.write(text)
    return EXIT_OK


def _check(config: str, env_args: Sequence[str], out: TextIO, err: TextIO) -> int:
    env = _env_args("check", env_args, err)
    if env is None:
        return EXIT_USAGE
    try:
        text = render_check(config, env)
    except ConfigError as e:
        err.write(f"hftlogging check: {e}\n")
        return EXIT_FAILED
    out.write(text)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        # The benchmark has its own options (and --help): hand it everything after "bench".
        # Imported on use: the benchmarks are tooling, never loaded by other commands.
        from hftlogging.tools.bench import main as bench_main

        return bench_main(argv[1:])
    args = _build_parser().parse_args(argv)
    try:
        if args.command == "check":
            return _check(args.config, args.env, sys.stdout, sys.stderr)
        if args.command == "convert":
            return _convert(args.config, args.env, sys.stdout, sys.stderr)
        if args.command == "demo":
            from hftlogging.tools.demo import run_demo

            return run_demo(
                seconds=args.seconds, workers=args.workers, config=args.config,
                port=args.port, directory=args.dir, rate=args.rate,
            )
        if args.command == "audit" and args.audit_command == "verify":
            # Imported on use: the audit module pulls in the file machinery.
            from hftlogging.handlers.audit import verify_command

            return verify_command(args.files)
    except KeyboardInterrupt:
        sys.stderr.write("hftlogging: interrupted\n")
        return EXIT_INTERRUPTED
    return EXIT_USAGE  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
