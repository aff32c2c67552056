"""The registry's side of provenance: every check of a `.sigstore` bundle on publish (bundles
npm really made, then altered; bundles signed here for claims a simulated job cannot have), the
certificates the mock Fulcio makes, and `npm publish --provenance-file`."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pytest_npm_registry import make_tarball, publish_document
from pytest_npm_registry.domain import attestations, bundles, ctlog, identity, sigstore
from pytest_npm_registry.domain.errors import ProvenanceInvalid
from tests.conftest import http
from tests.test_provenance import REPO, REPOSITORY, publish_with_provenance, trusted_maintainer


@pytest.fixture
def alice(npm_registry):
    return trusted_maintainer(npm_registry)


# -- forged bundles, over HTTP: a bundle npm really made, then altered -----------------------------------


@pytest.fixture
def signed(npm_registry, alice, package_dir, tmp_path):
    """demo-pkg@1.1.0 published by npm with provenance: its manifest, tarball and bundle (a dict)."""
    result, _ = publish_with_provenance(npm_registry, package_dir, tmp_path)
    assert result.returncode == 0, result
    package = npm_registry.package("demo-pkg")
    bundle = json.loads(package.attachments("1.1.0")["demo-pkg-1.1.0.sigstore"])
    return package.manifest("1.1.0"), package.tarball("1.1.0"), bundle


def put_with_bundle(reg, token, manifest, tarball, bundle):
    """``PUT /<name>`` as libnpmpublish sends it: the tarball, and the bundle as JSON text."""
    document = publish_document(manifest, tarball, access="public", registry_url=reg.url)
    text = json.dumps(bundle)
    key = f"{manifest['name']}-{manifest['version']}.sigstore"
    document["_attachments"][key] = {"content_type": bundle["mediaType"], "data": text, "length": len(text)}
    return http(reg, "PUT", f"/{manifest['name']}", token=token, json_body=document)


def refusal(why: str) -> dict[str, str]:
    return {"error": f"Error verifying sigstore provenance bundle: {why}"}


def test_the_unaltered_bundle_passes_every_check(npm_registry, alice, signed):
    """The control for the forgeries below: the same PUT again gets past the provenance checks
    to the version rule (the bytes just accepted: a retried PUT, the public registry's 409)."""
    manifest, tarball, bundle = signed
    answer = put_with_bundle(npm_registry, alice.create_token(bypass_2fa=True), manifest, tarball, bundle)
    assert (answer.status, answer.json()) == (409, {"error": 'Cannot publish over previously staged version "1.1.0".'})


def test_another_tarball_under_the_bundle_is_a_subject_digest_mismatch(npm_registry, alice, signed):
    manifest, _, bundle = signed
    other = make_tarball({**manifest, "description": "not what was signed"})
    answer = put_with_bundle(npm_registry, alice.create_token(bypass_2fa=True), manifest, other, bundle)
    assert (answer.status, answer.json()) == (422, refusal("Provenance subject digest does not match the package"))


def test_the_bundle_of_another_version_is_a_subject_mismatch(npm_registry, alice, signed):
    manifest, tarball, bundle = signed
    answer = put_with_bundle(
        npm_registry, alice.create_token(bypass_2fa=True), {**manifest, "version": "1.2.0"}, tarball, bundle
    )
    assert (answer.status, answer.json()) == (
        422,
        refusal("Provenance subject pkg:npm/demo-pkg@1.1.0 does not match the package: pkg:npm/demo-pkg@1.2.0"),
    )


def test_an_edited_statement_no_longer_matches_its_log_entry(npm_registry, alice, signed):
    """Re-pointing the statement at other bytes breaks the payload hash Rekor logged."""
    manifest, _, bundle = signed
    other = make_tarball({**manifest, "description": "not what was signed"})
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    statement["subject"][0]["digest"]["sha512"] = hashlib.sha512(other).hexdigest()
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    answer = put_with_bundle(npm_registry, alice.create_token(bypass_2fa=True), manifest, other, bundle)
    assert (answer.status, answer.json()) == (422, refusal("DSSE payload hash mismatch"))


def test_a_signature_other_than_the_logged_one_is_a_tlog_mismatch(npm_registry, alice, signed):
    manifest, tarball, bundle = signed
    bundle["dsseEnvelope"]["signatures"][0]["sig"] = base64.b64encode(b"0" * 70).decode()
    answer = put_with_bundle(npm_registry, alice.create_token(bypass_2fa=True), manifest, tarball, bundle)
    assert (answer.status, answer.json()) == (422, refusal("tlog entry signature mismatch"))


def test_a_signed_entry_timestamp_not_from_our_rekor_is_refused(npm_registry, alice, signed):
    manifest, tarball, bundle = signed
    (entry,) = bundle["verificationMaterial"]["tlogEntries"]
    entry["integratedTime"] = str(int(entry["integratedTime"]) + 1)  # the SET no longer covers it
    answer = put_with_bundle(npm_registry, alice.create_token(bypass_2fa=True), manifest, tarball, bundle)
    assert (answer.status, answer.json()) == (422, refusal("inclusion promise could not be verified"))
    stranger = ec.generate_private_key(ec.SECP256R1())  # a log we do not trust, with a good SET
    entry["inclusionPromise"]["signedEntryTimestamp"] = base64.b64encode(
        stranger.sign(b"anything", ec.ECDSA(hashes.SHA256()))
    ).decode()
    answer = put_with_bundle(npm_registry, alice.create_token(bypass_2fa=True), manifest, tarball, bundle)
    assert (answer.status, answer.json()) == (422, refusal("inclusion promise could not be verified"))


def test_a_bad_signature_logged_by_our_rekor_still_fails_verification(npm_registry, alice, signed):
    """A log entry that agrees with a bad signature (our Rekor refuses to log one, so the test signs
    the entry with the log's key): the envelope's signature is then what fails."""
    manifest, tarball, bundle = signed
    bad = base64.b64encode(b"0" * 70).decode()
    bundle["dsseEnvelope"]["signatures"][0]["sig"] = bad
    (entry,) = bundle["verificationMaterial"]["tlogEntries"]
    body = json.loads(base64.b64decode(entry["canonicalizedBody"]))
    body["spec"]["signatures"][0]["signature"] = bad
    entry["canonicalizedBody"] = base64.b64encode(sigstore.canonical_json(body)).decode()
    rekor = npm_registry.registry.sigstore.rekor
    stamp = {
        "body": entry["canonicalizedBody"],
        "integratedTime": int(entry["integratedTime"]),
        "logID": rekor.log_id,
        "logIndex": int(entry["logIndex"]),
    }
    forged = rekor.key.sign(sigstore.canonical_json(stamp), ec.ECDSA(hashes.SHA256()))
    entry["inclusionPromise"]["signedEntryTimestamp"] = base64.b64encode(forged).decode()
    # ... and its checkpoint: the entry is the tree's only leaf, so the root is the leaf's hash.
    assert "hashes" not in entry["inclusionProof"]
    leaf = hashlib.sha256(b"\x00" + base64.b64decode(entry["canonicalizedBody"])).digest()
    entry["inclusionProof"]["checkpoint"]["envelope"] = rekor.checkpoint(1, leaf)
    answer = put_with_bundle(npm_registry, alice.create_token(bypass_2fa=True), manifest, tarball, bundle)
    assert (answer.status, answer.json()) == (422, refusal("signature verification failed"))
    assert npm_registry.package("demo-pkg").versions == ["1.0.0", "1.1.0"]


# -- the registry's policy, on bundles signed here (claims a simulated job cannot have) ----------------


def sign_bundle(reg, claims: dict, manifest: dict, tarball: bytes) -> bytes:
    """What @sigstore/sign does, with our Fulcio and Rekor: a v0.3 bundle for ``claims``' identity."""
    store = reg.registry.sigstore
    key = ec.generate_private_key(ec.SECP256R1())
    subject = str(claims.get("email") or claims["sub"])
    proof = base64.b64encode(key.sign(subject.encode(), ec.ECDSA(hashes.SHA256()))).decode()
    leaf_pem = store.fulcio.signing_certificate(identity.sign(claims), sigstore.public_pem(key.public_key()), proof)[0]
    leaf = x509.load_pem_x509_certificate(leaf_pem.encode())
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [
            {
                "name": bundles.purl(manifest["name"], manifest["version"]),
                "digest": {"sha512": hashlib.sha512(tarball).hexdigest()},
            }
        ],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {},
    }
    payload, kind = json.dumps(statement).encode(), "application/vnd.in-toto+json"
    signature = key.sign(sigstore.pae(kind, payload), ec.ECDSA(hashes.SHA256()))
    envelope = {
        "payload": base64.b64encode(payload).decode(),
        "payloadType": kind,
        "signatures": [{"sig": base64.b64encode(signature).decode(), "keyid": ""}],
    }
    content = {"envelope": json.dumps(envelope), "verifiers": [base64.b64encode(leaf_pem.encode()).decode()]}
    proposed = {"apiVersion": "0.0.1", "kind": "dsse", "spec": {"proposedContent": content}}
    ((_, entry),) = store.rekor.add(proposed).items()
    tlog = attestations.tlog_entry(entry, "dsse", "0.0.1")
    der = leaf.public_bytes(serialization.Encoding.DER)
    material = {"certificate": {"rawBytes": base64.b64encode(der).decode()}, "tlogEntries": [tlog]}
    bundle = {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": material,
        "dsseEnvelope": envelope,
    }
    return json.dumps(bundle).encode()


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        pytest.param({}, None, id="a-public-github-hosted-job-passes"),
        pytest.param({"runner_environment": "self-hosted"},
                     'Unsupported GitHub Actions runner environment: "self-hosted". Only "github-hosted" runners are'
                     " supported when publishing with provenance.", id="self-hosted-runner"),
        pytest.param({"ref": ""}, "Missing SourceRepositoryRef in signing certificate", id="no-ref"),
        pytest.param({"repository_visibility": "internal"},
                     'Unsupported GitHub Actions source repository visibility: "internal". Only public source'
                     " repositories are supported when publishing with provenance.", id="internal-repository"),
    ],
)  # fmt: skip
def test_the_registry_policy_on_github_certificates(npm_registry, claims, why):
    now = npm_registry.registry.clock.now()
    job = identity.github_claims(
        repository=REPO, workflow="release.yml", visibility="public", audience=sigstore.SIGSTORE_AUDIENCE, now=now
    )
    manifest = {"name": "demo-pkg", "version": "1.1.0", "repository": REPOSITORY}
    tarball = make_tarball(manifest)
    bundle = sign_bundle(npm_registry, {**job, **claims}, manifest, tarball)
    if why is None:
        bundles.check_bundle(bundle, tarball, manifest, npm_registry.registry.sigstore)
        return
    with pytest.raises(ProvenanceInvalid) as refused:
        bundles.check_bundle(bundle, tarball, manifest, npm_registry.registry.sigstore)
    assert refused.value.reason == why


