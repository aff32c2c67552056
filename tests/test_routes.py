"""The route table: matching, and URL building that ``Route`` compiles on first use."""

from __future__ import annotations

from typing import Any

import pytest
from werkzeug.routing import Map, Rule

from pytest_npm_registry.wire import routes
from pytest_npm_registry.wire.routes import PackageNameConverter, Route, url_map


def test_making_the_table_compiles_no_url_builder(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled: list[str] = []
    original = Rule._compile_builder

    def counting(rule: Rule, append_unknown: bool = True) -> Any:
        compiled.append(rule.rule)
        return original(rule, append_unknown)

    monkeypatch.setattr(Rule, "_compile_builder", counting)
    table = Map(
        [Route(r.rule, endpoint=r.endpoint, methods=r.methods) for r in url_map.iter_rules()],
        converters={"package": PackageNameConverter},
    )
    assert compiled == []
    table.bind("registry").build("npm.ping")
    assert compiled == ["/-/ping"]  # on first use, and only for that rule (append_unknown=True)
    assert all(isinstance(rule, Route) for rule in routes.url_map.iter_rules())


def test_scoped_tarball_matches_as_one_package_name() -> None:
    adapter = url_map.bind("registry")
    assert adapter.match("/@scope/pkg/-/pkg-1.0.0.tgz", method="GET") == (
        "npm.tarball",
        {"name": "@scope/pkg", "filename": "pkg-1.0.0.tgz"},
    )


BUILDS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("npm.tarball", {"name": "@scope/pkg", "filename": "pkg-1.0.0.tgz"}, {}),
    ("npm.version", {"name": "pkg", "spec": "1.0.0", "write": "true"}, {}),  # unknown values: query string
    ("npm.version", {"name": "pkg", "spec": "1.0.0", "write": "true"}, {"append_unknown": False}),
    ("npm.dist_tag", {"name": "@scope/pkg", "tag": "next"}, {"force_external": True}),
    ("control.invitations", {"action": "accept"}, {"method": "POST"}),
]


@pytest.mark.parametrize(("endpoint", "values", "options"), BUILDS)
def test_a_lazy_route_builds_what_a_werkzeug_rule_builds(
    endpoint: str, values: dict[str, Any], options: dict[str, Any]
) -> None:
    stock = Map(
        [Rule(r.rule, endpoint=r.endpoint, methods=r.methods) for r in url_map.iter_rules()],
        converters={"package": PackageNameConverter},
        strict_slashes=False,
        merge_slashes=False,
    )
    ours, theirs = url_map.bind("registry.test"), stock.bind("registry.test")
    for _ in range(2):  # the first call compiles the builder, the second uses it
        assert ours.build(endpoint, values, **options) == theirs.build(endpoint, values, **options)
