"""Timestamp helpers; Supabase returns timestamptz in several ISO 8601 shapes."""

from datetime import datetime, timezone

from dateutil import parser as date_parser


def format_timestamp(value):
    """Normalise a timestamp string to UTC ISO 8601 with a trailing Z."""
    if not value:
        return None
    parsed = date_parser.isoparse(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def utc_now_iso():
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