def test_a_private_gitlab_project_is_refused_in_the_same_words(npm_registry):
    """Our wording (no public text known): the GitHub refusal with ci-info's name for GitLab."""
    now = npm_registry.registry.clock.now()
    job = identity.gitlab_claims(project_path="acme/demo", audience=sigstore.SIGSTORE_AUDIENCE, now=now)
    manifest = {"name": "@acme/demo", "version": "1.0.0", "repository": "git+https://gitlab.com/acme/demo.git"}
    tarball = make_tarball(manifest)
    bundle = sign_bundle(npm_registry, job, manifest, tarball)
    with pytest.raises(ProvenanceInvalid) as refused:
        bundles.check_bundle(bundle, tarball, manifest, npm_registry.registry.sigstore)
    assert refused.value.reason == (
        'Unsupported GitLab CI source repository visibility: "private". Only public source repositories are'
        " supported when publishing with provenance."
    )
    public = sign_bundle(npm_registry, {**job, "project_visibility": "public"}, manifest, tarball)
    bundles.check_bundle(public, tarball, manifest, npm_registry.registry.sigstore)


# -- the certificate Fulcio makes for each issuer (Fulcio's config/identity/config.yaml) -------------


def certificate_for(reg, claims: dict) -> x509.Certificate:
    """A leaf from our Fulcio for ``claims``, as @sigstore/sign asks for one."""
    key = ec.generate_private_key(ec.SECP256R1())
    proof = base64.b64encode(key.sign(str(claims["sub"]).encode(), ec.ECDSA(hashes.SHA256()))).decode()
    chain = reg.registry.sigstore.fulcio.signing_certificate(
        identity.sign(claims), sigstore.public_pem(key.public_key()), proof
    )
    return x509.load_pem_x509_certificate(chain[0].encode())


