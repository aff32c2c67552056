"""The provenance fixture API, against the real npm: a version's provenance as data,
``assert_published(..., provenance=...)``, CI jobs with and without the id tokens provenance
needs (GitHub's ``id-token: write``, GitLab's ``SIGSTORE_ID_TOKEN``), and a fault for each
Sigstore step (Fulcio refuses, Rekor refuses or times out)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time

import pytest
from cryptography import x509
from werkzeug.test import Client

from pytest_npm_registry.domain import identity, sigstore
from pytest_npm_registry.domain.errors import UsageError
from pytest_npm_registry.domain.models import Operation
from pytest_npm_registry.domain.provenance import Provenance

REPO = "acme/demo"
GITHUB_REPOSITORY = {"type": "git", "url": "git+https://github.com/acme/demo.git"}
GITLAB_REPOSITORY = {"type": "git", "url": "git+https://gitlab.com/acme/demo.git"}
SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def alice(npm_registry):
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    npm_registry.publish("demo-pkg", "1.0.0", by=alice)
    return alice


@pytest.fixture
def on_github(npm_registry, alice):
    npm_registry.trust("demo-pkg", github={"repository": REPO, "workflow": "release.yml"})


def publish(reg, package_dir, env, *flags: str, version: str = "1.1.0", repository=GITHUB_REPOSITORY):
    """``npm publish --provenance --access public`` (or ``flags``) of demo-pkg in a CI job."""
    cwd = package_dir("demo-pkg", version, repository=repository)
    return reg.npm("publish", *(flags or ("--provenance", "--access", "public")), cwd=cwd, env=env)


def sigstore_requests(reg):
    return reg.server.egress.app.requests


# -- provenance as data -----------------------------------------------------------------------------


def test_the_provenance_of_a_github_actions_publish_reads_as_data(npm_registry, on_github, package_dir):
    env = npm_registry.github_actions_env(REPO, sha=SHA, visibility="public")
    result = publish(npm_registry, package_dir, env)
    assert result.returncode == 0, result
    package = npm_registry.package("demo-pkg")
    entry = npm_registry.registry.sigstore.rekor.entries[-2]  # the last is the registry's publish attestation
    assert package.provenance("1.1.0") == Provenance(
        subject="pkg:npm/demo-pkg@1.1.0",
        sha512=hashlib.sha512(package.tarball("1.1.0")).hexdigest(),
        predicate_type="https://slsa.dev/provenance/v1",
        statement_type="https://in-toto.io/Statement/v1",
        issuer="https://token.actions.githubusercontent.com",
        identity="https://github.com/acme/demo/.github/workflows/release.yml@refs/heads/main",
        repository="https://github.com/acme/demo",
        repository_visibility="public",
        workflow=".github/workflows/release.yml",
        ref="refs/heads/main",
        commit=SHA,
        builder="https://github.com/actions/runner/github-hosted",
        runner_environment="github-hosted",
        trigger="push",
        run_url=f"https://github.com/acme/demo/actions/runs/{env['GITHUB_RUN_ID']}/attempts/1",
        log_index=sigstore.LOG_INDEX_BASE + entry.index,
        integrated_time=entry.integrated_time,
    )
    # npm printed the same log link the data gives.
    provenance = package.provenance("1.1.0")
    assert provenance is not None
    assert result.notices[-1] == f"publish Provenance statement published to transparency log: {provenance.log_url}"
    assert str(provenance) == f"https://github.com/acme/demo .github/workflows/release.yml@refs/heads/main ({SHA[:12]})"
    # A version published without --provenance has none; an unknown version is a usage error.
    assert package.provenance("1.0.0") is None
    with pytest.raises(UsageError, match=re.escape("demo-pkg has no version '9.9.9' (have: ['1.0.0', '1.1.0'])")):
        package.provenance("9.9.9")


def test_a_reusable_workflow_names_the_caller_as_the_workflow_and_signs_as_itself(npm_registry, alice, package_dir):
    npm_registry.trust("demo-pkg", github={"repository": REPO, "workflow": "release.yml"})
    env = npm_registry.github_actions_env(
        REPO, "publish-reusable.yml", caller_workflow="release.yml", visibility="public"
    )
    result = publish(npm_registry, package_dir, env)
    assert result.returncode == 0, result
    provenance = npm_registry.package("demo-pkg").provenance("1.1.0")
    assert provenance is not None
    assert (provenance.workflow, provenance.identity) == (
        ".github/workflows/release.yml",
        "https://github.com/acme/demo/.github/workflows/publish-reusable.yml@refs/heads/main",
    )


# -- assert_published(..., provenance=...) ---------------------------------------------------------


def test_assert_published_checks_the_provenance(npm_registry, on_github, package_dir):
    signed = publish(npm_registry, package_dir, npm_registry.github_actions_env(REPO, sha=SHA, visibility="public"))
    assert signed.returncode == 0, signed
    # 1.2.0 by trusted publishing without --provenance (a private repository: npm does not turn it on).
    plain = publish(
        npm_registry,
        package_dir,
        npm_registry.github_actions_env(REPO, visibility="private"),
        "--access",
        "public",
        version="1.2.0",
    )
    assert plain.returncode == 0, plain

    npm_registry.assert_published("demo-pkg@1.1.0", provenance=True)
    npm_registry.assert_published(
        "demo-pkg@1.1.0", provenance={"repository": "https://github.com/acme/demo", "commit": SHA}
    )
    npm_registry.assert_published("demo-pkg@1.2.0", provenance=False)

    with pytest.raises(AssertionError) as without:
        npm_registry.assert_published("demo-pkg@1.2.0", provenance=True)
    lines = str(without.value).splitlines()
    assert lines[:2] == ["no accepted publish of demo-pkg@1.2.0 with provenance", "publishes of demo-pkg:"]
    assert re.fullmatch(
        r"  - publish demo-pkg@1\.2\.0 tag=latest by GitHub Actions \(oidc npm_\S+\) -> 200 accepted", lines[2]
    )
    assert lines[3] == "      differs: it has no provenance"
    with pytest.raises(AssertionError) as other:
        npm_registry.assert_published("demo-pkg@1.1.0", provenance={"repository": "https://github.com/acme/fork"})
    lines = str(other.value).splitlines()
    assert lines[0] == "no accepted publish of demo-pkg@1.1.0 with provenance repository='https://github.com/acme/fork'"
    assert lines[3] == (
        "      differs: provenance repository is 'https://github.com/acme/demo', not 'https://github.com/acme/fork'"
    )
    with pytest.raises(AssertionError) as unexpected:
        npm_registry.assert_published("demo-pkg@1.1.0", provenance=False)
    assert str(unexpected.value).splitlines()[3] == (
        "      differs: it has provenance (https://github.com/acme/demo"
        f" .github/workflows/release.yml@refs/heads/main ({SHA[:12]}))"
    )
    with pytest.raises(UsageError, match=r"provenance=\{'repo': \.\.\.\}: not a Provenance field \(fields: subject, "):
        npm_registry.assert_published("demo-pkg@1.1.0", provenance={"repo": REPO})


# -- CI jobs without the id token provenance needs -----------------------------------------------------


def test_a_github_job_without_id_token_permission_cannot_sign(npm_registry, alice, package_dir):
    """``permissions:`` without ``id-token: write``: GitHub sets no id-token URL, and npm says so."""
    env = npm_registry.github_actions_env(REPO, id_token=False)
    assert "ACTIONS_ID_TOKEN_REQUEST_URL" not in env
    assert "ACTIONS_ID_TOKEN_REQUEST_TOKEN" not in env
    token = alice.create_token(bypass_2fa=True, packages=["demo-pkg"])
    result = npm_registry.npm(
        "publish",
        "--provenance",
        "--access",
        "public",
        token=token,
        cwd=package_dir("demo-pkg", "1.1.0", repository=GITHUB_REPOSITORY),
        env=env,
    )
    assert result.returncode == 1
    assert result.error_lines == [
        "npm error code EUSAGE",
        'npm error Provenance generation in GitHub Actions requires "write" access to the "id-token" permission',
    ]
    assert npm_registry.package("demo-pkg").versions == ["1.0.0"]
    assert sigstore_requests(npm_registry) == []  # npm stopped before Sigstore


def test_trusted_publishing_without_id_token_permission_finds_no_credential(
    npm_registry, alice, on_github, package_dir
):
    """npm's OIDC step skips quietly (``lib/utils/oidc.js`` logs it at ``silly``), then the
    publish has no credential at all."""
    env = npm_registry.github_actions_env(REPO, id_token=False)
    result = publish(npm_registry, package_dir, env, "--access", "public", "--loglevel", "silly")
    assert result.returncode == 1
    assert result.error_lines == [
        "npm error code ENEEDAUTH",
        f"npm error need auth This command requires you to be logged in to {npm_registry.url}",
        "npm error need auth You need to authorize this machine using `npm adduser`",
    ]
    assert "npm silly oidc Skipped because incorrect permissions for id-token within GitHub workflow" in (
        result.stderr.splitlines()
    )
    # Nothing reached the registry's id-token or exchange endpoints.
    operations = {e.operation for e in npm_registry.journal.entries()}
    assert not operations & {Operation.OIDC_ID_TOKEN, Operation.OIDC_EXCHANGE, Operation.PUBLISH}
    # With a token in npm's config as well, npm publishes with that token instead.
    token = alice.create_token(bypass_2fa=True, packages=["demo-pkg"])
    cwd = package_dir("demo-pkg", "1.1.0", repository=GITHUB_REPOSITORY)
    fallback = npm_registry.npm("publish", "--access", "public", token=token, cwd=cwd, env=env)
    assert fallback.returncode == 0, fallback
    npm_registry.assert_published("demo-pkg@1.1.0", by="alice", credential="granular", provenance=False)


# -- GitLab: SIGSTORE_ID_TOKEN ---------------------------------------------------------------------


def test_a_gitlab_job_with_sigstore_id_token_signs_for_the_project(npm_registry, alice, package_dir):
    """The commit, workflow, trigger and job come from the certificate (Fulcio's ``.1.13``,
    ``.1.18``, ``.1.20``, ``.1.21`` from the id token), not from npm's statement: here the job's
    ``CI_COMMIT_SHA``, which npm writes into the statement, is made to say another commit."""
    npm_registry.trust("demo-pkg", gitlab={"project_path": REPO})
    env = npm_registry.gitlab_env(REPO, sigstore_id_token=True, sha=SHA, visibility="public")
    claims = identity.verify(env["SIGSTORE_ID_TOKEN"], audience="sigstore", now=npm_registry.clock.now())
    assert (claims["iss"], claims["aud"], claims["project_path"]) == ("https://gitlab.com", "sigstore", REPO)
    other = "f" * 40
    result = publish(npm_registry, package_dir, {**env, "CI_COMMIT_SHA": other}, repository=GITLAB_REPOSITORY)
    assert result.returncode == 0, result
    assert result.notices[-2] == "publish Signed provenance statement with source and build information from GitLab CI"
    package = npm_registry.package("demo-pkg")
    bundle = json.loads(package.attachments("1.1.0")["demo-pkg-1.1.0.sigstore"])
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    assert statement["predicate"]["invocation"]["configSource"]["digest"] == {"sha1": other}
    leaf = x509.load_der_x509_certificate(base64.b64decode(bundle["verificationMaterial"]["certificate"]["rawBytes"]))
    job_url = f"https://gitlab.com/acme/demo/-/jobs/{env['CI_JOB_ID']}"
    assert {arc: sigstore.fulcio_extension(leaf, arc) for arc in ("13", "18", "20", "21")} == {
        "13": SHA,
        "18": "https://gitlab.com/acme/demo//.gitlab-ci.yml@refs/heads/main",
        "20": "push",
        "21": job_url,
    }
    entry = npm_registry.registry.sigstore.rekor.entries[-2]  # the last is the registry's publish attestation
    assert package.provenance("1.1.0") == Provenance(
        subject="pkg:npm/demo-pkg@1.1.0",
        sha512=hashlib.sha512(package.tarball("1.1.0")).hexdigest(),
        predicate_type="https://slsa.dev/provenance/v0.2",
        statement_type="https://in-toto.io/Statement/v0.1",
        issuer="https://gitlab.com",
        identity="https://gitlab.com/acme/demo//.gitlab-ci.yml@refs/heads/main",
        repository="https://gitlab.com/acme/demo",
        repository_visibility="public",
        workflow=".gitlab-ci.yml",
        ref="refs/heads/main",
        commit=SHA,
        builder="https://gitlab.com/acme/demo/-/runners/12270837",
        runner_environment="gitlab-hosted",
        trigger="push",
        run_url=job_url,
        log_index=sigstore.LOG_INDEX_BASE + entry.index,
        integrated_time=entry.integrated_time,
    )
    npm_registry.assert_published("demo-pkg@1.1.0", provenance={"repository": "https://gitlab.com/acme/demo"})


def test_a_gitlab_job_without_sigstore_id_token_is_npms_eusage(npm_registry, alice, package_dir):
    npm_registry.trust("demo-pkg", gitlab={"project_path": REPO})
    env = npm_registry.gitlab_env(REPO)
    assert "SIGSTORE_ID_TOKEN" not in env
    result = publish(npm_registry, package_dir, env, repository=GITLAB_REPOSITORY)
    assert result.returncode == 1
    assert result.error_lines == [
        "npm error code EUSAGE",
        'npm error Provenance generation in GitLab CI requires "SIGSTORE_ID_TOKEN" with "sigstore" audience to'
        ' be present in "id_tokens". For more info see:',
        "npm error https://docs.gitlab.com/ee/ci/secrets/id_token_authentication.html",
    ]
    assert npm_registry.package("demo-pkg").versions == ["1.0.0"]


# -- a fault for each Sigstore step ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "message", "shown"),
    [
        pytest.param(403, "There was an error processing the identity token", None, id="403"),
        pytest.param(500, None, "Internal Server Error (fault injected by the test)", id="500-default"),
    ],
)
def test_fulcio_refuses(npm_registry, on_github, package_dir, status, message, shown):
    fault = npm_registry.faults.fulcio(status=status, message=message)
    result = publish(npm_registry, package_dir, npm_registry.github_actions_env(REPO, visibility="public"))
    assert result.returncode == 1
    said = message or shown
    assert result.error_lines == [
        "npm error code CA_CREATE_SIGNING_CERTIFICATE_ERROR",
        f"npm error error creating signing certificate - ({status}) {said}",
        f"npm error cause ({status}) {said}",
    ]
    assert fault.hits == 1
    # No retry (npm's fetch-retries=0 reaches its Sigstore client), no log entry, nothing published.
    assert sigstore_requests(npm_registry) == [("POST", "fulcio.sigstore.dev", "/api/v2/signingCert", status)]
    assert npm_registry.package("demo-pkg").versions == ["1.0.0"]
    npm_registry.assert_not_published("demo-pkg@1.1.0")


def test_rekor_refuses_after_fulcio_signed(npm_registry, on_github, package_dir):
    npm_registry.faults.rekor(status=503, message="the log is read-only for maintenance")
    result = publish(npm_registry, package_dir, npm_registry.github_actions_env(REPO, visibility="public"))
    assert result.returncode == 1
    assert result.error_lines == [
        "npm error code TLOG_CREATE_ENTRY_ERROR",
        "npm error error creating tlog entry - (503) the log is read-only for maintenance",
        "npm error cause (503) the log is read-only for maintenance",
    ]
    assert sigstore_requests(npm_registry) == [
        ("POST", "fulcio.sigstore.dev", "/api/v2/signingCert", 201),
        ("POST", "rekor.sigstore.dev", "/api/v1/log/entries", 503),
    ]
    assert npm_registry.package("demo-pkg").versions == ["1.0.0"]


def test_rekor_times_out_and_the_next_publish_signs(npm_registry, on_github, package_dir):
    """npm's Sigstore client waits npm's ``fetch-timeout`` (``flatOptions.timeout``, handed to
    ``sigstore.attest``); one second keeps the test fast."""
    fault = npm_registry.faults.rekor_timeout()
    env = {**npm_registry.github_actions_env(REPO, visibility="public"), "npm_config_fetch_timeout": "1000"}
    began = time.monotonic()
    result = publish(npm_registry, package_dir, env)
    took = time.monotonic() - began
    assert result.returncode == 1
    assert result.error_lines == [
        "npm error code TLOG_CREATE_ENTRY_ERROR",
        "npm error error creating tlog entry",
        "npm error cause network timeout at: https://rekor.sigstore.dev/api/v1/log/entries",
    ]
    assert took < 15, took
    assert npm_registry.package("demo-pkg").versions == ["1.0.0"]
    # The held request goes as soon as the fault is cleared (it would at a reset too).
    assert fault.hits == 1
    npm_registry.faults.clear()
    deadline = time.monotonic() + 5
    while ("POST", "rekor.sigstore.dev", "/api/v1/log/entries", 504) not in sigstore_requests(npm_registry):
        assert time.monotonic() < deadline, sigstore_requests(npm_registry)
        time.sleep(0.05)
    retried = publish(npm_registry, package_dir, npm_registry.github_actions_env(REPO, visibility="public"))
    assert retried.returncode == 0, retried
    npm_registry.assert_published("demo-pkg@1.1.0", provenance=True)


def test_sigstore_faults_are_checked_counted_and_dropped_on_reset(npm_registry):
    fulcio = Client(npm_registry.server.egress.app)

    def sign() -> tuple[int, str]:
        answer = fulcio.post("/api/v2/signingCert", headers={"Host": "fulcio.sigstore.dev"}, json={})
        return answer.status_code, answer.get_json()["message"]

    fault = npm_registry.faults.fulcio(2, status=403, message="no")
    assert [f.label for f in npm_registry.faults.active] == ["fulcio status=403"]
    assert [sign(), sign()] == [(403, "no"), (403, "no")]
    assert sign() == (400, "the signing request lacks credentials or publicKeyRequest")  # ran out
    assert fault.hits == 2
    npm_registry.faults.fulcio(status=403, message="no")
    npm_registry.reset()
    assert npm_registry.faults.active == []
    assert sign() == (400, "the signing request lacks credentials or publicKeyRequest")
    # A registry fault does not touch Sigstore's requests, nor a Sigstore fault the registry's.
    npm_registry.faults.fail_requests(path=re.compile(""), status=503)
    assert sign()[0] == 400
    with pytest.raises(UsageError, match=re.escape("fulcio(status=200): give an error status, 400 to 599")):
        npm_registry.faults.fulcio(status=200)
    with pytest.raises(UsageError, match=re.escape("rekor_timeout(seconds=-1): give a hold from 0 to 3600 seconds")):
        npm_registry.faults.rekor_timeout(seconds=-1)


def test_a_bundle_that_is_not_one_is_named_unreadable():
    from pytest_npm_registry.domain.provenance import UnreadableProvenance, read_provenance

    with pytest.raises(UnreadableProvenance) as unreadable:
        read_provenance(b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}')
    assert str(unreadable.value) == (
        "not a Sigstore bundle with a certificate and a statement (KeyError: 'verificationMaterial')"
    )
    with pytest.raises(UnreadableProvenance, match=r"\(JSONDecodeError: "):
        read_provenance(b"not json")
