"""Issue 19, item 2: an account made without a password gets a random one, never ``<name>-password``.

The probe: a user seeded without a password, then ``Basic bot:bot-password`` and a web-login
approval with that guess. Both must fail; the fixture shows the real password.
"""

from __future__ import annotations

import base64

from pytest_npm_registry import NpmRegistry

from .conftest import http


def _basic(user: str, password: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_a_user_without_a_password_gets_a_random_one(npm_registry: NpmRegistry) -> None:
    bot = npm_registry.add_user("bot")
    other = npm_registry.add_user("other")
    assert bot.password
    assert other.password
    assert bot.password != "bot-password"
    assert bot.password != other.password
    assert len(bot.password) >= 16
    guess = http(npm_registry, "GET", "/-/whoami", headers=_basic("bot", "bot-password"))
    assert guess.status == 401
    assert http(npm_registry, "GET", "/-/whoami", headers=_basic("bot", bot.password)).json() == {"username": "bot"}


def test_the_guessed_password_does_not_approve_a_web_login(npm_registry: NpmRegistry) -> None:
    npm_registry.add_user("bot")
    start = http(npm_registry, "POST", "/-/v1/login", json_body={})
    login_path = start.json()["loginUrl"][len(npm_registry.url.rstrip("/")) :]
    answer = http(npm_registry, "POST", f"{login_path}/approve", json_body={"user": "bot", "password": "bot-password"})
    assert answer.status == 401
    assert answer.json() == {"error": "incorrect username or password"}


def test_an_explicit_password_is_kept(npm_registry: NpmRegistry) -> None:
    assert npm_registry.add_user("bot", password="given-Pw-1").password == "given-Pw-1"


def test_seeded_users_get_random_passwords_shown_by_the_fixture(npm_registry: NpmRegistry) -> None:
    made = npm_registry.seed({"users": [{"name": "bot"}, {"name": "ci", "password": "ci-Pw-2"}]})
    passwords = {u.name: u.password for u in made["users"]}
    assert passwords["ci"] == "ci-Pw-2"
    assert passwords["bot"] not in (None, "bot-password")
