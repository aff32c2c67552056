"""``npm publish --provenance`` offline: the real npm signs with our mock Fulcio and Rekor, reached
through the fixture's loopback egress proxy, and nothing leaves the machine."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from pytest_npm_registry.domain import bundles, sigstore
from pytest_npm_registry.domain.errors import ProvenanceInvalid
from tests.conftest import http

REPO = "acme/demo"
REPOSITORY = {"type": "git", "url": "git+https://github.com/acme/demo.git"}

#: Loaded into every Node process of a run (NODE_OPTIONS=--require): notes each name Node's
#: resolver is asked for and each socket it opens, so a test can prove where a run went.
TRACE_JS = r"""
const dns = require('dns'); const net = require('net'); const fs = require('fs');
const note = (kind, what) => fs.appendFileSync(process.env.EGRESS_TRACE, JSON.stringify([kind, String(what)]) + '\n');
for (const name of ['lookup', 'resolve', 'resolve4', 'resolve6', 'resolveAny']) {
  const original = dns[name];
  dns[name] = function (host, ...rest) { note('dns', host); return original.call(this, host, ...rest); };
  const promised = dns.promises[name];
  dns.promises[name] = function (host, ...rest) { note('dns', host); return promised.call(this, host, ...rest); };
}
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  let options = Array.isArray(args[0]) ? args[0][0] : args[0];
  if (typeof options !== 'object') options = { port: args[0], host: args[1] };
  note('connect', options.path || `${options.host || 'localhost'}:${options.port}`);
  return connect.apply(this, args);
};
"""


def trusted_maintainer(reg):
    """alice (2FA for writes), maintainer of demo-pkg@1.0.0, which trusts acme/demo's release.yml."""
    alice = reg.add_user("alice", tfa="auth-and-writes")
    reg.publish("demo-pkg", "1.0.0", by=alice)
    reg.trust("demo-pkg", github={"repository": REPO, "workflow": "release.yml"})
    return alice


@pytest.fixture
def alice(npm_registry):
    return trusted_maintainer(npm_registry)


def trace_env(tmp_path: Path) -> dict[str, str]:
    """``NODE_OPTIONS`` loading :data:`TRACE_JS`, and where it writes."""
    script = tmp_path / "trace.js"
    script.write_text(TRACE_JS)
    return {"NODE_OPTIONS": f"--require={script}", "EGRESS_TRACE": str(tmp_path / "egress-trace.jsonl")}


def read_trace(tmp_path: Path) -> list[tuple[str, str]]:
    trace = tmp_path / "egress-trace.jsonl"
    lines = trace.read_text().splitlines() if trace.exists() else []
    return [tuple(json.loads(line)) for line in lines]


def assert_only_loopback(trace: list[tuple[str, str]]) -> None:
    """What the :data:`TRACE_JS` preload saw: Node's resolver never asked for a name (the registry
    and the proxy are IP literals) and every socket went to 127.0.0.1."""
    assert trace, "the trace preload did not run"
    assert [what for kind, what in trace if kind == "dns"] == []
    assert {what.rsplit(":", 1)[0] for kind, what in trace if kind == "connect"} == {"127.0.0.1"}


def publish_with_provenance(reg, package_dir, tmp_path: Path, *, visibility: str = "public", **env: str):
    ci = {**reg.github_actions_env(REPO, visibility=visibility), **trace_env(tmp_path), **env}
    reg.server.egress.clear()
    result = reg.npm(
        "publish",
        "--provenance",
        "--access",
        "public",
        cwd=package_dir("demo-pkg", "1.1.0", repository=REPOSITORY),
        env=ci,
    )
    return result, read_trace(tmp_path)


