"""A version's provenance as data: what its ``.sigstore`` bundle says about where it was built.

Read from the two signed parts of the bundle npm attaches on ``npm publish --provenance``: the
Fulcio certificate (its extensions carry the CI job's identity as the issuer attested it; OIDs in
Fulcio's ``docs/oid-info.md``) and the in-toto statement (what npm wrote about the build:
``libnpmpublish/lib/provenance.js``, SLSA v1 on GitHub Actions, SLSA v0.2 on GitLab CI). The
certificate wins where both say something: npm fills the statement from environment variables,
Fulcio fills the certificate from the id token.

Nothing is verified here (``sigstore.check_bundle`` is the registry's check on publish); this is
what a test reads back, as npmjs.com's provenance panel shows it.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, fields
from typing import Any

from .sigstore import FULCIO_OID, decode_extension, provenance_bundle

#: Fulcio's extension arc (``1.3.6.1.4.1.57264.1.<n>``).
#: Where npm links a log entry (``libnpmpublish/lib/publish.js`` ``TLOG_BASE_URL``).
TLOG_SEARCH_URL = "https://search.sigstore.dev/"


class UnreadableProvenance(ValueError):
    """A ``.sigstore`` attachment that is not a Sigstore bundle with a certificate and a statement."""


@dataclass(frozen=True)
class Provenance:
    """What a version's provenance attestation says: ``reg.package(name).provenance(version)``.

    From the Fulcio certificate (what the CI's id token said), else from npm's statement:

    - ``subject`` (``pkg:npm/<name>@<version>``) and ``sha512`` (hex, the tarball's);
      ``predicate_type`` (``https://slsa.dev/provenance/v1`` on GitHub Actions, ``.../v0.2``
      on GitLab CI) and ``statement_type`` (``https://in-toto.io/Statement/v1`` / ``v0.1``);
    - ``issuer`` (``https://token.actions.githubusercontent.com``, ``https://gitlab.com``) and
      ``identity``, the certificate's SAN: the workflow that signed, ``...@refs/heads/main``;
    - ``repository``, the source repository (``https://github.com/acme/demo``: what
      package.json's ``repository.url`` must name), ``repository_visibility`` (``public`` /
      ``private``), ``workflow`` (``.github/workflows/release.yml``, ``.gitlab-ci.yml``; the
      calling workflow of a reusable one), ``ref`` (``refs/heads/main``), ``commit``;
    - ``builder`` (``https://github.com/actions/runner/github-hosted``), ``runner_environment``
      (``github-hosted``), ``trigger`` (``push``), ``run_url`` (the run, or GitLab's job);
    - ``log_index`` and ``integrated_time`` of the Rekor entry (``log_url`` is npm's link).

    ``None`` where the source says nothing.
    """

    subject: str
    sha512: str
    predicate_type: str
    statement_type: str
    issuer: str
    identity: str
    repository: str
    repository_visibility: str | None
    workflow: str
    ref: str
    commit: str | None
    builder: str | None
    runner_environment: str | None
    trigger: str | None
    run_url: str | None
    log_index: int | None
    integrated_time: int | None

    @property
    def log_url(self) -> str | None:
        """The link npm prints: ``https://search.sigstore.dev/?logIndex=<n>``."""
        return None if self.log_index is None else f"{TLOG_SEARCH_URL}?logIndex={self.log_index}"

    @classmethod
    def field_names(cls) -> list[str]:
        """The fields, in order (what ``assert_published(..., provenance={...})`` may name)."""
        return [f.name for f in fields(cls)]

    def differences(self, expected: dict[str, Any]) -> list[str]:
        """``"<field> is <found>, not <expected>"`` for each field of ``expected`` this differs in."""
        return [
            f"{key} is {getattr(self, key)!r}, not {value!r}"
            for key, value in expected.items()
            if getattr(self, key) != value
        ]

    def __str__(self) -> str:
        return f"{self.repository} {self.workflow}@{self.ref}" + (f" ({self.commit[:12]})" if self.commit else "")


def provenance_of(attachments: dict[str, bytes]) -> Provenance | None:
    """The provenance of a version from its attachments; None when it was published without."""
    bundle = provenance_bundle(attachments)
    return None if bundle is None else read_provenance(bundle)


def read_provenance(bundle: bytes) -> Provenance:
    """The :class:`Provenance` of a ``.sigstore`` bundle; :class:`UnreadableProvenance` if it is none."""
    from cryptography import x509  # noqa: PLC0415 - lazy, as in sigstore.py

    try:
        document = json.loads(bundle)
        material = document["verificationMaterial"]
        leaf = x509.load_der_x509_certificate(base64.b64decode(material["certificate"]["rawBytes"]))
        statement = json.loads(base64.b64decode(document["dsseEnvelope"]["payload"]))
        subject = statement["subject"][0]
        entries = material.get("tlogEntries") or [{}]
        if not isinstance(statement, dict) or not isinstance(subject, dict):
            raise TypeError("the statement is not an in-toto statement")
    except (AttributeError, KeyError, IndexError, TypeError, ValueError) as exc:
        why = f"{type(exc).__name__}: {exc}"[:200]
        raise UnreadableProvenance(f"not a Sigstore bundle with a certificate and a statement ({why})") from None
    ext = _extensions(leaf)
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        identity = next(iter(san.get_values_for_type(x509.UniformResourceIdentifier)), "")
    except x509.ExtensionNotFound:
        identity = ""
    repository = ext.get("12", "")
    facts = _statement_facts(statement)
    # The workflow that ran (.1.18, the caller of a reusable workflow), else the signer (SAN).
    workflow, ref = _workflow(ext.get("18") or identity, repository)
    entry = entries[0] if isinstance(entries[0], dict) else {}
    return Provenance(
        subject=str(subject.get("name", "")),
        sha512=str((subject.get("digest") or {}).get("sha512", "")),
        predicate_type=str(statement.get("predicateType", "")),
        statement_type=str(statement.get("_type", "")),
        issuer=ext.get("8") or ext.get("1", ""),
        identity=identity,
        repository=repository,
        repository_visibility=ext.get("22"),
        workflow=workflow or facts.get("workflow", ""),
        ref=ext.get("14") or ref,
        commit=ext.get("13") or facts.get("commit"),
        builder=facts.get("builder"),
        runner_environment=ext.get("11"),
        trigger=ext.get("20"),
        run_url=ext.get("21") or facts.get("run_url"),
        log_index=_int(entry.get("logIndex")),
        integrated_time=_int(entry.get("integratedTime")),
    )


def _extensions(leaf: Any) -> dict[str, str]:
    """Fulcio's extensions by their last arc: ``.1``-``.6`` are raw strings (the issuer, GitHub's
    deprecated trigger, commit, workflow, repository and ref), ``.8`` and up DER UTF8Strings."""
    found: dict[str, str] = {}
    for extension in leaf.extensions:
        oid = extension.oid.dotted_string
        raw = getattr(extension.value, "value", None)
        if not oid.startswith(FULCIO_OID) or not isinstance(raw, bytes):
            continue
        arc = oid.removeprefix(FULCIO_OID)
        found[arc] = decode_extension(arc, raw)
    return found


def _statement_facts(statement: dict[str, Any]) -> dict[str, str]:
    """The workflow, commit, builder and run npm wrote into the statement (SLSA v1 or v0.2)."""
    predicate = statement.get("predicate") or {}
    facts: dict[str, Any] = {}
    if "buildDefinition" in predicate:  # SLSA v1: GitHub Actions
        definition = predicate.get("buildDefinition") or {}
        workflow = (definition.get("externalParameters") or {}).get("workflow") or {}
        dependencies = definition.get("resolvedDependencies") or [{}]
        details = predicate.get("runDetails") or {}
        facts = {
            "workflow": workflow.get("path"),
            "commit": (dependencies[0].get("digest") or {}).get("gitCommit"),
            "builder": (details.get("builder") or {}).get("id"),
            "run_url": (details.get("metadata") or {}).get("invocationId"),
        }
    elif "invocation" in predicate:  # SLSA v0.2: GitLab CI
        invocation = predicate.get("invocation") or {}
        environment = invocation.get("environment") or {}
        facts = {
            "workflow": (environment.get("pipeline") or {}).get("ref"),
            "commit": ((invocation.get("configSource") or {}).get("digest") or {}).get("sha1"),
            "builder": (predicate.get("builder") or {}).get("id"),
            "run_url": (predicate.get("metadata") or {}).get("buildInvocationId"),
        }
    return {key: value for key, value in facts.items() if isinstance(value, str) and value}


def _workflow(uri: str, repository: str) -> tuple[str, str]:
    """``(path, ref)`` of a build config URI: ``<repository>/<path>@<ref>`` (GitLab puts ``//``
    between the project and the file)."""
    if not uri or not repository or not uri.startswith(repository + "/"):
        return "", ""
    rest = uri.removeprefix(repository).lstrip("/")
    path, _, ref = rest.rpartition("@")
    return (path, ref) if path else (rest, "")


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
