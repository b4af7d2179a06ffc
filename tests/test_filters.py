"""Routing and redaction filters: LogTypeFilter, LevelRangeFilter, TagFilter, RedactFilter."""

from __future__ import annotations

import copy
import logging
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hftlogging
from hftlogging.exceptions import ConfigError
from hftlogging.filters import (
    DEFAULT_REDACT_KEYS,
    LevelRangeFilter,
    LogTypeFilter,
    RedactFilter,
    TagFilter,
)
from hftlogging.record import build_record
from hftlogging.testing import CaptureHandler


def _record(
    log_type: str = "text",
    level: int = logging.INFO,
    context: dict[str, Any] | None = None,
    tags: list[str] | None = None,
    name: str = "t",
) -> logging.LogRecord:
    return build_record(name, level, "m", (), time.time_ns(), None, log_type=log_type,
                        context=context, tags=tags)


# --- LogTypeFilter ------------------------------------------------------------------------------


def test_log_type_filter_passes_only_listed_types() -> None:
    """types=[...] passes those log types and drops the others."""
    f = LogTypeFilter(types=["metric", "audit"])
    assert not f.filter(_record("text"))
    assert f.filter(_record("metric"))
    assert f.filter(_record("audit"))


def test_log_type_filter_exclude_drops_listed_types() -> None:
    """exclude=[...] drops those types; a single string is accepted as a list of one."""
    f = LogTypeFilter(exclude="metric")
    assert f.filter(_record("text"))
    assert not f.filter(_record("metric"))
    assert f.filter(_record("audit"))


def test_log_type_filter_counts_plain_stdlib_records_as_text() -> None:
    """A record made by a plain stdlib logger has no log_type: it is text."""
    rec = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    assert LogTypeFilter(types=["text"]).filter(rec)
    assert not LogTypeFilter(types=["metric"]).filter(rec)


def test_log_type_filter_rejects_unknown_type_with_suggestion() -> None:
    """A misspelt type names the choices and suggests the closest one."""
    with pytest.raises(ConfigError) as e:
        LogTypeFilter(types=["metrics"])
    assert str(e.value) == (
        "key types: expected log types among text, metric, audit, found 'metrics'; "
        "did you mean 'metric'?"
    )


def test_log_type_filter_requires_types_or_exclude() -> None:
    """Neither option given is a configuration mistake, not a filter that passes all."""
    with pytest.raises(ConfigError, match="expected 'types'"):
        LogTypeFilter()


# --- LevelRangeFilter ---------------------------------------------------------------------------


def test_level_range_filter_is_inclusive_and_takes_names() -> None:
    """min_level and max_level are both inclusive and may be names in any case."""
    f = LevelRangeFilter(min_level="info", max_level="WARNING")
    assert [f.filter(_record(level=lv)) for lv in (10, 20, 30, 40)] == [
        False, True, True, False,
    ]


def test_level_range_filter_defaults_pass_everything() -> None:
    """Without options every level passes."""
    f = LevelRangeFilter()
    assert all(f.filter(_record(level=lv)) for lv in (1, 10, 50))


def test_level_range_filter_rejects_inverted_range() -> None:
    """min_level above max_level is refused with both levels named."""
    with pytest.raises(ConfigError) as e:
        LevelRangeFilter(min_level="ERROR", max_level="INFO")
    assert str(e.value) == (
        "key min_level: expected min_level <= max_level, found min_level ERROR above "
        "max_level INFO; swap them or lower min_level"
    )


def test_level_range_filter_suggests_level_names() -> None:
    """A misspelt level name gets a did-you-mean."""
    with pytest.raises(ConfigError) as e:
        LevelRangeFilter(max_level="WARNIGN")
    assert str(e.value) == (
        "key max_level: expected a level name (DEBUG, INFO, WARNING, ERROR, CRITICAL), "
        "found 'WARNIGN'; did you mean 'WARNING'?"
    )


# --- TagFilter ----------------------------------------------------------------------------------


def test_tag_filter_passes_records_with_any_tag() -> None:
    """A record passes when its tags include any of the filter's tags."""
    f = TagFilter(tags=["trading", "risk"])
    assert f.filter(_record(tags=["mexc", "trading"]))
    assert f.filter(_record(tags=["risk"]))
    assert not f.filter(_record(tags=["mexc"]))
    assert not f.filter(_record(tags=[]))


def test_tag_filter_exclude_inverts() -> None:
    """exclude=True drops the tagged records and passes the others."""
    f = TagFilter(tags="trading", exclude=True)
    assert not f.filter(_record(tags=["trading"]))
    assert f.filter(_record(tags=["mexc"]))


