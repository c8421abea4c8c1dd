"""Audit before/after values in the form every supported database gives them back.

A row's hash is computed before the insert, over these values; `verify_audit` recomputes it over
what it reads back. The two only agree if the values survive the round trip unchanged:

- SQLite keeps the JSON text as written.
- PostgreSQL's jsonb keeps numbers as `numeric`: it has no negative zero (-0.0 comes back as 0.0),
  and a float that JSON writes in exponent notation (1e+16, 2.5e+17) comes back as the integer it
  spells. It refuses NUL and unpaired surrogates in text, keys included. Key order does not matter:
  the hash sorts keys.

So the values are put into that shared form before they are hashed and stored. Every value that
already round-trips on both databases is left exactly as it was, so existing rows hash as before.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any

# The character Unicode sets aside for "a character that could not be represented". Replacing
# rather than refusing keeps auditable actions working whatever text an attacker sends in (a
# failed log-in's claimed identity, an export's filters), the same way on every database.
_UNSTORABLE_CHARACTER = re.compile("[\x00\ud800-\udfff]")
_REPLACEMENT = "\ufffd"


def stored_json(values: dict[str, Any]) -> dict[str, Any]:
    """`values` as the JSON column will give them back, identical on PostgreSQL and SQLite."""
    plain: dict[str, Any] = json.loads(json.dumps(values, default=str, sort_keys=True))
    return {_text(key): _canonical(value) for key, value in plain.items()}


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {_text(key): _canonical(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, float):
        return _number(value)
    return value


def _text(value: str) -> str:
    # Surrogate pairs were joined by the JSON round trip; any surrogate left is unpaired.
    return _UNSTORABLE_CHARACTER.sub(_REPLACEMENT, value)


def _number(value: float) -> float | int:
    if not math.isfinite(value):
        # JSON has no spelling for it (both databases refuse the insert), and recording it as text
        # would change what the value is.
        raise ValueError(f"{value!r} cannot be recorded in the audit trail: JSON has no such number.")
    if value == 0:
        return 0.0  # numeric has no negative zero
    written = repr(value)  # the text json.dumps writes
    if "e+" in written:
        # Python writes floats from 1e16 up as at most 17 digits with an exponent of 16 or more, so
        # the number is whole and `numeric` gives it back without a decimal point: as an int.
        return int(Decimal(written))
    return value
