"""Issue 19, item 6: a request still in flight when a test ends must not land in the next test.

The probe: test A publishes through a ``delay`` fault from a background thread and ends; test B
(on the same session server) must not see that publish, and with ``advance_clock_after_publish``
its clock must not jump. The fixture waits up to ``DRAIN_TIMEOUT`` for such requests; what is
still running then is cut (answered 410 without reaching the registry). The report says so.
"""

from __future__ import annotations

from xml.etree import ElementTree

import pytest

from pytest_npm_registry.plugin import IN_FLIGHT
from pytest_npm_registry.wire.server import DRAIN_TIMEOUT

LATE = r"""
import threading, time, json, http.client
from urllib.parse import urlsplit
from pytest_npm_registry import publish_document, make_tarball
from pytest_npm_registry.domain.packaging import manifest_for

RESULT = {}
DELAY = {delay}

def _publish(url, token):
    parts = urlsplit(url)
    manifest = manifest_for("late-pkg", "1.0.0")
    body = json.dumps(publish_document(manifest, make_tarball(manifest))).encode()
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.request("PUT", "/late-pkg", body=body, headers={"authorization": "Bearer " + token,
                  "content-type": "application/json"})
    RESULT["status"] = conn.getresponse().status

def test_a_ends_with_a_publish_in_flight(npm_registry):
    bot = npm_registry.add_user("bot")
    token = bot.create_token(bypass_2fa=True)
    npm_registry.faults.delay(DELAY, method="PUT")
    npm_registry.faults.advance_clock_after_publish(365 * 86400)
    thread = threading.Thread(target=_publish, args=(npm_registry.url, token.key), daemon=True)
    thread.start()
    RESULT["thread"] = thread
    time.sleep(0.3)  # the request is inside the registry's server now

def test_b_sees_nothing_of_it(npm_registry):
    start = npm_registry.clock.now()
    RESULT["thread"].join(timeout=DELAY + 5)
    assert "late-pkg" not in npm_registry.registry.state.packages
    assert npm_registry.journal.entries(operation="publish") == []
    assert npm_registry.clock.now() - start < 3600  # no year's jump from test A's fault
    print("late answer", RESULT["status"])
"""


@pytest.mark.parametrize(
    ("delay", "landed_in_a"),
    [(DRAIN_TIMEOUT / 4, True), (DRAIN_TIMEOUT + 1.5, False)],
    ids=["waited-for", "cut"],
)
def test_a_late_request_does_not_land_in_the_next_test(
    pytester: pytest.Pytester, delay: float, *, landed_in_a: bool
) -> None:
    pytester.makepyfile(LATE.replace("{delay}", str(delay)))
    report = pytester.path / "report.xml"
    result = pytester.runpytest("-p", "no:randomly", "-p", "no:xdist", "-s", f"--junitxml={report}")
    result.assert_outcomes(passed=2)
    output = result.stdout.str()
    # The note the test's report carries (a user property; a section of its teardown report).
    tree = ElementTree.parse(report)  # noqa: S314 - pytest's own junit file, just written
    notes = [p.get("value") or "" for p in tree.iter("property") if p.get("name") == IN_FLIGHT]
    assert len(notes) == 1
    assert notes[0].startswith("waited ")
    assert "for 1 request(s) still in flight when the test ended" in notes[0]
    if landed_in_a:
        assert "cut" not in notes[0]
        assert "late answer 200" in output  # finished inside test A, where it belongs
    else:
        assert notes[0].endswith("; cut 1 still running: they are answered 410 and change nothing")
        assert "late answer 410" in output
