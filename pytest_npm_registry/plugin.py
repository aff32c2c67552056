"""The pytest plugin: a session-scoped server and a per-test, freshly reset registry.

``npm_registry`` is the fixture tests use. The starting state can be declared with
``@pytest.mark.npm_registry(policy=..., users=..., packages=...)``; the policy for the whole run
comes from ``--npm-registry-policy`` / ``PYTEST_NPM_REGISTRY_POLICY`` / the ``npm_registry_policy``
ini option, and a module can still override the ``npm_registry_policy`` fixture. Under
pytest-xdist every worker process starts its own server: workers share nothing.
"""

from __future__ import annotations

import difflib
import inspect
import json
import os
import re
from collections.abc import Generator, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from .api.assertions import exchanges, format_report, parse_spec
from .api.clients import format_debug_logs
from .api.registry import NpmRegistry
from .api.rehearsal import PROPERTY as REFUSALS
from .api.rehearsal import format_report as format_refusals
from .api.rehearsal import refusals
from .api.versions import pins
from .api.views import User
from .domain.errors import UsageError
from .options import NPM_ENV, Options, add_options, npm_version
from .wire.server import RegistryServer

_REGISTRY_KEY = pytest.StashKey[NpmRegistry]()
_OPTIONS_KEY = pytest.StashKey[Options]()
_SAVED_NPM_ENV = pytest.StashKey[str | None]()
#: The user property a test's report carries its client runs in (xdist sends it to the controller).
CLIENTS_PROPERTY = "npm_registry_clients"
_IN_FLIGHT_KEY = pytest.StashKey[str]()
MARKER = "npm_registry"
#: The ``user_properties`` name of the note a test gets when its end had to wait for requests.
IN_FLIGHT = "npm_registry_in_flight"


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(*, policy=None, users=(), packages=(), visibility_delay=0): the registry's starting state "
        "for this test "
        "(users: names or {name: add_user kwargs}; packages: 'name@version' or {spec: maintainer or publish kwargs})",
    )
    options = Options.from_config(config)
    config.stash[_OPTIONS_KEY] = options
    if len(options.policies) > 1:
        config.pluginmanager.register(RefusalReport(options.policies), "npm-registry-refusals")
    config.pluginmanager.register(ClientsTally(), "npm-registry-clients")
    # clients.npm_executable reads the environment; a command-line or ini path must win over it.
    config.stash[_SAVED_NPM_ENV] = os.environ.get(NPM_ENV)
    if options.npm:
        os.environ[NPM_ENV] = options.npm


def pytest_unconfigure(config: pytest.Config) -> None:
    if _SAVED_NPM_ENV not in config.stash:
        return
    saved = config.stash[_SAVED_NPM_ENV]
    if saved is None:
        os.environ.pop(NPM_ENV, None)
    else:
        os.environ[NPM_ENV] = saved


def pytest_report_header(config: pytest.Config) -> list[str]:
    options = config.stash[_OPTIONS_KEY]
    version, where = npm_version()
    line = f"npm registry: policy {', '.join(options.policies)}, npm {version} ({where})"
    if options.journal_dir is not None:
        line += f", journals in {options.journal_dir}"
    offered: dict[str, list[str]] = {}
    for pinned in pins():
        offered.setdefault(pinned.client, []).append(pinned.version)
    pinned_line = "; ".join(f"{client} {', '.join(found)}" for client, found in offered.items())
    return [line, f"npm registry: pinned clients (version=, installed on first use): {pinned_line}"]


class ClientsTally:
    """Counts the client runs tests report and names them at the end of the terminal report."""

    def __init__(self) -> None:
        self.ran: dict[str, int] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # Under xdist the controller gets the workers' reports, user properties included.
        if report.when != "teardown":
            return
        for name, value in report.user_properties:
            if name == CLIENTS_PROPERTY and isinstance(value, dict):
                for label, count in value.items():
                    self.ran[str(label)] = self.ran.get(str(label), 0) + int(count)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.ran:
            terminalreporter.section("npm registry: clients that ran")
            for label, count in sorted(self.ran.items()):
                terminalreporter.write_line(f"{label}: {count} run{'s' if count != 1 else ''}")


def _options(config: pytest.Config) -> Options:
    return config.stash.get(_OPTIONS_KEY, None) or Options.from_config(config)