def fulcio_arcs(leaf: x509.Certificate) -> dict[str, str | None]:
    prefix = "1.3.6.1.4.1.57264.1."
    arcs = [e.oid.dotted_string.removeprefix(prefix) for e in leaf.extensions if e.oid.dotted_string.startswith(prefix)]
    return {arc: sigstore.fulcio_extension(leaf, arc) for arc in arcs}


def test_a_github_certificate_carries_every_extension_fulcio_sets(npm_registry):
    now = npm_registry.registry.clock.now()
    claims = identity.github_claims(
        repository=REPO, workflow="release.yml", environment="production", visibility="public",
        sha="a" * 40, run_id="1536140711", audience=sigstore.SIGSTORE_AUDIENCE, now=now,
    )  # fmt: skip
    leaf = certificate_for(npm_registry, claims)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [
        "https://github.com/acme/demo/.github/workflows/release.yml@refs/heads/main"
    ]
    owner_id, repo_id = identity.stable_id("acme"), identity.stable_id(REPO)
    assert fulcio_arcs(leaf) == {
        "1": "https://token.actions.githubusercontent.com",
        "2": "push",
        "3": "a" * 40,
        "4": "release",
        "5": "acme/demo",
        "6": "refs/heads/main",
        "8": "https://token.actions.githubusercontent.com",
        "9": "https://github.com/acme/demo/.github/workflows/release.yml@refs/heads/main",
        "10": "a" * 40,
        "11": "github-hosted",
        "12": "https://github.com/acme/demo",
        "13": "a" * 40,
        "14": "refs/heads/main",
        "15": repo_id,
        "16": "https://github.com/acme",
        "17": owner_id,
        "18": "https://github.com/acme/demo/.github/workflows/release.yml@refs/heads/main",
        "19": "a" * 40,
        "20": "push",
        "21": "https://github.com/acme/demo/actions/runs/1536140711/attempts/1",
        "22": "public",
        "23": "production",
        "24": "repo:acme/demo:environment:production",
    }
    # The deprecated .1.2-.1.6 are the raw string, .1.8 and up DER UTF8Strings (extensions.go Render).
    oids = {e.oid.dotted_string: e.value for e in leaf.extensions}
    assert oids["1.3.6.1.4.1.57264.1.5"].value == b"acme/demo"
    assert oids["1.3.6.1.4.1.57264.1.21"].value == sigstore.der_utf8(
        "https://github.com/acme/demo/actions/runs/1536140711/attempts/1"
    )


