"""The standalone server: `pytest-npm-registry serve`, seed files, storage, and the CLI commands."""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_npm_registry import make_tarball, publish_document
from pytest_npm_registry.api.clients import isolated_env, run_npm
from pytest_npm_registry.cli import byte_size
from pytest_npm_registry.domain.packaging import manifest_for
from tests.conftest import HttpAnswer

SEED = """
policy = "current"

[[users]]
name = "maintainer"
tfa = "auth-and-writes"
totp_secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

[[users]]
name = "bot"

[[packages]]
name = "fauxauth"
versions = ["1.0.0"]
maintainers = ["maintainer", "bot"]

[[tokens]]
user = "bot"
name = "ci"
key = "npm_ci0000000000000000000000000000000000"
bypass_2fa = true
packages = ["fauxauth"]
"""


PROXY_NAMES = ["HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"]
PROVENANCE_SEED = """
[[users]]
name = "alice"

[[packages]]
name = "demo-pkg"
versions = ["1.0.0"]
maintainers = ["alice"]

[[trust]]
package = "demo-pkg"
github = { repository = "acme/demo", workflow = "release.yml" }
"""


class Served:
    """A `pytest-npm-registry serve` process and what it printed."""

    def __init__(self, *args: str, storage: Path | None = None, env: dict[str, str] | None = None) -> None:
        command = [sys.executable, "-m", "pytest_npm_registry", "serve", "--port", "0", "--json", *args]
        if storage is not None:
            command += ["--storage", str(storage)]
        self.started = time.monotonic()
        environment = {k: v for k, v in os.environ.items() if k != "NPM_REGISTRY_ADMIN_TOKEN"} | (env or {})
        self.proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"serve failed: {self.proc.stderr.read() if self.proc.stderr else ''}")
        self.info = json.loads(line)
        self.url: str = self.info["url"]
        self.admin: str = self.info["admin_token"]

    def http(
        self,
        method: str,
        path: str,
        body: object = None,
        token: str | None = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> HttpAnswer:
        """``body`` goes as JSON; ``raw`` as it is, form-encoded as curl's ``--data-binary`` sends it."""
        from http.client import HTTPConnection
        from urllib.parse import urlsplit

        parts = urlsplit(self.url)
        conn = HTTPConnection(parts.hostname, parts.port, timeout=30)
        sent = {"content-type": "application/json" if raw is None else "application/x-www-form-urlencoded"}
        sent |= headers or {}
        if token:
            sent["authorization"] = f"Bearer {token}"
        data = raw if raw is not None else None if body is None else json.dumps(body)
        conn.request(method, path, body=data, headers=sent)
        answer = conn.getresponse()
        result = HttpAnswer(answer.status, answer.reason, dict(answer.getheaders()), answer.read())
        conn.close()
        return result

    def control(self, method: str, path: str, body: object = None) -> HttpAnswer:
        return self.http(method, f"/-/_mock/api/{path}", body, token=self.admin)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=10)


@pytest.fixture
def serve() -> Iterator[type[Served]]:
    started: list[Served] = []

    class Tracked(Served):
        def __init__(self, *args: str, storage: Path | None = None, env: dict[str, str] | None = None) -> None:
            super().__init__(*args, storage=storage, env=env)
            started.append(self)

    yield Tracked
    for served in started:
        if served.proc.poll() is None:
            served.proc.kill()
            served.proc.wait()


@pytest.fixture
def seed_file(tmp_path: Path) -> Path:
    path = tmp_path / "seed.toml"
    path.write_text(SEED)
    return path


def _npm(served: Served, tmp_path: Path, npmrc: str, *args: str, cwd: Path | None = None):
    workdir = tmp_path / "npm"
    workdir.mkdir(exist_ok=True)
    userconfig = workdir / "npmrc"
    userconfig.write_text(npmrc + "fetch-retries=0\nupdate-notifier=false\nfund=false\n")
    return run_npm(list(args), env=isolated_env(workdir, userconfig), cwd=cwd or workdir)


