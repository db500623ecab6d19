"""Parse one landing value into its canonical text form, or say why it can't be.

Reasons never quote the value: a value may be a learner's birth date or
license number, and reasons end up in logs and reports.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from cme.contract import Column

_TRUE = {"y", "yes", "true", "1"}
_FALSE = {"n", "no", "false", "0"}
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_INT = re.compile(r"^[+-]?[0-9]+$")
_DECIMAL = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$")
_STATE = re.compile(r"^[A-Za-z]{2}$")
# The ISO 8601 forms read (the same pattern is the SQL validator's, cme.validate):
# date, `T` or space, hh[:mm[:ss[.f]]] or hh[mm[ss[.f]]], then Z or ±hh[[:]mm[[:]ss]].
TIMESTAMP_PATTERN = (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}"
                     r"(:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)?|[0-9]{2}([0-9]{2}([.,][0-9]+)?)?)?"
                     r"(Z|[+-][0-9]{2}(:?[0-9]{2}(:?[0-9]{2})?)?)?$")
_TIMESTAMP = re.compile(TIMESTAMP_PATTERN)
INT_MIN, INT_MAX = -2**31, 2**31 - 1  # the warehouse's INTEGER
DECIMAL_LIMIT = Decimal(10) ** 14    # DECIMAL(18,4): under 10^14
TIMESTAMP_REASON = "not an ISO 8601 timestamp (YYYY-MM-DDThh:mm[:ss][±hh:mm])"
TIMESTAMP_RANGE_REASON = "timestamp out of range (in UTC the year must be 1 to 9999)"
INT_RANGE_REASON = f"out of range for a whole number ({INT_MIN} to {INT_MAX})"
DECIMAL_RANGE_REASON = "out of range for a decimal (at most 14 digits before the point)"


class BadValue(ValueError):
    """The value does not parse; str() is the reason, without the value."""


def parse_bool(text: str) -> str:
    low = text.lower()
    if low in _TRUE:
        return "true"
    if low in _FALSE:
        return "false"
    raise BadValue("not a boolean (Y/N, true/false, 1/0)")


def parse_date(text: str) -> str:
    if not _ISO_DATE.match(text):
        raise BadValue("not an ISO date (YYYY-MM-DD)")
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise BadValue("not a calendar date") from None


def parse_timestamp(text: str, tz: ZoneInfo) -> str:
    """ISO 8601; no offset means the provider's time zone. Returned in UTC."""
    if len(text) < 16 or not _TIMESTAMP.match(text):
        raise BadValue(TIMESTAMP_REASON)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise BadValue(TIMESTAMP_REASON) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    try:  # year 9999 late in the day, or year 1 early, leaves datetime's range in UTC
        return value.astimezone(timezone.utc).isoformat()
    except OverflowError:
        raise BadValue(TIMESTAMP_RANGE_REASON) from None


def parse_int(text: str) -> int:
    if not _INT.match(text):
        raise BadValue("not a whole number")
    return int(text)


def parse_decimal(text: str) -> Decimal:
    if not _DECIMAL.match(text):
        raise BadValue("not a decimal number")
    try:
        return Decimal(text)
    except InvalidOperation:
        raise BadValue("not a decimal number") from None


def _check_range(column: Column, number) -> None:
    if column.minimum is not None:
        if number < column.minimum or (column.exclusive_minimum and number == column.minimum):
            op = ">" if column.exclusive_minimum else ">="
            raise BadValue(f"must be {op} {column.minimum:g}")
    if column.maximum is not None and number > column.maximum:
        raise BadValue(f"must be <= {column.maximum:g}")


def parse_value(column: Column, text: str, tz: ZoneInfo) -> str | None:
    """Canonical text for `text` (already stripped), None for blank; BadValue otherwise."""
    if text == "":
        if column.required:
            raise BadValue("required value is blank")
        return None
    kind = column.type
    if kind == "text":
        return text
    if kind == "bool":
        return parse_bool(text)
    if kind == "date":
        return parse_date(text)
    if kind == "timestamp":
        return parse_timestamp(text, tz)
    if kind == "int":
        number = parse_int(text)
        _check_range(column, number)
        if not INT_MIN <= number <= INT_MAX:
            raise BadValue(INT_RANGE_REASON)
        return str(number)
    if kind == "decimal":
        number = parse_decimal(text)
        _check_range(column, number)
        if number.as_tuple().exponent < -4:
            raise BadValue("more than 4 decimal places")
        if abs(number) >= DECIMAL_LIMIT:
            raise BadValue(DECIMAL_RANGE_REASON)
        return str(number)
    if kind == "state":
        if not _STATE.match(text):
            raise BadValue("not a 2-letter state code")
        return text.upper()
    if kind == "enum":
        # Case-insensitive match, stored in the contract's spelling.
        for choice in column.choices:
            if choice.lower() == text.lower():
                return choice
        raise BadValue(f"not one of {', '.join(column.choices)}")
    raise AssertionError(f"unknown column type {kind}")
