"""The registry's switches a test (or the control API's ``settings``) may flip: web-auth
auto-approval, whether a trusted publish hears the truth about visibility (and so signs
provenance), the pretend client address and the body limit. Every value is checked on the way
in; ``configure`` checks them all before changing any.

The server owns one :class:`Settings` (``server.settings``); the Python facade and the control API
both change it there, and ``server.reset()`` puts it back to its defaults. A seed kept here
(``serve --seed``) is applied again after every reset, so a reset between two pipeline runs gives
the seeded accounts and tokens back instead of an empty registry.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from pytest_npm_registry.domain.errors import UsageError
from pytest_npm_registry.domain.policy import DAY
from pytest_npm_registry.domain.seed import Seed

if TYPE_CHECKING:
    from pytest_npm_registry.domain.registry import Registry

    from .app import RegistryApp

#: Largest request body accepted (the public registry refuses packages past a few hundred MB).
DEFAULT_MAX_BODY = 256 * 1024 * 1024
#: The most ``max_body`` may be set to: past any registry's limit (and far below ``sys.maxsize``,
#: where reads overflow).
MAX_BODY_CEILING = 1 << 40


def check_max_body(value: object) -> int:
    """``value`` if it can be a body limit, else a ``UsageError`` that says what can."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_BODY_CEILING:
        raise UsageError(
            f"max_body must be a whole number of bytes from 1 to {MAX_BODY_CEILING} (1 TiB), not {value!r}"
        )
    return value


#: Each setting's value after a ``reset`` (unless ``configure(..., keep=True)`` said otherwise).
SETTING_DEFAULTS: dict[str, Any] = {
    "advertise_public_visibility": True,  # the truth; False keeps trusted publishing unsigned
    "auto_approve_web_auth": False,
    "auto_approve_web_login": None,
    "client_ip": None,
    "max_body": None,  # the server's own limit
    "visibility_delay": 0.0,
}
#: What ``configure`` and the control API's ``POST settings`` may change: the properties below.
SETTINGS = tuple(SETTING_DEFAULTS)


def _flag(setting: str, value: object) -> bool:
    # The control API sets these from JSON: "yes" or 1 must not pass for true.
    if not isinstance(value, bool):
        raise UsageError(f"{setting} must be true or false, not {value!r}")
    return value


def _ip(value: object) -> str | None:
    if value is None:
        return None
    try:
        ipaddress.ip_address(value if isinstance(value, str) else "")  # not an int: 5 would be 0.0.0.5
    except ValueError:
        raise UsageError(f"client_ip must be an IP address (or None), not {value!r}") from None
    return value  # type: ignore[return-value]  # a str: ip_address("") raised otherwise


def _user_name(value: object) -> str | None:
    if value is None:
        return None
    name = value if isinstance(value, str) else getattr(value, "name", None)  # a User has .name
    if not isinstance(name, str) or not name:
        raise UsageError(f"auto_approve_web_login takes a user (or its name) or None, not {value!r}")
    return name


def check_delay(value: object) -> float:
    """Seconds from 0 to a year (a version that never shows is ``unpublish``'s job)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 365 * DAY:
        raise UsageError(f"visibility_delay must be a number of seconds from 0 to {365 * DAY:g}, not {value!r}")
    return float(value)


_CHECKS: dict[str, Callable[[Any], Any]] = {
    "advertise_public_visibility": partial(_flag, "advertise_public_visibility"),
    "auto_approve_web_auth": partial(_flag, "auto_approve_web_auth"),
    "auto_approve_web_login": _user_name,
    "client_ip": _ip,
    "max_body": lambda value: None if value is None else check_max_body(value),
    "visibility_delay": check_delay,
}


class BodyLimit(Protocol):
    """Where the body limit lives: the server, which hands it to the socket server."""

    @property
    def body_limit(self) -> int: ...

    max_body_override: int | None


class Settings:
    """The switches of one server, around the registry and the application it serves."""

    def __init__(self, registry: Registry, app: RegistryApp, limit: BodyLimit) -> None:
        self.registry = registry
        self.app = app
        self.limit = limit
        #: Values ``reset`` keeps (``configure(..., keep=True)``): ``serve --auto-approve-web-auth``.
        self.kept: dict[str, Any] = {}
        #: Applied again after every ``reset`` (``serve --seed``, ``reg.seed(..., keep=True)``); without
        #: its ``policy``, so a reset to another policy keeps that policy.
        self.kept_seed: Seed | None = None

    @contextmanager
    def seeding(self, seed: bool) -> Iterator[bool]:
        """Within the block a reset applies the kept seed only if ``seed`` (``reset --empty``
        skips it once; it stays kept). Yields whether a seed will be applied."""
        kept = self.kept_seed
        self.kept_seed = kept if seed else None
        try:
            yield self.kept_seed is not None
        finally:
            self.kept_seed = kept

    def forget(self) -> None:
        """Keep nothing across resets any more: neither settings nor a seed (a new facade's start)."""
        self.kept.clear()
        self.kept_seed = None

    def configure(self, *, keep: bool = False, **settings: Any) -> None:
        """Change several settings at once, by the names of the properties below. Each value is
        checked before any changes: a bad one raises ``UsageError`` and leaves all as they were.
        ``keep``: also after every ``reset``."""
        unknown = sorted(set(settings) - set(SETTINGS))
        if unknown:
            raise UsageError(f"unknown setting(s) {unknown}; known: {', '.join(SETTINGS)}")
        checked = {key: _CHECKS[key](value) for key, value in settings.items()}
        for key, value in checked.items():
            setattr(self, key, value)
        if keep:
            self.kept.update(checked)

    def values(self) -> dict[str, Any]:
        """Each setting's current value, by name (what ``POST settings`` answers)."""
        return {key: getattr(self, key) for key in SETTINGS}

    def reset(self) -> None:
        """Back to the defaults, except what ``configure(..., keep=True)`` set; then the kept seed."""
        self.configure(**{**SETTING_DEFAULTS, **self.kept})
        if self.kept_seed is not None:
            self.kept_seed.apply(self.registry)

    @property
    def auto_approve_web_auth(self) -> bool:
        return self.registry.state.auto_approve_web_auth

    @auto_approve_web_auth.setter
    def auto_approve_web_auth(self, value: bool) -> None:
        self.registry.state.auto_approve_web_auth = _CHECKS["auto_approve_web_auth"](value)

    @property
    def advertise_public_visibility(self) -> bool:
        return self.registry.state.advertise_public_visibility

    @advertise_public_visibility.setter
    def advertise_public_visibility(self, value: bool) -> None:
        self.registry.state.advertise_public_visibility = _CHECKS["advertise_public_visibility"](value)

    @property
    def auto_approve_web_login(self) -> str | None:
        return self.registry.state.auto_approve_web_login

    @auto_approve_web_login.setter
    def auto_approve_web_login(self, user: object) -> None:
        self.registry.state.auto_approve_web_login = _user_name(user)

    @property
    def client_ip(self) -> str | None:
        return self.app.client_ip

    @client_ip.setter
    def client_ip(self, value: str | None) -> None:
        self.app.client_ip = _ip(value)

    @property
    def visibility_delay(self) -> float:
        return self.registry.state.visibility_delay

    @visibility_delay.setter
    def visibility_delay(self, value: float) -> None:
        self.registry.state.visibility_delay = check_delay(value)

    @property
    def max_body(self) -> int:
        return self.limit.body_limit

    @max_body.setter
    def max_body(self, value: int | None) -> None:
        self.limit.max_body_override = _CHECKS["max_body"](value)
