"""What a connection's schedule is, parsed and checked from what a person typed (API or page).

Two kinds, as django-celery-beat stores them:
- `interval`: every N seconds (N a whole number, at least SCHEDULE_MIN_INTERVAL_SECONDS);
- `cron`: five fields, `minute hour day-of-month month day-of-week`, in a time zone (UTC unless
  given), or one of the shorthands `@hourly @daily @weekly @monthly @yearly`.

Refused with a message that says why (InvalidInput, a 400 in the API): a six-field cron (seconds or
years: `* * * * * *`), a field out of its range or not a cron field at all, a date that never comes
(`0 0 31 2 *`), an interval below the floor or not a number, an unknown time zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from autonomos.core.errors import InvalidInput

KINDS = ("interval", "cron")
CRON_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
CRON_FIELD_LABELS = {"minute": "minute (0-59)", "hour": "hour (0-23)", "day_of_month": "day of month (1-31)",
                     "month_of_year": "month (1-12 or jan-dec)", "day_of_week": "day of week (0-6 or sun-sat)"}
CRON_SHORTHANDS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
# Longer than a year is not a schedule anyone means (and keeps the number far from any overflow).
MAX_INTERVAL_SECONDS = 366 * 24 * 3600
MAX_CRON_LENGTH = 200


@dataclass(frozen=True)
class ScheduleSpec:
    kind: str  # "interval" or "cron"
    every_seconds: int | None = None
    cron: str = ""  # the five fields, normalized to single spaces
    timezone: str = "UTC"
    enabled: bool = True

    @property
    def cron_fields(self) -> dict[str, str]:
        return dict(zip(CRON_FIELDS, self.cron.split(), strict=True)) if self.cron else {}

    def describe(self) -> str:
        """A short human sentence: "every 5 minutes", "cron 0 * * * * (UTC)"."""
        if self.kind == "interval":
            return f"every {duration_text(self.every_seconds or 0)}"
        return f"cron {self.cron} ({self.timezone})"

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "every_seconds": self.every_seconds, "cron": self.cron or None,
                "timezone": self.timezone, "enabled": self.enabled, "description": self.describe()}


def duration_text(seconds: int | float) -> str:
    """12 → "12 seconds", 300 → "5 minutes", 5400 → "90 minutes", 7200 → "2 hours", 86400 → "1 day"."""
    seconds = int(seconds)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def _refuse(field: str, message: str) -> InvalidInput:
    return InvalidInput(message, details={field: message})


def _interval(value: Any) -> int:
    floor = settings.SCHEDULE_MIN_INTERVAL_SECONDS
    if isinstance(value, bool) or value is None or value == "":
        raise _refuse("every_seconds", "An interval schedule needs every_seconds: a whole number of seconds.")
    if isinstance(value, str):
        text = value.strip()
        if not (text.isascii() and text.isdigit()):
            raise _refuse("every_seconds", f"every_seconds must be a whole number of seconds, not {value[:40]!r}.")
        if len(text) > 12:
            raise _refuse("every_seconds", f"every_seconds must be at most {MAX_INTERVAL_SECONDS} (366 days).")
        value = int(text)
    if isinstance(value, float):
        if not value.is_integer():
            raise _refuse("every_seconds", f"every_seconds must be a whole number of seconds (at least {floor}), "
                                           f"not {value}.")
        value = int(value)
    if not isinstance(value, int):
        raise _refuse("every_seconds", "every_seconds must be a whole number of seconds.")
    if value < floor:
        raise _refuse("every_seconds", f"every_seconds must be at least {floor} (the shortest interval allowed); "
                                       f"got {value}.")
    if value > MAX_INTERVAL_SECONDS:
        raise _refuse("every_seconds", f"every_seconds must be at most {MAX_INTERVAL_SECONDS} (366 days); got {value}.")
    return value


def _zone(value: Any) -> str:
    name = "UTC" if value in (None, "") else value
    if not isinstance(name, str) or len(name) > 64:
        raise _refuse("timezone", "timezone must be an IANA time zone name such as UTC or Europe/Paris.")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        message = f"Unknown time zone {name!r}: use an IANA name such as UTC or Europe/Paris."
        raise _refuse("timezone", message) from None
    return name


def cron_parse(value: Any, zone: str = "UTC") -> str:
    """The five fields of a cron expression, normalized ("*/5  * * * *" → "*/5 * * * *"), or
    InvalidInput saying what is wrong."""
    if not isinstance(value, str) or not value.strip():
        raise _refuse("cron", "A cron schedule needs cron: five fields, 'minute hour day-of-month month day-of-week' "
                              "(e.g. '*/15 * * * *').")
    if len(value) > MAX_CRON_LENGTH:
        raise _refuse("cron", f"The cron expression is longer than {MAX_CRON_LENGTH} characters.")
    text = value.strip()
    text = CRON_SHORTHANDS.get(text.lower(), text)
    if text.startswith("@"):
        raise _refuse("cron", f"Unknown cron shorthand {text!r}; known: {', '.join(sorted(CRON_SHORTHANDS))}.")
    parts = text.split()
    if len(parts) == 6:
        raise _refuse("cron", f"{text!r} has six fields; a cron schedule has five (minute hour day-of-month month "
                              "day-of-week): seconds and years are not supported. For runs more often than once a "
                              "minute, use an interval schedule (every_seconds).")
    if len(parts) != 5:
        raise _refuse("cron", f"{text!r} has {len(parts)} field{'s' if len(parts) != 1 else ''}; a cron schedule has "
                              "five: minute hour day-of-month month day-of-week (e.g. '0 6 * * 1-5').")
    from django_celery_beat import validators

    checks = (validators.minute_validator, validators.hour_validator, validators.day_of_month_validator,
              validators.month_of_year_validator, validators.day_of_week_validator)
    for name, part, check in zip(CRON_FIELDS, parts, checks, strict=True):
        try:
            check(part)
        except (ValidationError, ValueError, TypeError, KeyError, IndexError) as exc:
            why = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            raise _refuse("cron", f"The {CRON_FIELD_LABELS[name]} field {part!r} of {text!r} is not valid: {why}.") \
                from None
    normalized = " ".join(parts)
    try:
        schedule = celery_crontab(normalized, zone)
        schedule.remaining_estimate(timezone.now())
    except RuntimeError:
        raise _refuse("cron", f"{normalized!r} names a date that never comes (like 31 February).") from None
    except Exception as exc:  # noqa: BLE001 - celery's parser has many error types; all mean "not valid"
        raise _refuse("cron", f"{normalized!r} is not a valid cron expression: {exc}.") from None
    return normalized


def celery_crontab(cron: str, zone: str = "UTC"):
    """Celery's crontab for five cron fields (in `zone`, as beat's TzAwareCrontab)."""
    from django_celery_beat.tzcrontab import TzAwareCrontab

    fields = dict(zip(CRON_FIELDS, cron.split(), strict=True))
    return TzAwareCrontab(tz=ZoneInfo(zone), **fields)


def schedule_spec_from(data: Any) -> ScheduleSpec:
    """Parse a schedule from a request body: `{"kind": "interval", "every_seconds": 300}` or
    `{"kind": "cron", "cron": "*/15 * * * *", "timezone": "Europe/Paris"}`, each with an optional
    `"enabled": false` (kept but paused). Raises InvalidInput with the field and the reason."""
    if not isinstance(data, dict):
        raise InvalidInput('The schedule must be a JSON object such as {"kind": "interval", "every_seconds": 300}.')
    known = {"kind", "every_seconds", "cron", "timezone", "enabled"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InvalidInput(f"Unknown schedule field(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}.",
                           details={"unknown": unknown})
    kind = data.get("kind")
    if kind is None:
        kind = "cron" if data.get("cron") not in (None, "") else "interval" if "every_seconds" in data else None
    if kind not in KINDS:
        raise _refuse("kind", "kind must be 'interval' (every_seconds) or 'cron' (five cron fields).")
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        raise _refuse("enabled", "enabled must be true or false.")
    if kind == "interval":
        if data.get("cron") not in (None, ""):
            raise _refuse("cron", "An interval schedule takes every_seconds, not cron.")
        return ScheduleSpec(kind="interval", every_seconds=_interval(data.get("every_seconds")), enabled=enabled)
    if data.get("every_seconds") not in (None, ""):
        raise _refuse("every_seconds", "A cron schedule takes cron, not every_seconds.")
    zone = _zone(data.get("timezone"))
    return ScheduleSpec(kind="cron", cron=cron_parse(data.get("cron"), zone), timezone=zone, enabled=enabled)


def interval_of(spec: ScheduleSpec) -> timedelta | None:
    return timedelta(seconds=spec.every_seconds) if spec.kind == "interval" and spec.every_seconds else None
