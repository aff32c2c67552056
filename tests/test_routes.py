"""The route table: matching, and URL building that ``Route`` compiles lazily."""

from __future__ import annotations

from pytest_npm_registry.routes import Route, url_map


def test_every_rule_is_a_lazy_route() -> None:
    assert all(isinstance(rule, Route) for rule in url_map.iter_rules())


def test_scoped_tarball_matches_as_one_package_name() -> None:
    adapter = url_map.bind("registry")
    assert adapter.match("/@scope/pkg/-/pkg-1.0.0.tgz", method="GET") == (
        "tarball",
        {"name": "@scope/pkg", "filename": "pkg-1.0.0.tgz"},
    )


def test_building_still_works_after_the_lazy_compile() -> None:
    adapter = url_map.bind("registry")
    # Twice: the first call compiles the builder, the second uses the compiled one.
    for _ in range(2):
        assert adapter.build("tarball", {"name": "@scope/pkg", "filename": "pkg-1.0.0.tgz"}) == (
            "/@scope/pkg/-/pkg-1.0.0.tgz"
        )
        # Unknown values go to the query string: werkzeug's second builder.
        assert adapter.build("version", {"name": "pkg", "spec": "1.0.0", "write": "true"}) == "/pkg/1.0.0?write=true"