def test_tag_filter_with_strategy_logger(logger_name: str) -> None:
    """Tags of a factory strategy logger reach the filter through the real pipeline."""
    cap = CaptureHandler()
    cap.addFilter(TagFilter(tags=["trading"]))
    hftlogging.configure({
        "handlers": {"q": {"class": "hftlogging.handlers.QueueHandler", "handlers": [cap]}},
        "loggers": {logger_name: {"handlers": ["q"], "level": "INFO", "propagate": False},
                    f"strategy.{logger_name}": {"handlers": ["q"], "level": "INFO",
                                                "propagate": False}},
    })
    hftlogging.get_logger(logger_name).info("untagged")
    hftlogging.get_strategy_logger(logger_name, ["mexc", "trading"]).info("tagged")
    hftlogging.shutdown()
    assert cap.messages() == ["tagged"]


def test_tag_filter_rejects_empty_list() -> None:
    """An empty tag list would never pass anything: refused."""
    with pytest.raises(ConfigError, match="expected at least one tag"):
        TagFilter(tags=[])


def test_filters_declare_no_caller_info() -> None:
    """Every hftlogging filter says it does not read caller fields."""
    for cls in (LogTypeFilter, LevelRangeFilter, TagFilter, RedactFilter):
        assert cls.uses_caller_info is False


def test_filters_do_not_turn_on_caller_capture(logger_name: str) -> None:
    """A queue whose handlers only have hftlogging filters does not capture caller info;
    an unknown filter makes it capture (the filter might read funcName)."""
    def build(extra: logging.Filter | None) -> bool:
        cap = CaptureHandler()
        for f in (LogTypeFilter(types=["text"]), LevelRangeFilter(), TagFilter(tags=["x"]),
                  RedactFilter()):
            cap.addFilter(f)
        if extra is not None:
            cap.addFilter(extra)
        hftlogging.configure({
            "handlers": {"q": {"class": "hftlogging.handlers.QueueHandler",
                               "handlers": [cap]}},
            "loggers": {logger_name: {"handlers": ["q"], "propagate": False}},
        })
        needs = logging._handlers["q"].needs_caller  # type: ignore[attr-defined]
        hftlogging.shutdown()
        return bool(needs)

    class Custom(logging.Filter):
        pass

    assert build(None) is False
    assert build(Custom()) is True


# --- RedactFilter -------------------------------------------------------------------------------


def test_redact_masks_context_and_attributes_without_touching_callers_dicts() -> None:
    """Secrets are masked in a copy of the context and in the record attributes; the
    dicts the record was built from are unchanged."""
    nested = {"password": "p", "keep": 1}
    ctx = {"api_key": "K", "order_id": 7, "nested": nested}
    rec = _record(context=ctx)
    assert RedactFilter().filter(rec) is True
    assert rec.context == {"api_key": "***", "order_id": 7,  # type: ignore[attr-defined]
                           "nested": {"password": "***", "keep": 1}}
    assert rec.api_key == "***"  # type: ignore[attr-defined]
    assert rec.nested == {"password": "***", "keep": 1}  # type: ignore[attr-defined]
    assert ctx == {"api_key": "K", "order_id": 7, "nested": {"password": "p", "keep": 1}}
    assert nested == {"password": "p", "keep": 1}


def test_redact_keys_are_case_insensitive_and_substring_aware() -> None:
    """API-Key, apiKey, exchange_api_key, X-Auth-Token, client_secret are all secret;
    ordinary keys are not."""
    f = RedactFilter()
    for key in ("API-Key", "apiKey", "exchange_api_key", "X-Auth-Token", "client_secret",
                "Authorization", "PRIVATE_KEY", "passwd", "signature"):
        assert f.is_secret(key), key
    for key in ("order_id", "symbol", "price", "side", "exchange"):
        assert not f.is_secret(key), key


def test_redact_exact_match_mode() -> None:
    """match='exact' masks whole key names only."""
    f = RedactFilter(keys=["token"], match="exact")
    assert f.is_secret("Token")
    assert not f.is_secret("access_token")


def test_redact_extra_keys_mask_and_default_list() -> None:
    """extra_keys extend the defaults; mask is configurable; the default list is the
    documented one."""
    assert set(DEFAULT_REDACT_KEYS) == {
        "api_key", "apikey", "secret", "password", "passwd", "token", "authorization",
        "signature", "private_key",
    }
    rec = _record(context={"account_pin": "1234", "password": "x"})
    RedactFilter(extra_keys=["pin"], mask="[redacted]").filter(rec)
    assert rec.context == {"account_pin": "[redacted]",  # type: ignore[attr-defined]
                           "password": "[redacted]"}


