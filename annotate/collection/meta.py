"""What a score record's `meta` says about its document: the outlet and the date.

The outlet is the first of `outlet`, `source`, `domain`, `site`, `publisher` (a `source` that
is a file path, as `annotate score` records for .txt input, is not one), else the host of
`url`; the date the first ISO date of `date`, `published`, ... (`DATE_FIELDS`).
"""

from __future__ import annotations

import datetime as _dt
from typing import Any
from urllib.parse import urlsplit

OUTLET_FIELDS = ("outlet", "source", "domain", "site", "publisher", "url")
DATE_FIELDS = (
    "date",
    "published",
    "published_at",
    "publish_date",
    "pubdate",
    "datetime",
    "timestamp",
    "created_at",
    "time",
)
# `source` is also where `annotate score` keeps the input file's path: not an outlet
_FILE_SUFFIXES = (".txt", ".jsonl", ".json", ".csv", ".parquet")


def outlet_of(meta: dict[str, Any] | None) -> tuple[str | None, str | None]:
    """(outlet, the meta field it came from); (None, None) when meta names none."""
    if not meta:
        return None, None
    for key in OUTLET_FIELDS:
        value = meta.get(key)
        if not isinstance(value, str) or not value.strip():
            continue
        value = value.strip()
        if key == "url":
            host = urlsplit(value).hostname
            if not host:
                continue
            return host.removeprefix("www."), "url (host)"
        if key == "source" and ("/" in value or value.lower().endswith(_FILE_SUFFIXES)):
            continue  # a file path, as `annotate score` records for .txt input
        return value, key
    return None, None


def date_of(meta: dict[str, Any] | None) -> tuple[_dt.date | None, str | None, bool]:
    """(date, field, unreadable): the first date field of meta read as an ISO date."""
    if not meta:
        return None, None, False
    for key in DATE_FIELDS:
        value = meta.get(key)
        if value is None or value == "":
            continue
        return _parse_date(value), key, _parse_date(value) is None
    return None, None, False


def _parse_date(value: Any) -> _dt.date | None:
    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, _dt.date):
        return value
    if not isinstance(value, str):
        return None
    value = value.strip()
    # the date as written (an ISO datetime's first ten characters; no time-zone shift)
    day = _DAYS.get(value[:10])
    if day is None:
        try:
            day = _dt.date.fromisoformat(value[:10])
        except ValueError:
            return None
        if len(_DAYS) < 100_000:
            _DAYS[value[:10]] = day
    if len(value) > 10 and value[10] not in "T ":
        return None
    return day


_DAYS: dict[str, _dt.date] = {}  # parsed days, for speed (a few thousand in practice)


def iso_date(ordinal: int) -> str:
    return _dt.date.fromordinal(ordinal).isoformat()