def test_a_gitlab_certificate_carries_every_extension_fulcio_sets(npm_registry):
    """GitLab's template has no deprecated ``.1.2``-``.1.6`` and, without an ``environment``
    claim, no ``.1.23`` (an empty value is left out)."""
    now = npm_registry.registry.clock.now()
    claims = identity.gitlab_claims(
        project_path="acme/demo", visibility="public", sha="b" * 40, job_id="7212", audience="sigstore", now=now
    )
    leaf = certificate_for(npm_registry, claims)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    config = "https://gitlab.com/acme/demo//.gitlab-ci.yml@refs/heads/main"
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [config]
    assert fulcio_arcs(leaf) == {
        "1": "https://gitlab.com",
        "8": "https://gitlab.com",
        "9": config,
        "10": "b" * 40,
        "11": "gitlab-hosted",
        "12": "https://gitlab.com/acme/demo",
        "13": "b" * 40,
        "14": "refs/heads/main",
        "15": identity.stable_id("acme/demo"),
        "16": "https://gitlab.com/acme",
        "17": identity.stable_id("acme"),
        "18": config,
        "19": "b" * 40,
        "20": "push",
        "21": "https://gitlab.com/acme/demo/-/jobs/7212",
        "22": "public",
        "24": "project_path:acme/demo:ref_type:branch:ref:main",
    }
    tag = certificate_for(npm_registry, {**claims, "ref": "v1.0.0", "ref_type": "tag"})
    assert sigstore.fulcio_extension(tag, "14") == "refs/tags/v1.0.0"


