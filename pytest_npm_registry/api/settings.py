"""The registry's switches a test (or the control API's ``settings``) may flip: web-auth
auto-approval, the visibility npm sees during publish, the pretend client address and the body
limit. Every value is checked on the way in; ``configure`` checks them all before changing any.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from pytest_npm_registry.domain.errors import UsageError
from pytest_npm_registry.wire.server import check_max_body

if TYPE_CHECKING:
    from pytest_npm_registry.domain.registry import Registry
    from pytest_npm_registry.wire.server import RegistryServer

    from .registry import User


#: Each setting's value after a ``reset`` (unless ``configure(..., keep=True)`` said otherwise).
SETTING_DEFAULTS: dict[str, Any] = {
    "advertise_public_visibility": False,
    "auto_approve_web_auth": False,
    "auto_approve_web_login": None,
    "client_ip": None,
    "max_body": None,  # the server's own limit
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


_CHECKS: dict[str, Callable[[Any], Any]] = {
    "advertise_public_visibility": partial(_flag, "advertise_public_visibility"),
    "auto_approve_web_auth": partial(_flag, "auto_approve_web_auth"),
    "auto_approve_web_login": _user_name,
    "client_ip": _ip,
    "max_body": lambda value: None if value is None else check_max_body(value),
}


class SettingsMixin:
    """Part of :class:`~pytest_npm_registry.NpmRegistry`."""

    registry: Registry
    server: RegistryServer
    _kept_settings: dict[str, Any]

    def configure(self, *, keep: bool = False, **settings: Any) -> None:
        """Change several settings at once, by the names of the properties below. Each value is
        checked before any changes: a bad one raises ``UsageError`` and leaves all as they were.
        ``keep``: also after every ``reset`` (what ``serve --auto-approve-web-auth`` does, so a
        control-API reset between two test scripts does not drop it)."""
        unknown = sorted(set(settings) - set(SETTINGS))
        if unknown:
            raise UsageError(f"unknown setting(s) {unknown}; known: {', '.join(SETTINGS)}")
        checked = {key: _CHECKS[key](value) for key, value in settings.items()}
        for key, value in checked.items():
            setattr(self, key, value)
        if keep:
            self._kept_settings.update(checked)

    def settings(self) -> dict[str, Any]:
        """Each setting's current value, by name (what ``POST settings`` answers)."""
        return {key: getattr(self, key) for key in SETTINGS}

    @property
    def auto_approve_web_auth(self) -> bool:
        """Approve every web-2FA challenge as it is issued (as if someone clicked at once)."""
        return self.registry.state.auto_approve_web_auth

    @auto_approve_web_auth.setter
    def auto_approve_web_auth(self, value: bool) -> None:
        self.registry.state.auto_approve_web_auth = _CHECKS["auto_approve_web_auth"](value)

    @property
    def advertise_public_visibility(self) -> bool:
        """Tell npm the truth when it asks during ``publish`` whether a package is public (npm
        then turns on provenance and contacts Sigstore's public servers, so off by default)."""
        return self.registry.state.advertise_public_visibility

    @advertise_public_visibility.setter
    def advertise_public_visibility(self, value: bool) -> None:
        self.registry.state.advertise_public_visibility = _CHECKS["advertise_public_visibility"](value)

    @property
    def auto_approve_web_login(self) -> str | None:
        """Complete every ``npm login`` in the browser as this user, at once."""
        return self.registry.state.auto_approve_web_login

    @auto_approve_web_login.setter
    def auto_approve_web_login(self, user: User | str | None) -> None:
        self.registry.state.auto_approve_web_login = _user_name(user)

    @property
    def client_ip(self) -> str | None:
        """Pretend requests come from this address (loopback cannot show a CIDR mismatch otherwise)."""
        return self.server.app.client_ip

    @client_ip.setter
    def client_ip(self, value: str | None) -> None:
        self.server.app.client_ip = _ip(value)

    @property
    def max_body(self) -> int:
        """The largest request body accepted, in bytes (default 256 MiB); a larger publish gets
        ``413`` with a JSON error before its body is read (npm prints ``E413``). Back to the
        server's own limit on ``reset`` (or when set to None), so a test's change does not leak
        into the next test; for a limit on the whole session, override the ``npm_registry_server``
        fixture with ``RegistryServer(max_body=...)``. The control API keeps at least 256 MiB for
        itself."""
        return self.server.body_limit

    @max_body.setter
    def max_body(self, value: int | None) -> None:
        self.server.max_body_override = _CHECKS["max_body"](value)