def test_provenance_publish_signs_offline_and_stores_the_bundle(npm_registry, alice, package_dir, tmp_path):
    result, _ = publish_with_provenance(npm_registry, package_dir, tmp_path)
    assert result.returncode == 0, result
    assert result.stdout == "+ demo-pkg@1.1.0\n"
    # This run's entry, before the registry's own publish attestation (the log's last entry).
    index = sigstore.LOG_INDEX_BASE + len(npm_registry.registry.sigstore.rekor.entries) - 2
    assert result.notices[-3:] == [
        "Publishing to " + npm_registry.url + " with tag latest and public access",
        "publish Signed provenance statement with source and build information from GitHub Actions",
        f"publish Provenance statement published to transparency log: https://search.sigstore.dev/?logIndex={index}",
    ]
    bundle = json.loads(npm_registry.package("demo-pkg").attachments("1.1.0")["demo-pkg-1.1.0.sigstore"])
    assert bundle["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    # The statement's subject is the tarball the registry stored.
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    tarball = npm_registry.package("demo-pkg").tarball("1.1.0")
    assert statement["subject"] == [
        {"name": "pkg:npm/demo-pkg@1.1.0", "digest": {"sha512": hashlib.sha512(tarball).hexdigest()}}
    ]
    assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
    # The certificate is our Fulcio's, for the job's identity, with Fulcio's extensions.
    leaf = x509.load_der_x509_certificate(base64.b64decode(bundle["verificationMaterial"]["certificate"]["rawBytes"]))
    fulcio = npm_registry.registry.sigstore.fulcio
    leaf.verify_directly_issued_by(fulcio.authority.cert)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [
        "https://github.com/acme/demo/.github/workflows/release.yml@refs/heads/main"
    ]
    oids = {e.oid.dotted_string: e.value for e in leaf.extensions if isinstance(e.value, x509.UnrecognizedExtension)}
    assert oids["1.3.6.1.4.1.57264.1.8"].value == sigstore.der_utf8("https://token.actions.githubusercontent.com")
    assert oids["1.3.6.1.4.1.57264.1.12"].value == sigstore.der_utf8("https://github.com/acme/demo")
    # The DSSE signature verifies with the certificate's key.
    envelope = bundle["dsseEnvelope"]
    signed = sigstore.pae(envelope["payloadType"], base64.b64decode(envelope["payload"]))
    assert sigstore.ecdsa_verify(leaf.public_key(), base64.b64decode(envelope["signatures"][0]["sig"]), signed)
    # The log entry carries our Rekor's signed entry timestamp and a checkpoint.
    (entry,) = bundle["verificationMaterial"]["tlogEntries"]
    rekor = npm_registry.registry.sigstore.rekor
    assert (entry["logIndex"], entry["kindVersion"]) == (str(index), {"kind": "dsse", "version": "0.0.1"})
    assert base64.b64decode(entry["logId"]["keyId"]).hex() == rekor.log_id
    stamp = {
        "body": entry["canonicalizedBody"],
        "integratedTime": int(entry["integratedTime"]),
        "logID": rekor.log_id,
        "logIndex": index,
    }
    set_signature = base64.b64decode(entry["inclusionPromise"]["signedEntryTimestamp"])
    assert sigstore.ecdsa_verify(rekor.key.public_key(), set_signature, sigstore.canonical_json(stamp))
    assert isinstance(rekor.key, ec.EllipticCurvePrivateKey)
    assert entry["inclusionProof"]["checkpoint"]["envelope"].startswith("rekor.sigstore.dev - ")


def test_nothing_but_loopback_is_reached_and_no_public_name_resolved(npm_registry, alice, package_dir, tmp_path):
    result, trace = publish_with_provenance(npm_registry, package_dir, tmp_path)
    assert result.returncode == 0, result
    assert_only_loopback(trace)
    # Sigstore's names only ever reached the proxy, inside CONNECT.
    connects = npm_registry.server.egress.connects()
    assert {(c.method, c.host, c.port, c.allowed) for c in connects} == {
        ("CONNECT", "fulcio.sigstore.dev", 443, True),
        ("CONNECT", "rekor.sigstore.dev", 443, True),
    }
    assert npm_registry.server.egress.app.requests[-2:] == [
        ("POST", "fulcio.sigstore.dev", "/api/v2/signingCert", 201),
        ("POST", "rekor.sigstore.dev", "/api/v1/log/entries", 201),
    ]


def test_other_hosts_are_refused_by_the_proxy_with_a_reason(npm_registry, alice):
    result = npm_registry.npm("view", "left-pad", "--registry", "https://registry.npmjs.org/")
    assert result.returncode != 0
    assert result.error_lines[:2] == [
        "npm error code E403",
        "npm error 403 403 Forbidden - GET https://registry.npmjs.org/left-pad - pytest-npm-registry:"
        " registry.npmjs.org:443 is not reachable from a test (nothing leaves this machine; only"
        " fulcio.sigstore.dev, rekor.sigstore.dev, tuf-repo-cdn.sigstore.dev are served, by the mock Sigstore)",
    ]
    (connect,) = npm_registry.server.egress.connects()[-1:]
    assert connect == ("CONNECT", "registry.npmjs.org", 443, False)


def test_fulcio_refuses_a_token_for_another_audience(npm_registry, alice):
    env = npm_registry.github_actions_env(REPO)
    token = http(
        npm_registry,
        "GET",
        env["ACTIONS_ID_TOKEN_REQUEST_URL"].split(npm_registry.url.rstrip("/"), 1)[1] + "&audience=npm:127.0.0.1",
        token=env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"],
    ).json()["value"]
    fulcio = npm_registry.registry.sigstore.fulcio
    with pytest.raises(sigstore.SigstoreRefusal) as refused:
        fulcio.signing_certificate(token, "-", "-")
    assert refused.value.status == 401
    assert refused.value.message.startswith("There was an error processing the identity token: ")


def test_readers_see_the_attestations(npm_registry, alice, package_dir, tmp_path):
    result, _ = publish_with_provenance(npm_registry, package_dir, tmp_path)
    assert result.returncode == 0, result
    view = npm_registry.npm("view", "demo-pkg@1.1.0", "dist", "--json")
    assert view.returncode == 0, view
    url = f"{npm_registry.url}-/npm/v1/attestations/demo-pkg@1.1.0"
    assert json.loads(view.stdout)["attestations"] == {
        "url": url,
        "provenance": {"predicateType": "https://slsa.dev/provenance/v1"},
    }
    answer = http(npm_registry, "GET", "/-/npm/v1/attestations/demo-pkg@1.1.0")
    stored = json.loads(npm_registry.package("demo-pkg").attachments("1.1.0")["demo-pkg-1.1.0.sigstore"])
    # The registry's own publish attestation first (tests/test_publish_attestation.py), then npm's.
    assert answer.status == 200
    assert [a["predicateType"] for a in answer.json()["attestations"]] == [
        "https://github.com/npm/attestation/tree/main/specs/publish/v0.1",
        "https://slsa.dev/provenance/v1",
    ]
    assert answer.json()["attestations"][1]["bundle"] == stored
    # A version without provenance has none to list, and the packument says nothing of them.
    assert http(npm_registry, "GET", "/-/npm/v1/attestations/demo-pkg@1.0.0").status == 404
    assert "attestations" not in npm_registry.npm("view", "demo-pkg@1.0.0", "dist", "--json").stdout


def test_bundle_check_accepts_what_npm_signed_and_names_a_repository_mismatch(
    npm_registry, alice, package_dir, tmp_path
):
    """domain/bundles.check_bundle, on a bundle the real npm made (publish calls it too)."""
    result, _ = publish_with_provenance(npm_registry, package_dir, tmp_path)
    assert result.returncode == 0, result
    package = npm_registry.package("demo-pkg")
    bundle = package.attachments("1.1.0")["demo-pkg-1.1.0.sigstore"]
    tarball, manifest = package.tarball("1.1.0"), package.manifest("1.1.0")
    ours = npm_registry.registry.sigstore
    bundles.check_bundle(bundle, tarball, manifest, ours)
    with pytest.raises(ProvenanceInvalid) as missing:
        bundles.check_bundle(bundle, tarball, {**manifest, "repository": None}, ours)
    assert (missing.value.status, missing.value.message) == (
        422,
        "Error verifying sigstore provenance bundle: Failed to validate repository information: package.json:"
        ' "repository.url" is "", expected to match "https://github.com/acme/demo" from provenance',
    )
    other = {**manifest, "repository": {"type": "git", "url": "git+https://github.com/acme/fork.git"}}
    with pytest.raises(ProvenanceInvalid) as mismatch:
        bundles.check_bundle(bundle, tarball, other, ours)
    assert mismatch.value.reason == (
        'Failed to validate repository information: package.json: "repository.url" is'
        ' "git+https://github.com/acme/fork.git", expected to match "https://github.com/acme/demo" from provenance'
    )
    # Another registry's Sigstore (its own Fulcio CA and Rekor key) trusts none of it.
    stranger = sigstore.Sigstore(npm_registry.registry.clock)
    with pytest.raises(ProvenanceInvalid) as untrusted:
        bundles.check_bundle(bundle, tarball, manifest, stranger)
    assert untrusted.value.reason == "Failed to verify certificate chain"


@pytest.mark.parametrize(
    ("repository", "shown"),
    [
        pytest.param(None, "", id="missing"),
        pytest.param({"type": "git", "url": "git+https://github.com/acme/fork.git"}, "git+https://github.com/acme/fork.git",
                     id="another-repository"),
    ],
)  # fmt: skip
def test_a_repository_url_that_does_not_match_the_provenance_is_e422(
    npm_registry, alice, package_dir, tmp_path, repository, shown
):
    """The public registry's refusal when package.json's repository.url and the provenance disagree."""
    ci = npm_registry.github_actions_env(REPO, visibility="public")
    fields = {} if repository is None else {"repository": repository}
    result = npm_registry.npm(
        "publish", "--provenance", "--access", "public", cwd=package_dir("demo-pkg", "1.1.0", **fields), env=ci
    )
    assert result.error_lines[:2] == [
        "npm error code E422",
        f"npm error 422 Unprocessable Entity - PUT {npm_registry.url}demo-pkg - Error verifying sigstore provenance"
        f' bundle: Failed to validate repository information: package.json: "repository.url" is "{shown}",'
        ' expected to match "https://github.com/acme/demo" from provenance',
    ]
    assert npm_registry.package("demo-pkg").versions == ["1.0.0"]  # nothing half-written
    (refused,) = npm_registry.journal.entries(operation="publish")
    assert refused.status == 422


def test_a_private_source_repository_is_refused_after_npm_signed(npm_registry, alice, package_dir):
    """What projen/projen#3866 shows from the public registry: npm signs (Fulcio certifies a
    private repository too, extension .1.22 = private), logs the entry, then the PUT is refused."""
    ci = npm_registry.github_actions_env(REPO, visibility="private")
    result = npm_registry.npm(
        "publish",
        "--provenance",
        "--access",
        "public",
        cwd=package_dir("demo-pkg", "1.1.0", repository=REPOSITORY),
        env=ci,
    )
    assert result.notices[-2:] == [
        "publish Signed provenance statement with source and build information from GitHub Actions",
        "publish Provenance statement published to transparency log:"
        f" https://search.sigstore.dev/?logIndex={sigstore.LOG_INDEX_BASE}",
    ]
    assert result.error_lines[:2] == [
        "npm error code E422",
        f"npm error 422 Unprocessable Entity - PUT {npm_registry.url}demo-pkg - Error verifying sigstore provenance"
        ' bundle: Unsupported GitHub Actions source repository visibility: "private". Only public source'
        " repositories are supported when publishing with provenance.",
    ]
    assert npm_registry.package("demo-pkg").versions == ["1.0.0"]


# -- outside reg.npm: a release script under reg.ci_env ------------------------------------------------


def test_a_release_script_under_ci_env_signs_through_the_egress_proxy(npm_registry, alice, package_dir, tmp_path):
    """`reg.ci_env()` gives a script the proxy variables `reg.env()` gives npm, so a release script
    that runs `npm publish` in a trusted-publishing job signs offline, and nothing leaves loopback."""
    package = package_dir("demo-pkg", "1.1.0", repository=REPOSITORY)
    script = tmp_path / "release.sh"
    script.write_text("set -e\nnpm publish --provenance --access public\n")
    env = {**npm_registry.ci_env(), **npm_registry.github_actions_env(REPO, visibility="public"), **trace_env(tmp_path)}
    assert (env["HTTPS_PROXY"], env["NODE_EXTRA_CA_CERTS"]) == (
        npm_registry.server.egress.url,
        str(npm_registry.server.egress.ca_file),
    )
    done = subprocess.run(
        ["bash", str(script)], check=False, env=env, cwd=package, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "npm notice publish Signed provenance statement with source and build information from GitHub Actions" in (
        done.stderr.splitlines()
    )
    assert "demo-pkg-1.1.0.sigstore" in npm_registry.package("demo-pkg").attachments("1.1.0")
    trace = read_trace(tmp_path)
    assert_only_loopback(trace)


def test_a_script_under_ci_env_audits_signatures_and_meets_the_proxy_refusal_elsewhere(npm_registry, alice, tmp_path):
    """npm's own requests under `ci_env` go to the egress proxy too (its global config names it):
    `npm audit signatures` reaches our TUF, and a host that is not Sigstore's gets the proxy's 403
    naming it (not a closed port's ECONNREFUSED)."""
    app = tmp_path / "app"
    app.mkdir()
    (app / "package.json").write_text('{"name": "app", "version": "1.0.0"}')
    script = tmp_path / "audit.sh"
    script.write_text(
        "set -e\nnpm install demo-pkg@1.0.0 --no-audit\nnpm audit signatures\n"
        "npm view left-pad --registry https://registry.npmjs.org/ || true\n"
    )
    env = {**npm_registry.ci_env(), **trace_env(tmp_path)}
    done = subprocess.run(
        ["bash", str(script)], check=False, env=env, cwd=app, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "1 package has a verified registry signature" in done.stdout.splitlines()
    assert "npm error code E403" in done.stderr.splitlines(), done.stderr
    assert "registry.npmjs.org" in done.stderr
    trace = read_trace(tmp_path)
    assert_only_loopback(trace)
    assert {(c.host, c.allowed) for c in npm_registry.server.egress.connects()} == {
        ("tuf-repo-cdn.sigstore.dev", True),
        ("registry.npmjs.org", False),
    }
