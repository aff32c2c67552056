"""The web pages in a real browser: Debian's Chromium, headless, driven by Selenium and chromedriver.

Selenium rather than Playwright: Debian builds ``chromium`` and ``chromium-driver`` from one source
package, so the driver always speaks the browser's exact version; Playwright drives its own pinned
Chromium build and only "may work" with another one, and its wheel carries a Node.js runtime.

``scripts/bootstrap.sh`` installs both and sets ``NPM_REGISTRY_REQUIRE_BROWSER=1``: then a missing
browser fails these tests instead of skipping them. Every wait has a timeout. Screenshots go to
``build/test-artifacts/`` (or ``$NPM_REGISTRY_ARTIFACTS``).
"""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_npm_registry import NpmRegistry

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("NPM_REGISTRY_ARTIFACTS") or ROOT / "build" / "test-artifacts")
CHROMIUM = os.environ.get("NPM_REGISTRY_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = os.environ.get("NPM_REGISTRY_CHROMEDRIVER") or shutil.which("chromedriver") or "/usr/bin/chromedriver"
#: Headless Chromium without a sandbox (root in CI) and without any call home to Google.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)
WAIT = 15.0
DESKTOP, PHONE = (1280, 900), (390, 844)

pytestmark = pytest.mark.npm


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "the selenium package is not installed (pip install -e '.[dev]')"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return f"{path} is missing (apt-get install chromium chromium-driver)"
    return None


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    reason = _missing()
    if reason:
        if os.environ.get("NPM_REGISTRY_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser tests are required here but {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (*CHROMIUM_ARGS, f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=1280,900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT)
    driver.set_script_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def screenshot(browser: Any, request: pytest.FixtureRequest) -> Callable[[str], Path]:
    """``screenshot("name")`` keeps the whole page as ``<artifacts>/<test>-<name>.png``."""

    def take(name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{request.node.name}-{name}.png"
        # The whole page, not only the window: Chromium's DevTools protocol captures beyond the viewport.
        metrics = browser.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": metrics["width"], "height": metrics["height"], "scale": 1}
        shot = browser.execute_cdp_cmd("Page.captureScreenshot", {"captureBeyondViewport": True, "clip": clip})
        path.write_bytes(base64.b64decode(shot["data"]))
        request.node.user_properties.append(("screenshot", str(path)))
        return path

    return take


def _wait(browser: Any) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, WAIT, poll_frequency=0.1)


def _fits(browser: Any, size: tuple[int, int]) -> None:
    """At this window size nothing overflows sideways: the page is usable without panning."""
    browser.set_window_size(*size)
    overflow = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than a {size[0]}px window"


def test_npm_login_approved_in_the_browser(npm_registry: NpmRegistry, browser: Any, screenshot: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    npm_registry.add_user("bob")
    seen: dict[str, str] = {}

    def approve_in_browser(match: Any) -> None:
        seen["url"] = match.group(1)
        browser.get(match.group(1))
        _wait(browser).until(ec.element_to_be_clickable((By.ID, "user")))
        page = browser.find_element(By.TAG_NAME, "main").text
        assert "npm login: log in" in page
        assert "npm login · npm/" in page  # the client: npm's command and user agent
        assert "alice, bob" in page
        _fits(browser, PHONE)
        browser.find_element(By.ID, "user").send_keys("alice")
        browser.find_element(By.ID, "password").send_keys(alice.password)
        browser.find_element(By.ID, "otp").send_keys(alice.otp())  # a 2FA account: the code too
        screenshot("phone")
        browser.set_window_size(*DESKTOP)
        screenshot("desktop")
        browser.find_element(By.ID, "approve").click()
        _wait(browser).until(ec.text_to_be_present_in_element((By.ID, "state"), "Logged in as alice"))
        screenshot("approved")

    result = npm_registry.npm(
        "login",
        tty=True,
        answers=[(r"Login at:\s*\n(\S+/-/_mock/login/[0-9a-f]{16})", approve_in_browser)],
        timeout=60,
    )
    assert result.returncode == 0, result
    assert seen["url"].startswith(f"{npm_registry.url}-/_mock/login/")
    assert f"Logged in on {npm_registry.url}." in result.stdout
    assert npm_registry.npm("whoami").stdout == "alice\n"
    (session,) = npm_registry.user("alice").tokens()
    assert session.kind.value == "session"
    assert session.prefix not in browser.page_source  # the page never shows the token npm received


def test_dashboard_shows_a_failed_publish_as_it_happens(
    npm_registry: NpmRegistry, browser: Any, screenshot: Any, package_dir: Callable[..., Path]
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    alice = npm_registry.add_user("alice", tfa="auth-and-writes", password="alice-s3cret-pw")
    bot = npm_registry.add_user("bot")
    npm_registry.seed({"packages": [{"name": "fauxauth", "maintainers": ["alice", "bot"]}]})
    ci = bot.create_token(read_only=True)  # the wrong token in CI: it cannot publish

    browser.get(f"{npm_registry.url}-/_mock/?token={npm_registry.admin_token}")
    _wait(browser).until(ec.presence_of_element_located((By.ID, "journal")))
    assert browser.current_url == npm_registry.dashboard_url  # the token left the address bar
    browser.execute_script("window.notReloaded = true")
    shown = browser.find_element(By.ID, "live").text
    assert any(alice.otp(offset_steps=step) in shown for step in (-1, 0))  # the current OTP, on purpose

    result = npm_registry.npm("publish", cwd=package_dir("fauxauth", "1.1.0"), token=ci)
    assert result.error_code == "E403", result
    reason = npm_registry.journal.entries(operation="publish")[-1].reason
    assert reason

    _wait(browser).until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "ol.timeline li.rejected"), reason))
    assert browser.execute_script("return window.notReloaded") is True  # refreshed in place
    entry = browser.find_element(By.CSS_SELECTOR, "ol.timeline li.rejected").text
    assert "publish fauxauth@1.1.0" in entry
    assert "403 rejected" in entry
    page = browser.page_source
    for secret in (ci.key, npm_registry.admin_token, "alice-s3cret-pw", *alice.recovery_codes):
        assert secret not in page
    assert alice.totp_secret is not None
    assert alice.totp_secret not in page
    _fits(browser, DESKTOP)
    screenshot("desktop")
    _fits(browser, PHONE)
    screenshot("phone")


def test_publish_approved_on_the_auth_page(
    npm_registry: NpmRegistry, browser: Any, screenshot: Any, package_dir: Callable[..., Path]
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    alice = npm_registry.add_user("alice", tfa="auth-and-writes")

    def approve_in_browser(match: Any) -> None:
        browser.get(match.group(1))
        _wait(browser).until(ec.element_to_be_clickable((By.ID, "approve")))
        page = browser.find_element(By.TAG_NAME, "main").text
        assert "publish demo-pkg@1.0.0" in page
        assert "alice (2FA: auth-and-writes)" in page
        assert "npm publish · npm/" in page
        _fits(browser, PHONE)
        screenshot("phone")
        browser.set_window_size(*DESKTOP)
        screenshot("desktop")
        # Whoever triggered the challenge knows this URL: approving takes alice's password and code.
        browser.find_element(By.ID, "password").send_keys(alice.password)
        browser.find_element(By.ID, "otp").send_keys(alice.otp())
        browser.find_element(By.ID, "approve").click()
        _wait(browser).until(ec.text_to_be_present_in_element((By.ID, "state"), "Approved"))

    result = npm_registry.npm(
        "publish",
        cwd=package_dir("demo-pkg"),
        token=alice.create_token("session"),
        tty=True,
        answers=[(r"Authenticate your account at:\s*\n(\S+/-/_mock/auth/[0-9a-f]{16})", approve_in_browser)],
        timeout=60,
    )
    assert result.returncode == 0, result
    assert result.stdout.rstrip().endswith("+ demo-pkg@1.0.0")
    assert npm_registry.journal.entries(operation="publish")[-1].otp.value == "web"
    assert npm_registry.package("demo-pkg").versions == ["1.0.0"]


def test_the_admin_approves_npm_login_from_the_dashboard(npm_registry: NpmRegistry, browser: Any) -> None:
    """The public login page never sees the admin's cookie (its Path is the dashboard's secret
    path): the admin answers from the dashboard's own approval page, whose form Chromium posts with
    ``Origin: null`` (the page is ``Referrer-Policy: no-referrer``)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    npm_registry.add_user("alice", tfa="auth-and-writes")
    home = npm_registry.dashboard_url  # what `serve` prints: it sends a new browser to sign in
    browser.get(home)
    _wait(browser).until(ec.element_to_be_clickable((By.ID, "token")))
    assert browser.current_url == f"{npm_registry.url}-/_mock/"
    browser.find_element(By.ID, "token").send_keys(npm_registry.admin_token)
    browser.find_element(By.ID, "sign-in").click()
    _wait(browser).until(ec.presence_of_element_located((By.ID, "journal")))
    assert browser.current_url == home
    cookies = browser.get_cookies()
    assert [(c["path"], c["httpOnly"], c["sameSite"]) for c in cookies] == [
        (home[len(npm_registry.url) - 1 :], True, "Strict")
    ]

    def approve_from_the_dashboard(match: Any) -> None:
        browser.get(match.group(1))  # the public page: it asks the admin for alice's password too
        _wait(browser).until(ec.element_to_be_clickable((By.ID, "password")))
        browser.get(home)
        link = _wait(browser).until(ec.element_to_be_clickable((By.LINK_TEXT, "waiting: answer")))
        link.click()
        _wait(browser).until(ec.element_to_be_clickable((By.ID, "user")))
        assert browser.current_url.startswith(f"{home}login/")
        assert not browser.find_elements(By.ID, "password")  # the admin needs none
        browser.find_element(By.ID, "user").send_keys("alice")
        browser.find_element(By.ID, "approve").click()
        _wait(browser).until(ec.text_to_be_present_in_element((By.ID, "state"), "Logged in as alice"))

    result = npm_registry.npm(
        "login",
        tty=True,
        answers=[(r"Login at:\s*\n(\S+/-/_mock/login/[0-9a-f]{16})", approve_from_the_dashboard)],
        timeout=60,
    )
    assert result.returncode == 0, result
    assert npm_registry.npm("whoami").stdout == "alice\n"
    entry = npm_registry.journal.entries(operation="login")[-1]
    assert entry.reason == "web login approved by the admin in the browser as alice"
    (posted,) = [r for r, _ in npm_registry.server.log if r.method == "POST" and r.path.endswith("/approve")]
    assert (posted.headers.get("Origin"), posted.headers.get("Referer")) == ("null", None)  # no-referrer
