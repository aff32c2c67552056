"""Fulcio's mapping of a CI id token's claims to a certificate: its SAN and its extensions.

Followed from Fulcio itself (``config/identity/config.yaml`` ``ci-issuer-metadata``, the
``github-type`` and ``gitlab-type`` templates; ``pkg/identity/ciprovider/principal.go``, which
renders them; ``pkg/certificate/extensions.go`` ``Render``, which encodes them; OIDs in
``docs/oid-info.md``). What that code does, and so what this does:

- every template is Go ``text/template`` over the claims merged over the issuer's defaults
  (``url``, and ``environment: ""``); a bare name is the claim itself. A claim a template names
  and the token lacks is an error (``missingkey=error``; ``value <x> not present in either claims
  or defaults``), and ``MakeX509`` turns it into a 400 with that text (``ca.ValidationError``);
- values are strings (``mapValuesToString``: a whole float as an integer, the rest ``%v``);
- an extension whose value is empty is left out; ``.1.1``-``.1.6`` (deprecated) are the raw
  string, ``.1.8`` and up a DER UTF8String; ``.1.8`` is always the issuer and ``.1.24`` the raw
  ``sub`` (fulcio#2307).
"""

from __future__ import annotations

import json
import re
from typing import Any

from . import identity

#: Fulcio's struct field for each extension arc (``Extensions``): the ``ExtensionName`` its errors name.
FIELDS = {
    "2": "GithubWorkflowTrigger",
    "3": "GithubWorkflowSHA",
    "4": "GithubWorkflowName",
    "5": "GithubWorkflowRepository",
    "6": "GithubWorkflowRef",
    "9": "BuildSignerURI",
    "10": "BuildSignerDigest",
    "11": "RunnerEnvironment",
    "12": "SourceRepositoryURI",
    "13": "SourceRepositoryDigest",
    "14": "SourceRepositoryRef",
    "15": "SourceRepositoryIdentifier",
    "16": "SourceRepositoryOwnerURI",
    "17": "SourceRepositoryOwnerIdentifier",
    "18": "BuildConfigURI",
    "19": "BuildConfigDigest",
    "20": "BuildTrigger",
    "21": "RunInvocationURI",
    "22": "SourceRepositoryVisibilityAtSigning",
    "23": "DeploymentEnvironment",
}

#: ``github-type``: the templates as Fulcio's config writes them, by arc.
GITHUB_TEMPLATES = {
    "2": "event_name",
    "3": "sha",
    "4": "workflow",
    "5": "repository",
    "6": "ref",
    "9": "{{ .url }}/{{ .job_workflow_ref }}",
    "10": "job_workflow_sha",
    "11": "runner_environment",
    "12": "{{ .url }}/{{ .repository }}",
    "13": "sha",
    "14": "ref",
    "15": "repository_id",
    "16": "{{ .url }}/{{ .repository_owner }}",
    "17": "repository_owner_id",
    "18": "{{ .url }}/{{ .workflow_ref }}",
    "19": "workflow_sha",
    "20": "event_name",
    "21": "{{ .url }}/{{ .repository }}/actions/runs/{{ .run_id }}/attempts/{{ .run_attempt }}",
    "22": "repository_visibility",
    "23": "environment",
}

#: ``gitlab-type`` (no deprecated ``.1.2``-``.1.6``: those were GitHub's).
GITLAB_TEMPLATES = {
    "9": "https://{{ .ci_config_ref_uri }}",
    "10": "ci_config_sha",
    "11": "runner_environment",
    "12": "{{ .url }}/{{ .project_path }}",
    "13": "sha",
    "14": 'refs/{{if eq .ref_type "branch"}}heads/{{ else }}tags/{{end}}{{ .ref }}',
    "15": "project_id",
    "16": "{{ .url }}/{{ .namespace_path }}",
    "17": "namespace_id",
    "18": "https://{{ .ci_config_ref_uri }}",
    "19": "ci_config_sha",
    "20": "pipeline_source",
    "21": "{{ .url }}/{{ .project_path }}/-/jobs/{{ .job_id }}",
    "22": "project_visibility",
    "23": "environment",
}

#: Issuer -> (defaults, SAN template, extension templates).
ISSUERS: dict[str, tuple[dict[str, str], str, dict[str, str]]] = {
    identity.GITHUB_ISSUER: (
        {"url": "https://github.com", "environment": ""},
        "{{ .url }}/{{ .job_workflow_ref }}",
        GITHUB_TEMPLATES,
    ),
    identity.GITLAB_ISSUER: (
        {"url": "https://gitlab.com", "environment": ""},
        "https://{{ .ci_config_ref_uri }}",
        GITLAB_TEMPLATES,
    ),
}

# The two actions Fulcio's templates use: a field, and an ``if eq .field "literal"``.
_ACTION = re.compile(r'\{\{\s*(?:\.(\w+)|if eq \.(\w+) "([^"]*)"\}\}(.*?)\{\{ else \}\}(.*?)\{\{end)\s*\}\}')


class MissingClaim(ValueError):
    """A claim a template names is not in the token: Fulcio's error text is the message."""


def _text(value: Any) -> str:
    """``mapValuesToString``: a whole number without a fraction, booleans as Go prints them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _missing(key: str, offset: int) -> MissingClaim:
    # text/template's ErrorContext: "<ParseName>:<line>:<byte offset of the node>", the template unnamed.
    return MissingClaim(f'template: :1:{offset}: executing "" at <.{key}>: map has no entry for key "{key}"')


def render(template: str, data: dict[str, str], *, issuer: str, field: str) -> str:
    """One template over ``data`` (claims over defaults), as ``applyTemplateOrReplace`` does."""
    if "{{" not in template:
        if template not in data:
            where = json.dumps({"ExtensionName": field, "Issuer": issuer}, indent="\t", sort_keys=True)
            raise MissingClaim(f"value <{template}> not present in either claims or defaults. {where}")
        return data[template]
    out, last = [], 0
    for match in _ACTION.finditer(template):
        out.append(template[last : match.start()])
        key = match.group(1) or match.group(2)
        if key not in data:
            raise _missing(key, template.index("." + key, match.start()))
        if match.group(1):
            out.append(data[key])
        else:
            out.append(match.group(4) if data[key] == match.group(3) else match.group(5))
        last = match.end()
    out.append(template[last:])
    return "".join(out)


def certificate_fields(claims: dict[str, Any]) -> tuple[str, dict[str, str]] | None:
    """``(SAN URI, {arc: value})`` for a token of GitHub Actions or GitLab, every non-empty
    extension Fulcio sets (``.1.1``, ``.1.8`` and ``.1.24`` included); None for another issuer.
    :class:`MissingClaim` when the token lacks a claim a template names."""
    issuer = str(claims.get("iss", ""))
    if issuer not in ISSUERS:
        return None
    defaults, san_template, templates = ISSUERS[issuer]
    data = {**defaults, **{key: _text(value) for key, value in claims.items()}}
    san = render(san_template, data, issuer=issuer, field="SubjectAlternativeName")
    extensions = {"1": issuer}
    rendered = {arc: render(t, data, issuer=issuer, field=FIELDS[arc]) for arc, t in templates.items()}
    extensions.update({arc: value for arc, value in rendered.items() if int(arc) < 8})
    extensions["8"] = issuer
    extensions.update({arc: value for arc, value in rendered.items() if int(arc) >= 8})
    extensions["24"] = str(claims.get("sub", ""))
    return san, {arc: value for arc, value in extensions.items() if value}
