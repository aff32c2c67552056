"""The OIDC audience: ``npm:<host>`` (npm, pnpm) and ``npm:<host>:<port>`` (yarn 4), nothing else."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import pytest

from pytest_npm_registry import NpmRegistry
from pytest_npm_registry.domain import identity
from tests.conftest import http

REPO = "acme/demo"


def id_token(reg: NpmRegistry, audience: str) -> str:
    env = reg.github_actions_env(REPO)
    url = urlsplit(env["ACTIONS_ID_TOKEN_REQUEST_URL"])
    path = f"{url.path}?{url.query}&audience={quote(audience)}"
    answer = http(reg, "GET", path, token=env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"])
    assert answer.status == 200, answer
    return str(answer.json()["value"])


@pytest.fixture
def reg(npm_registry: NpmRegistry) -> NpmRegistry:
    npm_registry.add_user("alice")
    npm_registry.publish("demo", by="alice")
    npm_registry.trust("demo", github={"repository": REPO, "workflow": "release.yml"})
    return npm_registry


@pytest.mark.parametrize("with_port", [False, True], ids=["hostname", "host-and-port"])
def test_exchange_accepts_the_audience_with_and_without_the_port(reg: NpmRegistry, with_port: bool) -> None:
    port = urlsplit(reg.url).port
    audience = f"npm:127.0.0.1:{port}" if with_port else "npm:127.0.0.1"
    answer = http(reg, "POST", "/-/npm/v1/oidc/token/exchange/package/demo", token=id_token(reg, audience))
    assert answer.status == 201, answer
    assert answer.json()["token"].startswith("npm_")


@pytest.mark.parametrize("audience", ["npm:127.0.0.1:1", "npm:localhost", "npm:registry.npmjs.org"])
def test_exchange_refuses_another_registrys_audience(reg: NpmRegistry, audience: str) -> None:
    answer = http(reg, "POST", "/-/npm/v1/oidc/token/exchange/package/demo", token=id_token(reg, audience))
    assert (answer.status, answer.json()) == (401, {"message": "OIDC token exchange error - unauthorized"})
    port = urlsplit(reg.url).port
    [entry] = reg.journal.entries(operation="oidc-exchange")
    assert entry.reason.endswith(f"(audience must be npm:127.0.0.1 or npm:127.0.0.1:{port})"), entry.reason


def test_audiences_without_a_port_are_the_hostname_alone() -> None:
    assert identity.audiences("127.0.0.1") == ("npm:127.0.0.1",)
    assert str(identity.audiences("127.0.0.1", 4873)) == "npm:127.0.0.1 or npm:127.0.0.1:4873"
