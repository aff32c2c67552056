"""Calling the fixture API with the fields of a JSON object, each checked against its parameter's type.

The control API hands JSON bodies to the same methods tests call (``POST users`` is
``reg.add_user(**body)``). Python would take ``"packages": "abc"`` as three one-letter packages,
``"bypass_2fa": "no"`` as true and ``"email": ["x"]`` as an address. Here each field is checked
against the annotation first, so a bad one is a 400 naming the field and the type it needs, and
nothing has changed yet.
"""

from __future__ import annotations

import collections.abc
import inspect
import math
import types
import typing
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any, NamedTuple, TypeVar

from pytest_npm_registry.domain.errors import UsageError

T = TypeVar("T")

_LISTS = (
    list,
    tuple,
    collections.abc.Iterable,
    collections.abc.Sequence,
    collections.abc.Collection,
)
_MAPPINGS = (dict, collections.abc.Mapping)
#: Fields whose value an error never repeats, whatever its type.
SECRET_FIELDS = frozenset({"password", "key", "totp_secret", "secret", "token", "otp"})


class _Parameters(NamedTuple):
    accepted: dict[str, inspect.Parameter]
    types: dict[str, Any]
    open_ended: bool  # takes **kwargs: any further field passes through (e.g. package.json fields)
    reserved: frozenset[str]  # names a field may not have even then (``self``, the ``**`` name)


def call(function: Callable[..., T], data: Mapping[str, Any], *, where: str, **given: Any) -> T:
    """``function(**given, **data)`` once every field of ``data`` has the type its parameter
    declares. ``given``: arguments the endpoint supplies itself (from the path). ``where`` starts
    every error (``"POST users"``)."""
    parameters = _parameters(function)
    arguments = dict(data)
    for key, value in data.items():
        unknown = key not in parameters.accepted and (not parameters.open_ended or key in parameters.reserved)
        if key in given or unknown:
            known = sorted(set(parameters.accepted) - set(given))
            raise UsageError(f"{where}: unknown field {key!r}; known: {', '.join(known)}")
        if key in parameters.types:
            check(where, key, value, parameters.types[key])
            if isinstance(value, list) and any(typing.get_origin(o) is tuple for o in _options(parameters.types[key])):
                arguments[key] = tuple(value)  # JSON has lists only; the parameter wants a tuple
    missing = [
        name
        for name, parameter in parameters.accepted.items()
        if parameter.default is inspect.Parameter.empty and name not in data and name not in given
    ]
    if missing:
        raise UsageError(f"{where}: needs {', '.join(repr(name) for name in missing)}")
    return function(**given, **arguments)


def check(where: str, field: str, value: Any, expected: Any) -> None:
    """Raise a ``UsageError`` naming ``field`` unless the JSON ``value`` fits the type ``expected``."""
    if not _fits(value, expected):
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        if field in SECRET_FIELDS:  # a password sent as a number is still a password
            kind = {bool: "a boolean", int: "a number", float: "a number", list: "a list", dict: "an object"}
            shown = f"{kind.get(type(value), 'a string')} (not shown: {field} is a secret)"
        raise UsageError(f"{where}: {field} must be {_describe(expected)}, not {shown}")


def _parameters(function: Callable[..., Any]) -> _Parameters:
    signature = inspect.signature(function)
    hints = typing.get_type_hints(function)
    accepted = {
        name: parameter
        for name, parameter in signature.parameters.items()
        if parameter.kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
    }
    open_ended = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())
    unbound = inspect.signature(getattr(function, "__func__", function))  # with self, for bound methods
    reserved = frozenset(unbound.parameters) - set(accepted)
    return _Parameters(accepted, {name: hints[name] for name in accepted if name in hints}, open_ended, reserved)


def _options(expected: Any) -> tuple[Any, ...]:
    if typing.get_origin(expected) in (typing.Union, types.UnionType):
        return typing.get_args(expected)
    return (expected,)


def _fits(value: Any, expected: Any) -> bool:
    if len(options := _options(expected)) > 1:
        if isinstance(value, str) and str in options and any(_is_enum(option) for option in options):
            # "TwoFactorMode | str": the str is there so Python callers may write "auth-only"; a
            # string must still be one of the enum's values.
            return any(_fits(value, option) for option in options if _is_enum(option))
        return any(_fits(value, option) for option in options)
    if expected in (Any, object):
        return True
    if expected is type(None):
        return value is None
    if expected is bool:
        return isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if expected is float:  # finite: NaN or inf would go on to hang a wait or break a date
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if expected in (str, bytes):  # bytes: JSON carries file contents as text
        return isinstance(value, str)
    if _is_enum(expected):
        return value in {member.value for member in expected}
    origin, args = typing.get_origin(expected), typing.get_args(expected)
    if origin in _LISTS:
        return isinstance(value, list) and all(_fits(item, args[0] if args else Any) for item in value)
    if origin in _MAPPINGS:
        return isinstance(value, dict) and all(
            isinstance(key, str) and _fits(item, args[1] if args else Any) for key, item in value.items()
        )
    return False  # a class JSON cannot carry (User, Policy, a pattern): its str option is the way in


def _is_enum(option: Any) -> bool:
    return isinstance(option, type) and issubclass(option, Enum)


def _describe(expected: Any) -> str:
    options = _options(expected)
    enums = [o for o in options if isinstance(o, type) and issubclass(o, Enum)]
    words: list[str] = []
    for option in options:
        if enums and option is str:
            continue  # "one of web, classic", not "... or a string": the domain refuses other strings
        word = _word(option)
        if word and word not in words:
            words.append(word)
    return " or ".join(words) or "a JSON value this endpoint can use"


def _word(option: Any) -> str | None:
    if option is type(None):
        return "null"
    if option is bool:
        return "true or false"
    if option is int:
        return "a whole number"
    if option is float:
        return "a number"
    if option in (str, bytes):
        return "a string"
    if isinstance(option, type) and issubclass(option, Enum):
        return "one of " + ", ".join(str(member.value) for member in option)
    origin, args = typing.get_origin(option), typing.get_args(option)
    if origin in _LISTS:
        item = _word(args[0]) if args else None
        return "a list of strings" if item == "a string" else "a list"
    if origin in _MAPPINGS:
        return "an object"
    return None