@pytest.mark.parametrize(
    ("issuer_claims", "drop", "message"),
    [
        pytest.param("github", "job_workflow_sha",
                     'value <job_workflow_sha> not present in either claims or defaults. {\n\t"ExtensionName":'
                     ' "BuildSignerDigest",\n\t"Issuer": "https://token.actions.githubusercontent.com"\n}',
                     id="github-claim"),
        pytest.param("gitlab", "job_id",
                     'template: :1:41: executing "" at <.job_id>: map has no entry for key "job_id"',
                     id="gitlab-template"),
        pytest.param("gitlab", "ref_type",
                     'template: :1:13: executing "" at <.ref_type>: map has no entry for key "ref_type"',
                     id="gitlab-if"),
    ],
)  # fmt: skip
def test_fulcio_refuses_a_token_without_a_claim_its_templates_name(npm_registry, issuer_claims, drop, message):
    """Fulcio renders its templates with ``missingkey=error`` and answers the error as a 400."""
    now = npm_registry.registry.clock.now()
    if issuer_claims == "github":
        claims = identity.github_claims(repository=REPO, workflow="release.yml", audience="sigstore", now=now)
    else:
        claims = identity.gitlab_claims(project_path="acme/demo", audience="sigstore", now=now)
    del claims[drop]
    with pytest.raises(sigstore.SigstoreRefusal) as refused:
        certificate_for(npm_registry, claims)
    assert (refused.value.status, refused.value.message) == (400, message)


# -- the SCT and the inclusion proof, on publish: a bundle npm made, then altered ----------------------


def reissued(reg, bundle: dict, *, sct_from=None, keep_sct: bool = False, visibility: str | None = None) -> None:
    """Replace the bundle's leaf with one our Fulcio CA signs again: without its SCT, with an SCT
    of the CT log ``sct_from``, or keeping the old SCT while ``.1.22`` says ``visibility``."""
    fulcio = reg.registry.sigstore.fulcio
    material = bundle["verificationMaterial"]
    leaf = x509.load_der_x509_certificate(base64.b64decode(material["certificate"]["rawBytes"]))
    builder = (
        x509.CertificateBuilder()
        .subject_name(leaf.subject)
        .issuer_name(leaf.issuer)
        .public_key(leaf.public_key())
        .serial_number(leaf.serial_number)
        .not_valid_before(leaf.not_valid_before_utc)
        .not_valid_after(leaf.not_valid_after_utc)
    )
    for extension in leaf.extensions:
        oid = extension.oid.dotted_string
        raw = extension.value.public_bytes()
        if oid == ctlog.SCT_LIST_OID and not keep_sct:
            continue
        if oid == "1.3.6.1.4.1.57264.1.22" and visibility is not None:
            raw = sigstore.der_utf8(visibility)
        builder = builder.add_extension(x509.UnrecognizedExtension(extension.oid, raw), extension.critical)
    if sct_from is not None:
        builder = sct_from.embed_sct(builder, fulcio.authority.key, reg.registry.clock.now())
    cert = builder.sign(fulcio.authority.key, hashes.SHA256())
    material["certificate"]["rawBytes"] = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def stranger_checkpoint(envelope: str) -> str:
    """The same tree head, signed as a note by a key that is not our Rekor's."""
    note = envelope[: envelope.index("\n\n") + 1]
    stranger = ec.generate_private_key(ec.SECP256R1())
    hint = hashlib.sha256(sigstore.spki_der(stranger.public_key())).digest()[:4]
    signature = base64.b64encode(hint + stranger.sign(note.encode(), ec.ECDSA(hashes.SHA256()))).decode()
    return f"{note}\n\u2014 rekor.sigstore.dev {signature}\n"


