"""Typed fields: the one check of a value against the type it is declared with.

A configuration key, a scenario step's field and a request's field are all checked here, so
that "an integer", "a list of names" or "not negative" mean the same wherever a user writes
one. The caller names the key and where it came from; this module says only what is wrong
with the value (``FieldError``). It must not import anything else of the testbed.
"""

from __future__ import annotations

import math
import typing
from typing import Any

_NAMES = {
    float: "a number",
    int: "an integer",
    str: "a string",
    bool: "true or false",
    list: "a list",
    dict: "a table",
}


class FieldError(ValueError):
    """What is wrong with one value, phrased to follow its key: "must be an integer, ..."."""


def type_name(tp: Any) -> str:
    return _NAMES.get(tp, str(tp))


def check(value: Any, tp: Any, *, text: bool = False, bounded: bool = False) -> Any:
    """``value`` as type ``tp`` (str, int, float, bool, dict, list, or ``list[str]``: a list
    of names), or ``FieldError``. An int is a number where a float is declared (and becomes
    one); a bool is never a number, though Python says so. ``text``: the value may come as a
    command-line string, converted here ("true", "3", "a,b"). ``bounded``: a number must be
    finite and not negative (a duration, a count)."""
    if tp is list or typing.get_origin(tp) is list:
        if text and isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if tp is list:
            if not isinstance(value, list):
                raise FieldError(f"must be a list, got {value!r}")
            return value
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise FieldError(f"must be a list of names, got {value!r}")  # list[str]
        return list(value)
    if text and isinstance(value, str) and tp is not str:
        if tp is bool and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        elif tp in (int, float):
            try:
                value = tp(value)
            except ValueError:
                raise FieldError(f"must be {type_name(tp)}, got '{value}'") from None
    if type(value) is not tp:  # the exact type passes at once: a request checks every field
        if tp is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif not isinstance(value, tp) or (tp in (int, float) and isinstance(value, bool)):
            raise FieldError(f"must be {type_name(tp)}, got {value!r}")
    if bounded and tp in (int, float):
        if not math.isfinite(value):  # nan/inf would unbound a wait
            raise FieldError(f"must be a finite number, got {value}")
        if value < 0:
            raise FieldError(f"must not be negative, got {value}")
    return value