def test_serve_prints_npmrc_lines_that_real_npm_uses(serve, seed_file, tmp_path, package_dir):
    served = serve("--seed", str(seed_file))
    (token,) = served.info["tokens"]
    assert token["token"] == "npm_ci0000000000000000000000000000000000"
    host = served.url.split("://", 1)[1]
    assert token["npmrc"] == f"registry={served.url}\n//{host}:_authToken={token['token']}\n"
    whoami = _npm(served, tmp_path, token["npmrc"], "whoami")
    assert whoami.stdout == "bot\n", whoami
    published = _npm(served, tmp_path, token["npmrc"], "publish", cwd=package_dir("fauxauth", "1.1.0"))
    assert published.returncode == 0, published
    assert served.stop() == 0  # SIGTERM: a clean stop


def test_serve_text_output_and_sigint(serve, seed_file):
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest_npm_registry", "serve", "--port", "0", "--seed", str(seed_file)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    head = [proc.stdout.readline() for _ in range(7)]
    assert head[0].startswith("Mock npm registry listening on http://127.0.0.1:")
    url = head[0].split()[5]
    assert head[1].startswith("Control API: http://127.0.0.1:")
    assert "admin token: " in head[1]
    # The dashboard's address carries its secret path (the admin cookie's Path); it needs the token.
    assert re.fullmatch(
        rf"Dashboard: {re.escape(url)}-/_mock/[0-9a-f]{{32}}/  \(sign in with the admin token\)\n", head[2]
    )
    assert head[4] == "# .npmrc for bot (ci):\n"
    rest = []
    while not rest or rest[-1] != "Ctrl-C to stop.\n":
        rest.append(proc.stdout.readline())
    block = rest.index("# For scripts: the way out (mock Sigstore for --provenance; every other host refused):\n")
    exports = dict(line.removeprefix("export ").rstrip("\n").split("=", 1) for line in rest[block + 1 : block + 9])
    assert list(exports) == [*PROXY_NAMES, "NODE_EXTRA_CA_CERTS", "NODE_USE_ENV_PROXY", "NO_PROXY", "no_proxy"]
    assert exports["HTTPS_PROXY"].startswith("http://127.0.0.1:")
    assert Path(exports["NODE_EXTRA_CA_CERTS"]).read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert rest[block + 9] == "# For npm audit signatures: our TUF root, once per npm cache:\n"
    tuf = re.fullmatch(
        r'# d="\$\(npm config get cache\)/_tuf/tuf-repo-cdn\.sigstore\.dev"; '
        r'mkdir -p "\$d" && cp (\S+) "\$d/root\.json"\n',
        rest[block + 10],
    )
    assert tuf is not None, rest[block + 10]
    assert json.loads(Path(tuf[1]).read_text())["signed"]["_type"] == "root"
    assert rest[block + 11] == (
        "# (npm publish --provenance-file reads sigstore-js's own copy: "
        "~/.local/share/sigstore-js/tuf-repo-cdn.sigstore.dev/root.json)\n"
    )
    assert rest[block + 12 :] == ["\n", "Ctrl-C to stop.\n"]
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 0