def alter(reg, bundle: dict, how: str) -> None:
    (entry,) = bundle["verificationMaterial"]["tlogEntries"]
    proof = entry["inclusionProof"]
    if how == "no-sct":
        reissued(reg, bundle)
    elif how == "sct-of-another-log":
        reissued(reg, bundle, sct_from=ctlog.CTLog())
    elif how == "sct-of-another-certificate":
        reissued(reg, bundle, keep_sct=True, visibility="private")
    elif how == "no-inclusion-proof":
        del entry["inclusionProof"]
    elif how == "no-inclusion-promise":
        del entry["inclusionPromise"]
    elif how == "no-checkpoint-separator":
        proof["checkpoint"]["envelope"] = proof["checkpoint"]["envelope"].replace("\n\n", "\n")
    elif how == "checkpoint-not-from-our-rekor":
        proof["checkpoint"]["envelope"] = stranger_checkpoint(proof["checkpoint"]["envelope"])
    elif how == "checkpoint-of-another-tree":
        proof["checkpoint"]["envelope"] = reg.registry.sigstore.rekor.checkpoint(1, b"\x11" * 32)
    elif how == "index-past-the-tree":
        proof["logIndex"] = "1"
    elif how == "a-hash-too-many":
        proof["hashes"] = [base64.b64encode(b"\x00" * 32).decode()]


