"""A concise console logger for Dagster runs started from the `cdp` CLI."""

from __future__ import annotations

import logging
import sys
import time

from dagster import Field, logger

_SHOWN_EVENTS = {
    "STEP_START": "started",
    "STEP_SUCCESS": "done",
    "STEP_FAILURE": "FAILED",
    "ASSET_MATERIALIZATION": None,
    "ASSET_CHECK_EVALUATION": None,
}


class _ProgressFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        meta = getattr(record, "dagster_meta", {}) or {}
        step = meta.get("step_key") or "run"
        message = meta.get("orig_message") or record.getMessage()
        event = meta.get("dagster_event")
        if event is not None:
            label = _SHOWN_EVENTS.get(event.event_type_value)
            if event.event_type_value == "ASSET_MATERIALIZATION":
                message = "materialised " + "/".join(event.asset_key.path)
            elif event.event_type_value == "ASSET_CHECK_EVALUATION":
                data = event.event_specific_data
                state = "passed" if data.passed else "FAILED"
                message = f"check {data.check_name} on {'/'.join(data.asset_key.path)} {state}"
            elif label:
                message = label
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        return f"{stamp} {step:<24} {message.splitlines()[0] if message else ''}"


class _ProgressFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        meta = getattr(record, "dagster_meta", {}) or {}
        event = meta.get("dagster_event")
        if event is None:
            return record.levelno >= logging.INFO
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            return not event.event_specific_data.passed or record.levelno >= logging.WARNING
        return event.event_type_value in _SHOWN_EVENTS and event.event_type_value != (
            "ASSET_MATERIALIZATION"
        )


@logger(
    config_schema={"log_level": Field(str, is_required=False, default_value="INFO")},
    description="One line per step start/finish, loader progress and failed checks.",
)
def cdp_console_logger(init_context):
    log = logging.getLogger("cdp.run")
    log.setLevel(init_context.logger_config["log_level"])
    log.propagate = False
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_ProgressFormatter())
        handler.addFilter(_ProgressFilter())
        log.addHandler(handler)
    return log