def test_cli_commands_talk_to_a_running_server(serve, seed_file):
    served = serve("--seed", str(seed_file))
    env = {**os.environ, "NPM_REGISTRY_URL": served.url, "NPM_REGISTRY_ADMIN_TOKEN": served.admin}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pytest_npm_registry", *args], env=env, capture_output=True, text=True, check=False
        )

    otp = cli("otp", "maintainer")
    assert otp.returncode == 0, otp.stderr
    assert len(otp.stdout.strip()) == 6
    assert cli("clock", "advance", "3600").returncode == 0
    journal = cli("journal", "--json")
    assert journal.returncode == 0
    assert isinstance(json.loads(journal.stdout), list)
    assert cli("reset", "--empty").stdout.strip() == "current"
    state = served.control("GET", "state").json()
    assert state["users"] == []
    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest_npm_registry",
            "otp",
            "maintainer",
            "--url",
            served.url,
            "--admin-token",
            "nope",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 1
    assert "401" in refused.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[[users]]\nname = "a"\ntfa = "sometimes"\n', "seed.toml:3: users[0].tfa: "),
        ('[[users]]\nname = "a"\ncolour = "red"\n', "seed.toml:3: users[0].colour: unknown field"),
        ('[[users]]\npassword = "x"\n', "seed.toml:1: users[0].name: is required"),
        ('[[users]]\nname = "a"\n\n[[tokens]]\nuser = "a"\nkey = "short"\n', "seed.toml:6: tokens[0].key: "),
        (
            '[[packages]]\nname = "p"\nversions = [{ version = "1.0.0", tarball = "nope.tgz" }]\nmaintainers = ["a"]\n',
            "seed.toml:3: packages[0].versions: ",
        ),
        ('[[users]\nname = "a"\n', "seed.toml:1: invalid TOML"),
        ('policy = "modern"\n', "seed.toml:1: policy: unknown policy 'modern'"),
        ('[[widgets]]\nname = "a"\n', "unknown section(s) ['widgets']"),
    ],
    ids=[
        "bad-value",
        "unknown-field",
        "missing-field",
        "bad-token-key",
        "missing-tarball",
        "toml-syntax",
        "bad-policy",
        "unknown-section",
    ],
)
def test_invalid_seed_files_fail_at_start_naming_file_line_and_field(tmp_path, text, expected):
    seed = tmp_path / "seed.toml"
    seed.write_text(text)
    result = subprocess.run(
        [sys.executable, "-m", "pytest_npm_registry", "serve", "--port", "0", "--seed", str(seed)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert expected in result.stderr, result.stderr
    assert str(seed) in result.stderr


def test_seed_with_a_tarball_orgs_and_trust(npm_registry, tmp_path):
    manifest = manifest_for("@acme/lib", "2.0.0")
    (tmp_path / "lib.tgz").write_bytes(make_tarball(manifest))
    seed = tmp_path / "seed.toml"
    seed.write_text(
        '[[users]]\nname = "owner"\n\n[[orgs]]\nname = "acme"\nowner = "owner"\n\n'
        '[[packages]]\nname = "@acme/lib"\nversions = [{ version = "2.0.0", tarball = "lib.tgz" }]\n'
        'maintainers = ["owner"]\naccess = "public"\nrequirement = "publish"\n\n'
        '[[trust]]\npackage = "@acme/lib"\ngithub = { repository = "acme/lib", workflow = "release.yml" }\n'
    )
    npm_registry.seed(seed)
    package = npm_registry.package("@acme/lib")
    assert package.tarball("2.0.0") == (tmp_path / "lib.tgz").read_bytes()
    assert package.publish_requirement.value == "publish"
    assert npm_registry.registry.state.trust["@acme/lib"][0].claims["repository"] == "acme/lib"


def test_restart_from_storage_after_a_clean_stop(serve, seed_file, tmp_path):
    storage = tmp_path / "registry.db"
    first = serve("--seed", str(seed_file), storage=storage)
    assert first.control("POST", "clock", {"advance": 600}).status == 200
    assert first.stop() == 0
    second = serve("--seed", str(seed_file), storage=storage)  # the seed is not applied twice
    state = second.control("GET", "state").json()
    assert state["users"] == ["bot", "maintainer"]
    assert state["packages"] == {"fauxauth": ["1.0.0"]}
    assert second.info["tokens"] == []
    whoami = second.http("GET", "/-/whoami", token="npm_ci0000000000000000000000000000000000")
    assert whoami.json() == {"username": "bot"}


def _publish_body(version: str) -> tuple[dict[str, object], str]:
    manifest = manifest_for("fauxauth", version)
    tarball = make_tarball(manifest, {"index.js": f"module.exports = '{version}';\n"})
    return publish_document(manifest, tarball), "sha512-" + base64.b64encode(hashlib.sha512(tarball).digest()).decode()


def test_restart_after_kill_9_keeps_exactly_the_acknowledged_publishes(serve, seed_file, tmp_path):
    storage = tmp_path / "registry.db"
    first = serve("--seed", str(seed_file), storage=storage)
    token = "npm_ci0000000000000000000000000000000000"
    acknowledged: dict[str, str] = {}
    stop = threading.Event()

    def publish_stream() -> None:
        for minor in range(1, 10_000):
            if stop.is_set():
                return
            version = f"1.{minor}.0"
            body, integrity = _publish_body(version)
            try:
                answer = first.http("PUT", "/fauxauth", body, token=token)
            except OSError:
                return  # the server died mid-request: not acknowledged
            if answer.status == 200:
                acknowledged[version] = integrity

    thread = threading.Thread(target=publish_stream)
    thread.start()
    while len(acknowledged) < 25:
        time.sleep(0.01)
    first.proc.kill()  # SIGKILL, in the middle of the stream
    first.proc.wait()
    stop.set()
    thread.join()

    second = serve(storage=storage)
    doc = second.http("GET", "/fauxauth").json()
    stored = set(doc["versions"]) - {"1.0.0"}
    assert set(acknowledged) <= stored  # no acknowledged publish lost
    assert len(stored - set(acknowledged)) <= 1  # at most the one in flight, stored whole
    for version in stored:
        manifest = doc["versions"][version]
        tarball = second.http("GET", f"/fauxauth/-/fauxauth-{version}.tgz")
        assert tarball.status == 200
        digest = "sha512-" + base64.b64encode(hashlib.sha512(tarball.body).digest()).decode()
        assert manifest["dist"]["integrity"] == digest  # no partial version
        if version in acknowledged:
            assert digest == acknowledged[version]
    assert doc["dist-tags"]["latest"] in doc["versions"]


def test_serve_flags_outlive_a_control_api_reset(serve):
    served = serve("--max-body", "1MB", "--auto-approve-web-auth")
    assert served.control("POST", "reset", {}).status == 200
    settings = served.control("POST", "settings", {}).json()
    assert (settings["max_body"], settings["auto_approve_web_auth"]) == (1_000_000, True)


def test_serve_visibility_delay_hides_a_new_version_until_the_clock_passes_it(serve):
    served = serve("--visibility-delay", "90")
    assert served.control("POST", "reset", {}).status == 200  # kept, like the other serve flags
    assert served.control("POST", "settings", {}).json()["visibility_delay"] == 90
    served.control("POST", "users", {"name": "dana", "tfa": "auth-and-writes"})
    assert served.control("POST", "packages", {"name": "late-pkg", "by": "dana"}).status == 201
    token = served.control("POST", "users/dana/tokens", {"bypass_2fa": True}).json()["token"]
    document = publish_document(manifest_for("late-pkg", "1.1.0"))
    assert served.http("PUT", "/late-pkg", document, token=token).status == 200
    assert served.http("GET", "/late-pkg").json()["dist-tags"]["latest"] == "1.0.0"
    served.control("POST", "clock", {"advance": 91})
    assert served.http("GET", "/late-pkg").json()["dist-tags"]["latest"] == "1.1.0"


def test_serve_max_body_refuses_a_larger_publish_with_413(serve):
    served = serve("--max-body", "1kB")
    answer = served.http("PUT", "/demo-pkg", {"padding": "x" * 1000})
    assert (answer.status, answer.reason) == (413, "Payload Too Large")
    assert answer.json() == {"error": "Request body of 1015 bytes exceeds the 1000-byte limit"}
    assert served.control("POST", "settings", {}).json()["max_body"] == 1000


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1048576", 1048576),
        ("500kB", 500_000),
        ("1KB", 1000),
        (" 10 MB ", 10_000_000),
        ("256MiB", 256 * 1024**2),
        ("2 gib", 2 * 1024**3),
        ("1024GiB", 1 << 40),
    ],
)
def test_max_body_sizes(text, size):
    assert byte_size(text) == size


