"""The pytest plugin: a session-scoped server and a per-test, freshly reset registry.

``npm_registry`` is the fixture tests use. Override ``npm_registry_policy`` (a plain fixture) to
run a module or a whole suite under the ``classic`` rules.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator

import pytest

from .facade import NpmRegistry
from .server import RegistryServer

_REGISTRY_KEY = pytest.StashKey[NpmRegistry]()


@pytest.fixture(scope="session")
def npm_registry_server() -> Iterator[RegistryServer]:
    """One loopback server per test session (per xdist worker)."""
    server = RegistryServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def npm_registry_policy() -> str:
    """The policy preset each test starts with: ``current`` unless overridden."""
    return "current"


@pytest.fixture
def npm_registry(
    npm_registry_server: RegistryServer, npm_registry_policy: str, request: pytest.FixtureRequest
) -> Iterator[NpmRegistry]:
    """An empty registry for this test, on the session's server."""
    registry = NpmRegistry(npm_registry_policy, server=npm_registry_server)
    request.node.stash[_REGISTRY_KEY] = registry
    yield registry
    registry.close()
    # Errors raised inside the server thread fail the test here, never as silent 500s.
    npm_registry_server.check()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item,
    call: pytest.CallInfo[None],  # noqa: ARG001 - pytest passes hook arguments by name
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    registry = item.stash.get(_REGISTRY_KEY, None)
    if registry is not None and report.failed and len(registry.journal):
        report.sections.append(("npm registry journal", registry.journal.format()))
    return report