@pytest.fixture(scope="session")
def npm_registry_server() -> Iterator[RegistryServer]:
    """One loopback server per test session (per xdist worker)."""
    server = RegistryServer()
    server.start()
    yield server
    server.stop()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Several presets given: run each registry test once per preset (a marker's policy wins)."""
    policies = _options(metafunc.config).policies
    if len(policies) < 2 or "npm_registry_policy" not in metafunc.fixturenames:
        return
    if any(m.kwargs.get("policy") for m in metafunc.definition.iter_markers(MARKER)):
        return
    metafunc.parametrize("npm_registry_policy", policies, ids=[f"policy={p}" for p in policies])


@pytest.fixture
def npm_registry_policy(pytestconfig: pytest.Config) -> str:
    """The policy preset each test starts with: ``--npm-registry-policy`` (or its environment
    variable or ini option), ``current`` by default. Override the fixture to change it for a module."""
    return _options(pytestconfig).policy


@pytest.fixture
def npm_registry(
    npm_registry_server: RegistryServer, npm_registry_policy: str, request: pytest.FixtureRequest
) -> Iterator[NpmRegistry]:
    """An empty registry for this test (or the state its ``npm_registry`` marker declares), on the
    session's server."""
    declared = _marker_state(request.node)
    problem: str | None = None
    try:
        registry = NpmRegistry(declared.get("policy") or npm_registry_policy, server=npm_registry_server)
    except UsageError as exc:
        problem = str(exc)  # failed below, outside the except block: no chained error in the report
    if problem is not None:
        pytest.fail(f"@pytest.mark.{MARKER}: {problem}", pytrace=False)
    registry.assertion_verbosity = request.config.get_verbosity()
    journal_dir = _options(request.config).journal_dir
    if journal_dir is not None:  # failed runs' npm debug logs outlive the test, beside its journal
        registry.keep_logs_in = Path(journal_dir)
        registry.keep_logs_prefix = f"{_stem(request.node.nodeid)}.npm-"
    request.node.stash[_REGISTRY_KEY] = registry
    _seed(registry, declared.get("users", ()), declared.get("packages", ()))
    if "visibility_delay" in declared:
        try:
            registry.visibility_delay = declared["visibility_delay"]
        except UsageError as exc:
            pytest.fail(f"@pytest.mark.{MARKER}: {exc}", pytrace=False)
    yield registry
    # A request still in flight (a delayed publish, a slow client) must finish in this test, or be
    # cut, not land in the next one: wait a little, then drop what is left (issue 19).
    busy, left, waited = npm_registry_server.drain()
    if busy:
        note = f"waited {waited:.1f} s for {busy} request(s) still in flight when the test ended"
        if left:
            note += f"; cut {left} still running: they are answered 410 and change nothing"
        request.node.stash[_IN_FLIGHT_KEY] = note
        request.node.user_properties.append((IN_FLIGHT, note))
    refused = refusals(request.node.nodeid, registry.policy.name, registry.journal.entries())
    if refused:
        request.node.user_properties.append((REFUSALS, [r.as_dict() for r in refused]))
    if registry.clients_ran:
        request.node.user_properties.append((CLIENTS_PROPERTY, dict(registry.clients_ran)))
    if journal_dir is not None:
        _write_journal(registry, journal_dir, request.node.nodeid)
    registry.close()
    # Errors raised inside the server thread fail the test here, never as silent 500s.
    npm_registry_server.check()


# -- the marker --------------------------------------------------------------------------------------


def _marker_signature(
    *,
    policy: str | None = None,
    users: Iterable[str] | Mapping[str, Mapping[str, Any] | None] = (),
    packages: Iterable[str] | Mapping[str, str | Mapping[str, Any]] = (),
    visibility_delay: float = 0.0,
) -> None:
    """Declare the registry's starting state; arguments are checked against this signature.

    ``policy``: a preset name (``current``, ``classic``, ``2027-01``). ``visibility_delay``: seconds
    before a new version shows in packuments (``NpmRegistry.visibility_delay``). ``users``: names, or ``{name: add_user
    keyword arguments}``. ``packages``: ``"name@version"`` specs (maintained by the first user), or
    ``{spec: maintainer}`` / ``{spec: publish keyword arguments}``. Module, class and function
    markers combine; the closest one wins per argument."""


_MARKER_SIGNATURE = inspect.signature(_marker_signature)
#: The signature as a user writes the marker, without the annotations.
_MARKER_CALL = "(*, policy=None, users=(), packages=())"


def _misuse(exc: TypeError, known: Iterable[str]) -> str:
    """A ``TypeError`` from binding arguments, with the near-miss spelled out (``user`` -> ``users``)."""
    text = str(exc)
    match = re.search(r"unexpected keyword argument '(\w+)'", text)
    close = difflib.get_close_matches(match.group(1), list(known), n=1) if match else []
    return text + (f": did you mean {close[0]}=?" if close else "")


def _marker_state(node: pytest.Item) -> dict[str, Any]:
    """The markers' arguments, the closest marker winning per argument (function over class over module)."""
    signature = _MARKER_SIGNATURE
    state: dict[str, Any] = {}
    for marker in reversed(list(node.iter_markers(MARKER))):
        # pytest.fail outside the except block: inside it, the report would carry the TypeError too
        # ("During handling of the above exception ...").
        problem: str | None = None
        try:
            bound = signature.bind(*marker.args, **marker.kwargs)
        except TypeError as exc:
            problem = _misuse(exc, signature.parameters)
        if problem is not None:
            pytest.fail(f"@pytest.mark.{MARKER}{_MARKER_CALL}: {problem}", pytrace=False)
        state.update(bound.arguments)
    policy = state.get("policy")
    if policy is not None and not isinstance(policy, str):
        pytest.fail(f"@pytest.mark.{MARKER}: policy={policy!r} should be a preset name: 'classic'", pytrace=False)
    for name in ("users", "packages"):
        if isinstance(state.get(name), str):
            value = state[name]
            pytest.fail(f"@pytest.mark.{MARKER}: {name}={value!r} should be a list: [{value!r}]", pytrace=False)
    return state


def _seed(
    registry: NpmRegistry,
    users: Iterable[str] | Mapping[str, Mapping[str, Any] | None],
    packages: Iterable[str] | Mapping[str, str | Mapping[str, Any]],
) -> None:
    made: list[User] = []
    user_specs = users.items() if isinstance(users, Mapping) else ((name, None) for name in users)
    for name, options in user_specs:
        problem: str | None = None
        try:
            made.append(registry.add_user(name, **dict(options or {})))
        except TypeError as exc:
            problem = _misuse(exc, inspect.signature(registry.add_user).parameters)
        except UsageError as exc:
            problem = str(exc)
        if problem is not None:
            pytest.fail(f"@pytest.mark.{MARKER}: users: {name}: {problem}", pytrace=False)
    package_specs = packages.items() if isinstance(packages, Mapping) else ((spec, None) for spec in packages)
    for spec, how in package_specs:
        publish: dict[str, Any] = {"by": how} if isinstance(how, str) else dict(how or {})
        if "by" not in publish:
            if not made:
                pytest.fail(
                    f"@pytest.mark.{MARKER}: packages: {spec} needs a maintainer: declare users=[...] "
                    f"or write packages={{{spec!r}: 'alice'}}",
                    pytrace=False,
                )
            publish["by"] = made[0]
        problem = None
        try:
            name, version = parse_spec(spec)
            registry.publish(name, version or "1.0.0", **publish)
        except (TypeError, UsageError) as exc:
            problem = str(exc)
        if problem is not None:
            pytest.fail(f"@pytest.mark.{MARKER}: packages: {spec}: {problem}", pytrace=False)


# -- reports ----------------------------------------------------------------------------------------


class RefusalReport:
    """Collects each test's refused publishes (from its teardown report, so xdist workers' reach
    the controller) and prints them per preset when the run had several presets."""

    def __init__(self, policies: tuple[str, ...]) -> None:
        self.policies = policies
        self.rows: list[dict[str, Any]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "teardown":
            for name, value in report.user_properties:
                if name == REFUSALS and isinstance(value, list):
                    self.rows.extend(value)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        terminalreporter.section("npm registry: refused publishes by policy")
        for line in format_refusals(self.policies, self.rows):
            terminalreporter.line(line)


def _stem(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")


def _write_journal(registry: NpmRegistry, directory: os.PathLike[str] | str, nodeid: str) -> None:
    os.makedirs(directory, exist_ok=True)
    filename = _stem(nodeid) + ".jsonl"
    rows = exchanges(registry.server, registry.registry)
    with open(os.path.join(directory, filename), "w", encoding="utf-8") as out:
        out.writelines(json.dumps(row.as_dict()) + "\n" for row in rows)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item,
    call: pytest.CallInfo[None],  # noqa: ARG001 - pytest passes hook arguments by name
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    in_flight = item.stash.get(_IN_FLIGHT_KEY, None)
    if in_flight is not None and report.when == "teardown":
        report.sections.append(("npm registry: requests in flight at the end", in_flight))
    registry = item.stash.get(_REGISTRY_KEY, None)
    if registry is not None and report.failed:
        rows = exchanges(registry.server, registry.registry)
        if rows:
            verbose = item.config.get_verbosity() > 0
            report.sections.append(("npm registry journal", format_report(rows, verbose=verbose)))
        if registry.failed_runs:
            logs = format_debug_logs(registry.failed_runs, verbose=item.config.get_verbosity() > 0)
            report.sections.append(("npm debug logs of failed runs", logs))
    return report
