"""Structured logs: one JSON object per line on stderr, for the app and for uvicorn.

Request lines come from `app.api.middleware` (logger "originmark.access"); uvicorn's own
access log is switched off so each request is logged exactly once. Fields passed with
`extra={"fields": {...}}` are merged into the object. Nothing here ever logs a header,
a body or an API key: callers pass only the fields they mean to log.
"""

from __future__ import annotations

import datetime
import json
import logging
import logging.config
from typing import Any

ACCESS_LOGGER = "originmark.access"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            payload.update(fields)
        request_id = getattr(record, "request_id", None)
        if request_id is not None:
            payload.setdefault("request_id", request_id)
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        # ensure_ascii: control characters and odd code points in any value come out escaped.
        return json.dumps(payload, ensure_ascii=True, default=str)


def log_config(level: str) -> dict[str, Any]:
    """A logging.config.dictConfig for the server (also handed to uvicorn as its log_config)."""
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "loggers": {
            "originmark": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
        "root": {"handlers": ["stderr"], "level": "WARNING"},
    }


def configure_logging(level: str) -> None:
    logging.config.dictConfig(log_config(level))
