"""What the objects a test holds print as: short, readable, never a secret, never tarball bytes."""

from __future__ import annotations

from pytest_npm_registry import NpmRegistry
from pytest_npm_registry.domain.journal import JournalEntry
from pytest_npm_registry.domain.models import Operation, OtpPath, Outcome
from tests.conftest import http


def test_a_token_prints_its_owner_kind_and_prefix_never_its_key_or_hash(npm_registry: NpmRegistry) -> None:
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    token = alice.create_token(bypass_2fa=True, packages=["my-lib"], key="npm_" + "A" * 36)
    assert repr(token) == "<Token alice's granular npm_AAAA... read-write bypass-2fa packages=['my-lib']>"
    assert token.record.key_hash not in repr(token)
    assert token.key not in repr(token)
    assert str(token) == token.key  # str() is what goes into an .npmrc
    assert repr(alice.create_token("session", key="npm_" + "B" * 36)) == "<Token alice's session npm_BBBB...>"
    assert repr(alice) == "<User alice tfa=auth-and-writes>"


def test_a_package_view_prints_what_a_test_compares_not_the_tarballs(npm_registry: NpmRegistry) -> None:
    alice = npm_registry.add_user("alice")
    npm_registry.publish("my-lib", "1.0.0", by=alice, files={"index.js": "x" * 10_000})
    view = npm_registry.publish("my-lib", "1.1.0", by=alice)
    assert repr(view) == (
        "<PackageView my-lib versions=['1.0.0', '1.1.0'] dist_tags={'latest': '1.1.0'} maintainers=['alice'] "
        "access=public requirement=automation>"
    )


def test_the_journal_prints_its_entries_and_finds_a_tokens_requests(npm_registry: NpmRegistry) -> None:
    alice = npm_registry.add_user("alice")
    token = alice.create_token(key="npm_" + "C" * 36)
    other = alice.create_token(key="npm_" + "D" * 36)
    assert str(npm_registry.journal) == "(no requests)"
    assert repr(npm_registry.journal) == "<Journal of 0 entries>"
    assert http(npm_registry, "GET", "/-/whoami", token=token).status == 200
    assert http(npm_registry, "GET", "/-/whoami", token=other).status == 200
    line = "whoami by alice (granular npm_CCCC...) -> 200 accepted"
    assert str(npm_registry.journal).splitlines()[0] == line
    assert repr(npm_registry.journal) == (
        "<Journal of 2 entries, last: whoami by alice (granular npm_DDDD...) -> 200 accepted>"
    )
    # An entry shows a token as its prefix and "...": Token.prefix matches it, and by_token finds it.
    (entry,) = npm_registry.journal.by_token(token)
    assert entry.token == token.prefix + "..."
    assert repr(entry) == f"<JournalEntry {line}>"
    assert npm_registry.journal.by_token(token.key) == [entry]
    assert npm_registry.journal.by_token(other.record) == npm_registry.journal.entries()[1:]


def test_a_journal_line_names_the_second_factor_that_let_a_request_through() -> None:
    entry = JournalEntry(
        0.0, Operation.PUBLISH, Outcome.ACCEPTED, 200, "my-lib", "1.1.0", "latest", "alice", "session",
        "npm_MaFc...", OtpPath.RECOVERY_CODE,
    )  # fmt: skip
    assert str(entry) == (
        "publish my-lib@1.1.0 tag=latest by alice (session npm_MaFc...) otp=recovery-code -> 200 accepted"
    )
    assert JournalEntry.from_dict(entry.as_dict()) == entry


def test_the_domain_records_behind_a_user_and_a_token_print_no_secret(npm_registry: NpmRegistry) -> None:
    alice = npm_registry.add_user("alice", tfa="auth-and-writes", password="correct horse battery")
    token = alice.create_token(key="npm_" + "E" * 36)
    user = npm_registry.registry.state.users["alice"]
    printed = repr(user) + repr(token.record) + repr(npm_registry.user("alice").tokens())
    for secret in (user.password_hash, user.totp_secret, token.record.key_hash, *user.recovery_codes):
        assert secret
        assert secret not in printed
    assert "name='alice'" in repr(user)
    assert "prefix='npm_EEEE'" in repr(token.record)