@pytest.mark.parametrize(
    ("how", "why"),
    [
        ("no-sct", "expected 1 SCTs, got 0"),
        ("sct-of-another-log", "SCT verification failed"),
        ("sct-of-another-certificate", "SCT verification failed"),
        ("no-inclusion-proof", "invalid bundle"),
        ("no-inclusion-promise", "expected 1 timestamps, got 0"),
        ("no-checkpoint-separator", "missing checkpoint separator"),
        ("checkpoint-not-from-our-rekor", "invalid checkpoint signature"),
        ("checkpoint-of-another-tree", "calculated root hash does not match inclusion proof"),
        ("index-past-the-tree", "invalid index: 1"),
        ("a-hash-too-many", "invalid hash count"),
    ],
)
def test_the_sct_and_the_inclusion_proof_are_checked_on_publish(npm_registry, alice, signed, how, why):
    """sigstore-js's checks of the certificate's SCT (``key/sct.js``) and of the entry's checkpoint
    and Merkle proof (``tlog/checkpoint.js``, ``tlog/merkle.js``), with its messages; the bundle
    npm made for 1.1.0 is altered and PUT as 1.1.0 again, so nothing but the alteration differs
    from test_the_unaltered_bundle_passes_every_check's 409."""
    manifest, tarball, bundle = signed
    assert bundle["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    alter(npm_registry, bundle, how)
    answer = put_with_bundle(npm_registry, alice.create_token(bypass_2fa=True), manifest, tarball, bundle)
    assert (answer.status, answer.json()) == (422, refusal(why))
    assert npm_registry.package("demo-pkg").versions == ["1.0.0", "1.1.0"]


# -- npm publish --provenance-file: npm verifies the file itself before it publishes ------------------

#: Where libnpmpublish's ``sigstore.verify(bundle)`` (no options: not npm's ``_tuf`` cache) keeps
#: Sigstore's TUF repository: ``@sigstore/tuf`` ``appDataPath('sigstore-js')`` on Linux,
#: ``$XDG_DATA_HOME`` or ``~/.local/share``, then the mirror's host.
SIGSTORE_JS_TUF = ".local/share/sigstore-js/tuf-repo-cdn.sigstore.dev/root.json"


def test_npm_publish_with_a_provenance_file_verifies_it_offline_against_our_tuf_root(
    npm_registry, alice, signed, package_dir
):
    """``npm publish --provenance-file <bundle>`` (libnpmpublish ``verifyProvenance``): the file's
    subject must be this version's purl and tarball, so the bundle npm stored for 1.1.0 cannot
    publish 1.2.0; a bundle our Sigstore signs for 1.2.0's tarball verifies through our TUF
    repository (the fixture puts our root where sigstore-js looks), and the registry accepts it."""
    token = alice.create_token(bypass_2fa=True)
    _, _, stored = signed
    cwd = package_dir("demo-pkg", "1.2.0", repository=REPOSITORY)
    old = cwd.parent / "demo-pkg-1.1.0.sigstore"
    old.write_text(json.dumps(stored))
    npm_registry.server.egress.clear()
    reused = npm_registry.npm("publish", "--provenance-file", str(old), "--access", "public", cwd=cwd, token=token)
    assert reused.returncode == 1
    assert reused.error_lines == [
        "npm error Provenance subject pkg:npm/demo-pkg@1.1.0 does not match the package: pkg:npm/demo-pkg@1.2.0"
    ]
    assert npm_registry.server.egress.connects() == []  # refused before any verification

    assert npm_registry.npm("pack", cwd=cwd).returncode == 0  # the bytes npm publish will send
    tarball_file = cwd / "demo-pkg-1.2.0.tgz"
    tarball = tarball_file.read_bytes()
    tarball_file.unlink()
    now = npm_registry.registry.clock.now()
    claims = identity.github_claims(
        repository=REPO, workflow="release.yml", visibility="public", audience=sigstore.SIGSTORE_AUDIENCE, now=now
    )
    new = cwd.parent / "demo-pkg-1.2.0.sigstore"
    new.write_bytes(sign_bundle(npm_registry, claims, {"name": "demo-pkg", "version": "1.2.0"}, tarball))

    # sigstore-js keeps its own TUF cache (npm calls it without options): the fixture seeded our
    # root there too (unseeded, it trusts Sigstore's production root and ends in
    # TUF_REFRESH_METADATA_ERROR, measured).
    home = Path(npm_registry.env(token)["HOME"])
    assert (home / SIGSTORE_JS_TUF).read_bytes() == npm_registry.registry.tuf.root()
    npm_registry.server.egress.clear()
    result = npm_registry.npm("publish", "--provenance-file", str(new), "--access", "public", cwd=cwd, token=token)
    assert result.returncode == 0, result
    assert result.stdout.splitlines() == ["+ demo-pkg@1.2.0"]
    assert {(c.host, c.allowed) for c in npm_registry.server.egress.connects()} == {("tuf-repo-cdn.sigstore.dev", True)}
    package = npm_registry.package("demo-pkg")
    assert json.loads(package.attachments("1.2.0")["demo-pkg-1.2.0.sigstore"]) == json.loads(new.read_bytes())
    assert package.provenance("1.2.0").subject == "pkg:npm/demo-pkg@1.2.0"


# -- an intoto 0.0.2 log entry's body (what @sigstore/verify tlog/intoto.js compares) ----------------


@pytest.mark.parametrize(
    ("logged_sig", "payload_hash", "why"),
    [
        (b"the-signature", "good", None),
        (b"another-signature", "good", "tlog entry signature mismatch"),
        (b"the-signature", "0" * 64, "DSSE payload hash mismatch"),
    ],
)
def test_an_intoto_entry_must_log_this_signature_and_payload(logged_sig, payload_hash, why):
    payload = b'{"_type": "https://in-toto.io/Statement/v0.1"}'
    parsed = bundles._Bundle("application/vnd.in-toto+json", payload, b"the-signature", None, {}, [])  # type: ignore[arg-type]
    digest = hashlib.sha256(payload).hexdigest() if payload_hash == "good" else payload_hash
    # Rekor keeps the signature base64-encoded twice (@sigstore/sign toProposedIntotoEntry).
    sig = base64.b64encode(base64.b64encode(logged_sig)).decode()
    body = {
        "kind": "intoto",
        "apiVersion": "0.0.2",
        "spec": {"content": {"envelope": {"signatures": [{"sig": sig}]}, "payloadHash": {"value": digest}}},
    }
    if why is None:
        bundles._verify_body(body, "intoto", "0.0.2", parsed)
    else:
        with pytest.raises(ProvenanceInvalid) as refused:
            bundles._verify_body(body, "intoto", "0.0.2", parsed)
        assert refused.value.reason == why
    body["spec"]["content"]["envelope"]["signatures"] = []
    with pytest.raises(ProvenanceInvalid, match="signature count mismatch"):
        bundles._verify_body(body, "intoto", "0.0.2", parsed)


# -- hostile bundles: a 422 naming the problem, never a 500 or a hang (review of issue 16) ------------


def _first_entry(bundle: dict) -> dict:
    return bundle["verificationMaterial"]["tlogEntries"][0]


def _log_id_a_string(bundle: dict) -> None:
    _first_entry(bundle)["logId"] = "not an object"


def _time_past_any_integer(bundle: dict) -> None:
    _first_entry(bundle)["integratedTime"] = float("inf")  # json.dumps writes Infinity, as 1e400 parses


def _payload_nested_past_the_interpreter(bundle: dict) -> None:
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(b"[" * 200_000 + b"]" * 200_000).decode()


def _checkpoint_a_string(bundle: dict) -> None:
    _first_entry(bundle)["inclusionProof"]["checkpoint"] = "a string"


@pytest.mark.parametrize(
    "alter",
    [_log_id_a_string, _time_past_any_integer, _payload_nested_past_the_interpreter, _checkpoint_a_string],
)
def test_a_malformed_bundle_is_a_422_not_a_500(npm_registry, alice, signed, alter):
    manifest, tarball, bundle = signed
    alter(bundle)
    answer = put_with_bundle(npm_registry, alice.create_token(bypass_2fa=True), manifest, tarball, bundle)
    assert answer.status == 422, answer.body[:300]
    assert answer.json()["error"].startswith("Error verifying sigstore provenance bundle: ")
    assert npm_registry.package("demo-pkg").versions == ["1.0.0", "1.1.0"]


def test_a_checkpoint_signature_name_is_not_run_as_a_pattern(npm_registry, alice, signed):
    """sigstore-js matches the log's URL against the signature's name as a regex; ours looks for the
    name literally, so a name built to backtrack for ever is refused at once."""
    manifest, tarball, bundle = signed
    proof = _first_entry(bundle)["inclusionProof"]["checkpoint"]
    head, _, signature = proof["envelope"].rpartition("\u2014 rekor.sigstore.dev ")
    proof["envelope"] = f"{head}\u2014 (.|.|.)*! {signature}"
    started = time.monotonic()
    answer = put_with_bundle(npm_registry, alice.create_token(bypass_2fa=True), manifest, tarball, bundle)
    assert (answer.status, answer.json()) == (422, refusal("invalid checkpoint signature"))
    assert time.monotonic() - started < 5
