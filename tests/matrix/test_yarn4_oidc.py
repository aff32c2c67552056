"""Yarn 4 (pinned: 4.18.1) trusted publishing, on Node 22. Yarn asks GitHub for the audience
``npm:`` + ``new URL(registry).host``, port included (npm and pnpm use the hostname): on the public
registry there is no port and every client asks the same, so the registry accepts both forms."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_npm_registry import NpmRegistry, write_package

pytestmark = [pytest.mark.npm, pytest.mark.matrix]
YARN = "4"
NODE = "22"
REPO = "octo/y-lib"


@pytest.fixture
def project(npm_registry: NpmRegistry, tmp_path: Path) -> Path:
    alice = npm_registry.add_user("alice")
    npm_registry.publish("y-lib", "1.0.0", by=alice)
    folder = write_package(tmp_path / "y-lib", "y-lib", "1.1.0")
    installed = npm_registry.yarn("install", cwd=folder, version=YARN, node=NODE)
    assert installed.returncode == 0, installed
    return folder


def test_yarn4_github_oidc_publish_with_the_port_in_the_audience(npm_registry: NpmRegistry, project: Path) -> None:
    npm_registry.trust("y-lib", github={"repository": REPO, "workflow": "release.yml"})
    env = npm_registry.github_actions_env(REPO)
    result = npm_registry.yarn("npm", "publish", cwd=project, env=env, version=YARN, node=NODE)
    assert result.returncode == 0, result
    assert "➤ YN0000: Package archive published" in result.stdout
    assert npm_registry.package("y-lib").versions == ["1.0.0", "1.1.0"]
    port = npm_registry.url.rstrip("/").rsplit(":", 1)[1]
    [id_token] = [request for request, _ in npm_registry.server.log if "/id-token" in request.path]
    assert id_token.args["audience"] == f"npm:127.0.0.1:{port}"
    [exchange] = npm_registry.journal.entries(operation="oidc-exchange")
    assert exchange.outcome.value == "accepted"


def test_yarn4_failed_oidc_exchange_publishes_with_no_credential(npm_registry: NpmRegistry, project: Path) -> None:
    """No trusted publisher: yarn swallows the exchange's 404 ("best effort") and publishes anonymously."""
    env = npm_registry.github_actions_env(REPO)
    result = npm_registry.yarn("npm", "publish", cwd=project, env=env, version=YARN, node=NODE)
    assert result.returncode == 1, result
    assert result.error_code == "YN0033"
    assert result.yarn_errors == ["No authentication configured for request"]
    assert npm_registry.package("y-lib").versions == ["1.0.0"]
    [exchange] = npm_registry.journal.entries(operation="oidc-exchange")
    assert (exchange.status, exchange.outcome.value) == (404, "rejected")