def test_redact_lists_metric_tags_mapping_args_and_extra_attributes() -> None:
    """Lists of dicts, metric tags, mapping args and extra= attributes set by a plain
    stdlib logger are all masked."""
    rec = _record(log_type="metric", context={"accounts": [{"token": "T"}, {"id": 1}]})
    rec.metric_tags = {"api_key": "K", "exchange": "mexc"}  # type: ignore[attr-defined]
    RedactFilter().filter(rec)
    assert rec.context["accounts"] == [{"token": "***"}, {"id": 1}]  # type: ignore[attr-defined]
    assert rec.metric_tags == {"api_key": "***", "exchange": "mexc"}  # type: ignore[attr-defined]

    plain = logging.LogRecord("x", logging.INFO, __file__, 1, "login %(user)s %(password)s",
                              ({"user": "u", "password": "pw"},), None)
    plain.__dict__.update({"secret": "S", "headers": {"Authorization": "Bearer x"}})
    RedactFilter().filter(plain)
    assert plain.getMessage() == "login u ***"
    assert plain.secret == "***"  # type: ignore[attr-defined]
    assert plain.headers == {"Authorization": "***"}  # type: ignore[attr-defined]


def test_redact_leaves_a_clean_record_untouched() -> None:
    """Without secrets the context object itself is kept (no copy on the hot listener path)."""
    ctx = {"order_id": 1, "nested": {"a": [1, 2]}}
    rec = _record(context=ctx)
    RedactFilter().filter(rec)
    assert rec.context is ctx  # type: ignore[attr-defined]


def test_redact_rejects_bad_options() -> None:
    """Invalid options are ConfigErrors naming the option."""
    with pytest.raises(ConfigError, match="key match: expected 'substring' or 'exact'"):
        RedactFilter(match="fuzzy")
    with pytest.raises(ConfigError, match="key keys: expected at least one key name"):
        RedactFilter(keys=[])
    with pytest.raises(ConfigError, match="key max_depth"):
        RedactFilter(max_depth=0)


def test_redact_through_the_fast_path_reaches_no_file(tmp_path: Any, logger_name: str) -> None:
    """A secret passed as a field, in a nested dict, with extra= and in an audit event
    never reaches the file behind the queue; the caller's dict is unchanged."""
    path = tmp_path / "out.log"
    hftlogging.configure({
        "formatters": {"f": {"()": "hftlogging.formatters.ContextFormatter"}},
        "filters": {"redact": {"()": "hftlogging.filters.RedactFilter"}},
        "handlers": {
            "q": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["file"]},
            "file": {"class": "logging.FileHandler", "filename": str(path),
                     "formatter": "f", "filters": ["redact"]},
        },
        "loggers": {logger_name: {"handlers": ["q"], "level": "INFO", "propagate": False}},
    })
    log = hftlogging.get_logger(logger_name)
    creds = {"api_key": "SECRET-1", "user": "bob"}
    log.info("login", credentials=creds, token="SECRET-2")
    log.info("stdlib style", extra={"password": "SECRET-3"})
    log.audit("order_placed", order_id=1, signature="SECRET-4")
    hftlogging.shutdown()
    text = path.read_text()
    assert "SECRET" not in text
    assert text.count("***") == 4
    assert creds == {"api_key": "SECRET-1", "user": "bob"}


_KEYS = st.sampled_from(["api_key", "token", "order_id", "Password", "x", "nested", "sig"])
_LEAF = st.one_of(st.integers(), st.text(max_size=5), st.none())
_TREE = st.recursive(
    _LEAF,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(_KEYS, inner, max_size=4)),
    max_leaves=20,
)


def _secret_values(value: Any, f: RedactFilter, depth: int = 0) -> list[Any]:
    """Values found under secret keys that are not the mask."""
    out: list[Any] = []
    if depth >= f.max_depth:
        return out
    if isinstance(value, dict):
        for k, v in value.items():
            if f.is_secret(k) and v != f.mask:
                out.append(v)
            else:
                out += _secret_values(v, f, depth + 1)
    elif isinstance(value, (list, tuple)):
        for v in value:
            out += _secret_values(v, f, depth + 1)
    return out


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_KEYS, _TREE, max_size=5))
def test_redact_property_no_secret_survives_and_input_unchanged(ctx: dict[str, Any]) -> None:
    """For any nesting of dicts and lists: after the filter no value under a secret key
    remains, and the dict the record was built from is unchanged."""
    before = copy.deepcopy(ctx)
    rec = _record(context=ctx)
    f = RedactFilter()
    f.filter(rec)
    assert _secret_values(rec.context, f) == []  # type: ignore[attr-defined]
    assert ctx == before