@pytest.mark.parametrize(
    "text", ["0", "-5", "10XB", "1.5MB", "MB", "", "1025GiB", "9" * 5000, "\u0661\u0660MB", "10\u00a0MB"]
)
def test_a_bad_max_body_size_stops_serve_with_a_usage_error(text):
    message = (
        f"{text!r} is not a size from 1 byte to 1TiB: give a number of bytes, or one with kB, MB, GB, KiB, MiB or GiB"
    )
    with pytest.raises(argparse.ArgumentTypeError) as raised:
        byte_size(text)
    assert str(raised.value) == message
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_npm_registry", "serve", "--port", "0", "--max-body", text],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 2
    assert f"argument --max-body: {message}" in proc.stderr


def test_storage_keeps_every_part_of_the_registry_state(tmp_path):
    # Saved from the registry's own attributes, not a hand list: the download counts behind the
    # unpublish rule (300 a week) used to be left out, so a restart reset them.
    from pytest_npm_registry import NpmRegistry
    from tests.conftest import http

    path = tmp_path / "state.sqlite"
    with NpmRegistry(storage=path) as first:
        first.add_user("alice")
        first.publish("demo-pkg", by="alice")
        assert http(first, "GET", "/demo-pkg/-/demo-pkg-1.0.0.tgz").status == 200
        first.server.storage.save(first.registry)
        saved = repr(first.registry.data())
    second = NpmRegistry(storage=path)
    try:
        assert second.restored
        assert len(second.registry.state.downloads["demo-pkg"]) == 1
        assert repr(second.registry.data()) == saved
    finally:
        second.close()


def test_a_download_is_saved_before_its_answer(tmp_path):
    # GETs that change the registry are saved too: a download counts toward the unpublish rule.
    from pytest_npm_registry import NpmRegistry
    from tests.conftest import http

    path = tmp_path / "state.sqlite"
    with NpmRegistry(storage=path) as first:
        first.add_user("alice")
        assert (
            http(
                first,
                "POST",
                "/-/_mock/api/packages",
                json_body={"name": "demo-pkg", "by": "alice"},
                token=first.admin_token,
            ).status
            == 201
        )
        assert http(first, "GET", "/demo-pkg/-/demo-pkg-1.0.0.tgz").status == 200
        # What a restart after a crash would read: a copy (the running server holds the file's lock).
        crashed = tmp_path / "crashed.sqlite"
        for suffix in ("", "-wal"):
            if Path(f"{path}{suffix}").exists():
                shutil.copyfile(f"{path}{suffix}", f"{crashed}{suffix}")
        second = NpmRegistry(storage=crashed)
        try:
            assert len(second.registry.state.downloads["demo-pkg"]) == 1
        finally:
            second.close()


def _cli(served: Served, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "NPM_REGISTRY_URL": served.url, "NPM_REGISTRY_ADMIN_TOKEN": served.admin, **env}
    return subprocess.run(
        [sys.executable, "-m", "pytest_npm_registry", *args],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_reset_brings_the_seed_back_unless_empty(serve, seed_file):
    served = serve("--seed", str(seed_file))
    token = "npm_ci0000000000000000000000000000000000"
    assert served.control("POST", "users", {"name": "carol"}).status == 201
    assert _cli(served, "reset").stdout == "current\n"
    # The seeded CI token still works after a reset between two pipeline runs; carol is gone.
    assert served.control("GET", "state").json()["users"] == ["bot", "maintainer"]
    assert served.http("GET", "/-/whoami", token=token).json() == {"username": "bot"}
    assert served.control("POST", "reset", {"empty": True}).json() == {"policy": "current"}
    assert served.control("GET", "state").json()["users"] == []
    assert served.control("POST", "reset", {"policy": "classic"}).json() == {"policy": "classic"}
    assert served.control("GET", "state").json()["users"] == ["bot", "maintainer"]  # the seed, under classic
    assert served.control("POST", "reset", {"empty": "yes"}).json() == {
        "error": "control API: POST reset: empty must be true or false, not 'yes'"
    }


def test_the_seed_command_and_endpoint_take_toml_and_json(serve, tmp_path):
    served = serve()
    toml = tmp_path / "ci.toml"
    toml.write_text('[[users]]\nname = "bot"\n\n[[tokens]]\nuser = "bot"\nname = "ci"\nkey = "npm_' + "c" * 36 + '"\n')
    seeded = _cli(served, "seed", str(toml))
    host = served.url.split("://", 1)[1]
    assert seeded.stdout == (
        f"seeded users: bot\n\n# .npmrc for bot (ci):\nregistry={served.url}\n//{host}:_authToken=npm_{'c' * 36}\n"
    ), seeded.stderr
    as_json = tmp_path / "more.json"
    as_json.write_text(json.dumps({"users": [{"name": "carol"}]}))
    assert json.loads(_cli(served, "seed", str(as_json), "--json").stdout) == {"users": ["carol"], "tokens": []}
    # The endpoint reads TOML too, as `curl --data-binary @seed.toml` sends it (form-encoded).
    answer = served.http("POST", "/-/_mock/api/seed", token=served.admin, raw=b'[[users]]\nname = "dave"\n')
    assert (answer.status, answer.json()) == (201, {"users": ["dave"], "tokens": []})
    toml.write_text('[[users]]\nname = "erin"\ntfa = "sometimes"\n')
    refused = _cli(served, "seed", str(toml))
    assert refused.returncode == 1
    assert refused.stderr.startswith("pytest-npm-registry seed: POST seed: 400 ci.toml:3: users[0].tfa: ")
    assert served.control("GET", "state").json()["users"] == ["bot", "carol", "dave"]


def test_add_user_and_create_token_commands_print_what_a_script_needs(serve):
    served = serve()
    made = _cli(
        served, "add-user", "alice", "--tfa", "auth-and-writes", "--totp-secret", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    )
    lines = made.stdout.splitlines()
    assert lines[:2] == [
        "alice <alice@example.com> tfa=auth-and-writes",
        "totp secret: JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP  (the current code: pytest-npm-registry otp alice)",
    ], made.stderr
    assert lines[2].startswith("recovery codes: ")
    token = _cli(served, "create-token", "alice", "--bypass-2fa", "--package", "my-lib", "--json")
    data = json.loads(token.stdout)
    host = served.url.split("://", 1)[1]
    assert data["kind"] == "granular"
    assert data["npmrc"] == f"registry={served.url}\n//{host}:_authToken={data['token']}\n"
    assert served.http("GET", "/-/whoami", token=data["token"]).json() == {"username": "alice"}
    text = _cli(served, "create-token", "alice", "--kind", "session")
    assert text.stdout.splitlines()[:2] == ["# .npmrc for alice (session token):", f"registry={served.url}"]
    unknown = _cli(served, "create-token", "nobody")
    assert (unknown.returncode, unknown.stderr) == (
        1,
        "pytest-npm-registry create-token: POST users/nobody/tokens: 400 no user 'nobody' (have: ['alice'])\n",
    )


def test_the_admin_token_comes_from_the_environment_and_must_be_long(serve):
    stable = "ci-admin-token-0123456789"
    served = serve(env={"NPM_REGISTRY_ADMIN_TOKEN": stable})
    assert served.admin == stable
    assert served.control("GET", "state").status == 200
    short = subprocess.run(
        [sys.executable, "-m", "pytest_npm_registry", "serve", "--port", "0", "--admin-token", "a"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert (short.returncode, short.stdout, short.stderr) == (
        2,
        "",
        "pytest-npm-registry serve: the admin token must be at least 16 characters, not 1: it is all that guards "
        "the control API (leave it out for a random one)\n",
    )


def test_the_default_port_is_not_verdaccios():
    from pytest_npm_registry.cli import DEFAULT_PORT, DEFAULT_URL

    assert (DEFAULT_PORT, DEFAULT_URL) == (4880, "http://127.0.0.1:4880/")
    assert "4880" in (Path(__file__).parent.parent / "docs" / "standalone.md").read_text()


def test_the_text_journal_names_the_credential_and_the_otp_path(serve, seed_file):
    served = serve("--seed", str(seed_file))
    otp = served.control("GET", "users/maintainer/otp").json()["otp"]
    session = served.control("POST", "users/maintainer/tokens", {"kind": "session"}).json()["token"]
    # Moving `latest` is a write: the maintainer's auth-and-writes 2FA asks for the OTP.
    tagged = served.http(
        "PUT", "/-/package/fauxauth/dist-tags/latest", "1.0.0", token=session, headers={"npm-otp": otp}
    )
    assert tagged.status == 201
    lines = _cli(served, "journal").stdout.splitlines()
    assert lines[-1].endswith(
        f"  dist-tag-add fauxauth@1.0.0 tag=latest by maintainer (session {session[:8]}...) otp=totp -> 201 accepted"
    )


def test_a_closed_pipe_ends_the_journal_quietly(serve, seed_file):
    served = serve("--seed", str(seed_file))
    for _ in range(3):
        served.http("GET", "/-/whoami", token="npm_ci0000000000000000000000000000000000")
    env = {**os.environ, "NPM_REGISTRY_URL": served.url, "NPM_REGISTRY_ADMIN_TOKEN": served.admin}
    env.pop("PYTHONUNBUFFERED", None)  # buffered, as in most shells: the pipe error comes at the last flush
    # `journal --json | head -c0`: the reader is gone before the first line is written.
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest_npm_registry", "journal", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    proc.stdout.close()
    assert proc.wait(timeout=30) == 141
    assert proc.stderr.read() == b""


def test_a_server_restarted_from_storage_still_resets_to_its_seed(serve, seed_file, tmp_path):
    storage = tmp_path / "registry.db"
    assert serve("--seed", str(seed_file), storage=storage).stop() == 0
    second = serve("--seed", str(seed_file), storage=storage)  # restored: the seed is not applied again
    assert second.control("POST", "users", {"name": "carol"}).status == 201
    assert second.control("POST", "reset", {}).status == 200
    assert second.control("GET", "state").json()["users"] == ["bot", "maintainer"]


def test_serve_exports_the_way_out_so_a_script_signs_provenance_offline(serve, tmp_path, package_dir):
    """A script outside Python with only what `serve --env-file` wrote (and the job's variables
    from `POST ci/github`): a trusted publish from a public repository signs with the mock
    Sigstore, and no Node process resolves a name or opens a socket beyond loopback."""
    from tests.test_provenance import assert_only_loopback, read_trace, trace_env

    seed = tmp_path / "seed.toml"
    seed.write_text(PROVENANCE_SEED)
    env_file = tmp_path / "registry.env"
    served = serve("--seed", str(seed), "--env-file", str(env_file))
    exported = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
    assert exported == served.info["env"]
    assert list(exported) == [*PROXY_NAMES, "NODE_EXTRA_CA_CERTS", "NODE_USE_ENV_PROXY", "NO_PROXY", "no_proxy"]
    assert exported["NO_PROXY"] == "127.0.0.1,localhost,::1"
    job = served.control(
        "POST", "ci/github", {"repository": "acme/demo", "workflow": "release.yml", "visibility": "public"}
    ).json()["env"]
    home = tmp_path / "home"
    home.mkdir()
    (home / ".npmrc").write_text(f"registry={served.url}\nfetch-retries=0\nupdate-notifier=false\n")
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "npm_config_cache": str(tmp_path / "cache")}
    env |= exported | job | trace_env(tmp_path)
    package = package_dir("demo-pkg", "1.1.0", repository="https://github.com/acme/demo")
    published = run_npm(["publish"], env=env, cwd=package)
    assert published.returncode == 0, published
    assert "publish Signed provenance statement with source and build information from GitHub Actions" in (
        published.notices
    )
    packument = served.http("GET", "/demo-pkg").json()
    assert packument["versions"]["1.1.0"]["dist"]["attestations"]["provenance"] == {
        "predicateType": "https://slsa.dev/provenance/v1"
    }
    trace = read_trace(tmp_path)
    assert_only_loopback(trace)
    assert served.stop() == 0


def test_a_script_outside_python_audits_signatures_with_the_printed_tuf_root(serve, tmp_path):
    """`npm audit signatures` in a shell script against `serve`: with the exported variables and
    our TUF root copied where `serve` says, npm verifies what it installed, reaching only loopback."""
    from tests.test_provenance import assert_only_loopback, read_trace, trace_env

    seed = tmp_path / "seed.toml"
    seed.write_text(PROVENANCE_SEED)
    served = serve("--seed", str(seed))
    home = tmp_path / "home"
    home.mkdir()
    (home / ".npmrc").write_text(f"registry={served.url}\nfetch-retries=0\nupdate-notifier=false\n")
    app = tmp_path / "app"
    app.mkdir()
    (app / "package.json").write_text('{"name": "app", "version": "1.0.0"}')
    script = (
        "set -e\n"
        'd="$(npm config get cache)/_tuf/tuf-repo-cdn.sigstore.dev"; mkdir -p "$d"\n'
        f'cp {served.info["tuf_root"]} "$d/root.json"\n'
        "npm install demo-pkg@1.0.0 --no-audit\nnpm audit signatures\n"
    )
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "npm_config_cache": str(tmp_path / "cache")}
    env |= served.info["env"] | trace_env(tmp_path)
    done = subprocess.run(
        ["bash", "-c", script], cwd=app, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 package has a verified registry signature" in done.stdout.splitlines()
    trace = read_trace(tmp_path)
    assert_only_loopback(trace)
    assert served.stop() == 0


def test_serve_env_file_that_cannot_be_written_stops_serve(tmp_path):
    missing = tmp_path / "no-such-folder" / "registry.env"
    result = subprocess.run(
        [sys.executable, "-m", "pytest_npm_registry", "serve", "--port", "0", "--env-file", str(missing)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert (result.returncode, result.stderr) == (
        2,
        f"pytest-npm-registry serve: --env-file {missing}: No such file or directory\n",
    )


def test_the_provenance_shell_recipe_runs_as_written(tmp_path, package_dir):
    """docs/trusted-publishing.md's `serve` recipe, on a free port instead of 4880 (others may be
    listening there), then the server stopped."""
    from tests.test_trusted_publishing import provenance_section

    (block,) = re.findall(r"^```bash\n(.*?)^```", provenance_section(), re.MULTILINE | re.DOTALL)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    script = "trap 'kill $(jobs -p) 2>/dev/null; wait' EXIT\n" + block.replace("4880", str(port))
    (tmp_path / "seed.toml").write_text(PROVENANCE_SEED)
    package = package_dir("demo-pkg", "1.1.0", repository="https://github.com/acme/demo")
    shutil.copy(tmp_path / "seed.toml", package / "seed.toml")
    home = tmp_path / "home"
    home.mkdir()
    (home / ".npmrc").write_text("fetch-retries=0\nupdate-notifier=false\n")
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "npm_config_cache": str(tmp_path / "cache")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"  # this venv's pytest-npm-registry
    done = subprocess.run(
        ["bash", "-e", "-c", script], cwd=package, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "npm notice publish Signed provenance statement with source and build information from GitHub Actions" in (
        done.stderr.splitlines()
    )
    assert "+ demo-pkg@1.1.0" in done.stdout.splitlines()


def test_the_dashboard_secret_path_outlives_a_restart_and_stays_out_of_the_log(serve):
    # The secret is an HMAC of the admin token and the origin: the same token and port after a
    # restart give the same address, and the browser's cookie still works there.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    token = "ci-admin-token-0123456789"
    first = serve("--port", str(port), "--log-level", "debug", env={"NPM_REGISTRY_ADMIN_TOKEN": token})
    dashboard = first.info["dashboard"]
    secret = dashboard.split("/")[-2]
    assert dashboard == f"{first.url}-/_mock/{secret}/"
    assert re.fullmatch(r"[0-9a-f]{32}", secret)
    signed_in = first.http("GET", f"/-/_mock/?token={token}")
    assert signed_in.headers["Location"] == f"/-/_mock/{secret}/"
    cookie = {"cookie": signed_in.headers["Set-Cookie"].split(";", 1)[0]}
    home = f"/-/_mock/{secret}/"
    assert first.http("GET", f"{home}?part=main", headers=cookie).status == 200
    forged = first.http("POST", f"{home}login/0000000000000000/approve", raw=b"user=x", headers={"origin": "http://x"})
    assert forged.status == 403
    assert first.http("GET", f"{home}nope", headers=cookie).status == 501
    assert first.stop() == 0
    assert first.proc.stderr is not None
    log = first.proc.stderr.read()
    assert "/-/_mock/.../login/0000000000000000/approve" in log  # the refusal is logged, redacted
    assert secret not in log
    second = serve("--port", str(port), env={"NPM_REGISTRY_ADMIN_TOKEN": token})
    assert second.info["dashboard"] == dashboard
    assert second.http("GET", f"{home}?part=main", headers=cookie).status == 200
