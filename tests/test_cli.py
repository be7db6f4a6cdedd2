"""The command line as a user runs it: real processes against an emulator process.

One emulator process (``python -m backendless_aio emulator``, on a SQLite file, with a canary
API key) serves the whole module; each test uses its own email. The CLI runs as
``python -m backendless_aio`` and as the ``backendless-aio`` console script, with a private
HOME and none of the caller's BACKENDLESS_* variables.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import select
import signal
import stat
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest

from backendless_aio import cli
from backendless_aio import errors as bl_errors
from backendless_aio.demo import PHONE_NUMBERS
from backendless_aio.emulator import DEFAULT_API_KEY, DEFAULT_APP_ID

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(sys.executable).with_name("backendless-aio")
APP_ID = "CLI-TEST-APP"
API_KEY = "CANARY-API-KEY-4b1d7e"  # must never be printed
PASSWORD = "Canary-Passw0rd-9f3a"  # must never be printed
TIMEOUT = 60


@attrs.frozen
class EmulatorProcess:
    url: str
    proc: subprocess.Popen[str]

    def stored_user(self, object_id: str) -> dict[str, Any]:
        """The user as the emulator stores it, with its JSON types (admin route)."""
        with urllib.request.urlopen(f"{self.url}/__emulator__/users/{object_id}",
                                    timeout=10) as answer:
            data: dict[str, Any] = json.loads(answer.read())
        return data


@pytest.fixture(scope="module")
def emulator_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    db = tmp_path_factory.mktemp("emulator") / "emu.sqlite3"
    proc = subprocess.Popen(
        [sys.executable, "-m", "backendless_aio", "emulator", "--port", "0",
         "--fast-password-hashing", "--db", str(db), "--app-id", APP_ID, "--api-key", API_KEY],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(), cwd=ROOT)
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], TIMEOUT)
        first = proc.stdout.readline() if ready else ""
        prefix = "Backendless emulator listening on "
        assert first.startswith(prefix), (first, proc.poll())
        yield EmulatorProcess(first[len(prefix):].strip(), proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without the caller's Backendless settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("BACKENDLESS_") and k != "XDG_CONFIG_HOME"}
    env.update(extra)
    return env


@attrs.frozen
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


@attrs.define
class Cli:
    """Runs the CLI against the emulator process, as a user with this HOME would."""

    home: Path
    emulator: EmulatorProcess
    outputs: list[str] = attrs.field(factory=list)

    def env(self, **extra: str) -> dict[str, str]:
        return clean_env(HOME=str(self.home), BACKENDLESS_SERVER_URL=self.emulator.url,
                         BACKENDLESS_APP_ID=APP_ID, BACKENDLESS_API_KEY=API_KEY, **extra)

    def __call__(self, *args: str, stdin: str | None = None, script: bool = False,
                 env: Mapping[str, str] | None = None) -> Result:
        command = [str(SCRIPT)] if script else [sys.executable, "-m", "backendless_aio"]
        done = subprocess.run([*command, *args], input=stdin, capture_output=True, text=True,
                              env=dict(env) if env is not None else self.env(),
                              cwd=self.home, timeout=TIMEOUT, check=False)
        result = Result(done.returncode, done.stdout, done.stderr)
        self.outputs.append(result.text)
        assert "Traceback" not in result.err, result.err
        return result

    @property
    def session_file(self) -> Path:
        return self.home / ".config" / "backendless-aio" / "sessions.json"

    def stored_sessions(self) -> dict[str, dict[str, str]]:
        data: dict[str, dict[str, str]] = json.loads(self.session_file.read_text())
        return data


@pytest.fixture
def run(tmp_path: Path, emulator_process: EmulatorProcess) -> Cli:
    home = tmp_path / "home"
    home.mkdir()
    return Cli(home, emulator_process)


def assert_no_secrets(outputs: list[str], *secrets: str) -> None:
    for text in outputs:
        for secret in (API_KEY, PASSWORD, *secrets):
            assert secret not in text


# -- the demo -------------------------------------------------------------------------------


def test_demo_with_no_configuration_runs_the_three_styles(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "backendless_aio", "demo"], capture_output=True,
                          text=True, env=clean_env(HOME=str(tmp_path)), cwd=tmp_path,
                          timeout=TIMEOUT, check=False)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "embedded Backendless emulator" in out
    for style in ("await style", "callback style", "blocking style"):
        assert style in out
    assert "on_ok: phoneNumber = " + PHONE_NUMBERS[1] in out
    # the structured events, readably
    assert '· backendless.users.update  route="PUT users/{objectId}"' in out
    assert "changed=phoneNumber status=200" in out
    assert "fault_code=3003" in out and "[3003] Invalid login or password" in out
    # the updated user at the end, as the server has it
    final = out[out.index("the updated user"):]
    assert "email          demo@example.com" in final
    assert f"phoneNumber    {PHONE_NUMBERS[2]}" in final
    assert out.rstrip().endswith(f"has phoneNumber {PHONE_NUMBERS[2]} (set with await, then a "
                                 f"callback, then a blocking call)")
    assert DEFAULT_API_KEY not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
    assert not (tmp_path / ".config").exists()  # the demo keeps no session


def test_demo_console_script_against_a_configured_server(run: Cli) -> None:
    result = run("demo", script=True)
    assert result.code == 0, result.err
    assert "use your Backendless app" in result.out
    assert f"server: {run.emulator.url} (app {APP_ID})" in result.out
    assert "register demo-" in result.out  # a unique email on a real server
    assert f"has phoneNumber {PHONE_NUMBERS[2]}" in result.out
    assert_no_secrets(run.outputs)


def test_demo_with_only_a_server_url_uses_the_emulator_defaults(run: Cli) -> None:
    result = run("demo", "--server-url", "http://127.0.0.1:1",
                 env=clean_env(HOME=str(run.home)))
    assert result.code == 1  # nothing listens there
    assert f"using the local emulator's default ones (app {DEFAULT_APP_ID})" in result.err
    assert result.err.splitlines()[-1].startswith("error: the server could not be reached")
    assert DEFAULT_API_KEY not in result.text


# -- users ----------------------------------------------------------------------------------


def test_users_register_login_whoami_update_unset_logout(run: Cli) -> None:
    email = "ada@example.com"
    registered = run("users", "register", email, "--password-stdin", "--name", "Ada",
                     "--set", "age=36", stdin=PASSWORD + "\n", script=True)
    assert registered.code == 0, registered.err
    assert registered.out.startswith(f"registered {email} (objectId ")
    assert f"backendless-aio users login {email}" in registered.err
    object_id = registered.out.split("objectId ")[1].split(")")[0]
    assert run.emulator.stored_user(object_id)["age"] == 36

    logged_in = run("users", "login", email, "--password-stdin", "--json",
                    stdin=PASSWORD + "\n")
    assert logged_in.code == 0, logged_in.err
    assert json.loads(logged_in.out)["objectId"] == object_id  # only JSON on stdout
    assert f"logged in as {email} (objectId {object_id})" in logged_in.err
    assert "warning: the session token is stored in clear text in " \
           f"{run.session_file}" in logged_in.err
    # the token file: private, and where the warning says
    assert stat.S_IMODE(run.session_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(run.session_file.parent.stat().st_mode) == 0o700
    (session,) = run.stored_sessions().values()
    token = session["user_token"]
    assert session["object_id"] == object_id and token

    whoami = run("users", "whoami", script=True)
    assert whoami.code == 0, whoami.err
    assert f"email          {email}" in whoami.out and "name           Ada" in whoami.out

    updated = run("users", "update", "--set", "score=42", "--set", "height=1.5",
                  "--set", "vip=true", "--set", "muted=false", "--set", "nickname=null",
                  "--set", 'label="42"', "--set", "city=Oslo", "--set", "motto=hello world",
                  "--set-string", "zip=01234", "--set-string", "code=7", "--unset", "name")
    assert updated.code == 0, updated.err
    assert "score          42" in updated.out and "code           \"7\"" in updated.out
    stored = run.emulator.stored_user(object_id)
    expected = {"score": 42, "height": 1.5, "vip": True, "muted": False, "nickname": None,
                "label": "42", "city": "Oslo", "motto": "hello world", "zip": "01234",
                "code": "7", "name": None, "age": 36}
    for key, value in expected.items():
        assert stored[key] == value and type(stored[key]) is type(value), key

    as_json = run("users", "whoami", "--json")
    assert as_json.code == 0, as_json.err
    shown = json.loads(as_json.out)
    assert shown["score"] == 42 and shown["vip"] is True and shown["code"] == "7"
    assert shown["objectId"] == object_id and "password" not in shown

    logged_out = run("users", "logout")
    assert logged_out.code == 0, logged_out.err
    assert logged_out.out.startswith("logged out of ")
    assert run.stored_sessions() == {}
    again = run("users", "logout")
    assert again.code == 0 and "nothing to do" in again.out

    gone = run("users", "whoami")
    assert gone.code == 1
    assert gone.err.startswith("error: [3028] no session for ")
    assert_no_secrets(run.outputs, token)


def test_wrong_password_exits_1_with_3003_and_no_traceback(run: Cli) -> None:
    email = "grace@example.com"
    assert run("users", "register", email, "--password-stdin", stdin=PASSWORD).code == 0
    result = run("users", "login", email, "--password-stdin", stdin="Wrong-Passw0rd\n",
                 script=True)
    assert result.code == 1
    assert result.err == "error: [3003] Invalid login or password\n"
    assert result.out == ""
    assert not run.session_file.exists()
    assert "Wrong-Passw0rd" not in result.text
    assert_no_secrets(run.outputs)


def test_a_fault_prints_its_code_and_the_servers_message_only(run: Cli) -> None:
    assert run("users", "register", "alan@example.com", "--password-stdin",
               stdin=PASSWORD).code == 0
    twice = run("users", "register", "alan@example.com", "--password-stdin", stdin=PASSWORD)
    assert twice.code == 1
    (line,) = twice.err.splitlines()
    # The server's own words after the code; no class description phrase in front of them.
    assert line == "error: [3033] User already exists."
    assert bl_errors.UserAlreadyExists.MEANING not in line and " — " not in line
    assert_no_secrets(run.outputs)


def test_an_expired_session_is_reported_and_dropped(run: Cli) -> None:
    email = "edsger@example.com"
    assert run("users", "register", email, "--password-stdin", stdin=PASSWORD).code == 0
    assert run("users", "login", email, "--password-stdin", stdin=PASSWORD).code == 0
    sessions = run.stored_sessions()
    (key,) = sessions
    sessions[key]["user_token"] = "NOT-A-LIVE-TOKEN-1234"
    run.session_file.write_text(json.dumps(sessions))
    result = run("users", "whoami")
    assert result.code == 1
    assert result.err.startswith("error: [3064] Not existing user token - <redacted>.")
    assert "NOT-A-LIVE-TOKEN-1234" not in result.text
    assert run.stored_sessions() == {}


def test_session_file_option_and_variable(run: Cli, tmp_path: Path) -> None:
    email = "barbara@example.com"
    assert run("users", "register", email, "--password-stdin", stdin=PASSWORD).code == 0
    by_option = tmp_path / "by-option" / "s.json"
    result = run("users", "login", email, "--password-stdin", "--session-file", str(by_option),
                 stdin=PASSWORD)
    assert result.code == 0 and str(by_option) in result.err
    assert stat.S_IMODE(by_option.stat().st_mode) == 0o600
    by_env = tmp_path / "by-env.json"
    env = run.env(BACKENDLESS_AIO_SESSION_FILE=str(by_env))
    assert run("users", "whoami", env=env).code == 1  # nothing in that file yet
    by_env.write_bytes(by_option.read_bytes())
    whoami = run("users", "whoami", env=env)
    assert whoami.code == 0 and email in whoami.out
    assert not run.session_file.exists()
    assert run("users", "--session-file", str(by_option), "logout").code == 0


@pytest.mark.parametrize(("args", "message"), [
    (["users", "whoami"], "error: which Backendless app? give --app-id and --api-key"),
    (["users", "update", "--app-id", "A", "--api-key", "K"], "error: nothing to update"),
    (["users", "update", "--app-id", "A", "--api-key", "K", "--set", "password=x"],
     "the password cannot be given on the command line"),
    (["users", "update", "--app-id", "A", "--api-key", "K", "--set", "novalue"],
     "expected KEY=VALUE"),
    (["users", "login", "x@example.com", "--app-id", "A"], "--api-key (or BACKENDLESS_API_KEY)"),
    (["users", "login", "x@example.com", "--domain", "https://x.example", "--app-id", "A"],
     "either --domain or --app-id"),
    (["users", "login", "x@example.com", "--server-url", "ftp://x", "--password-stdin"],
     "error: server_url must be an http(s) URL"),
    (["users", "login", "x@example.com", "--app-id", "A", "--api-key", "K",
      "--password-stdin"], "error: the password is empty"),
    (["users", "register", "x@example.com", "--app-id", "A", "--api-key", "K",
      "--password-stdin", "--set", "a=1", "--set", "b=2"], "error: the password is empty"),
])
def test_usage_errors_exit_2(args: list[str], message: str, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("BACKENDLESS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert cli.main(args) == 2
    captured = capsys.readouterr()
    assert message in captured.err and "Traceback" not in captured.err
    assert not (tmp_path / ".config").exists()


def test_usage_error_from_the_console_script(run: Cli) -> None:
    result = run("users", "frobnicate", script=True)
    assert result.code == 2
    assert "invalid choice: 'frobnicate'" in result.err


# -- the examples ---------------------------------------------------------------------------


@pytest.mark.parametrize("example", ["asyncio_service.py", "callback_style.py",
                                     "blocking_style.py"])
def test_example_runs_against_the_embedded_emulator(example: str, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-W", "error::ResourceWarning",
                           str(ROOT / "examples" / example)], capture_output=True, text=True,
                          env=clean_env(HOME=str(tmp_path)), cwd=tmp_path, timeout=TIMEOUT,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
    assert "[3003] invalid login or password" in done.stdout


# -- the pure parts, in process ---------------------------------------------------------------


@pytest.mark.parametrize(("text", "value"), [
    ("42", 42), ("-7", -7), ("1.5", 1.5), ("1e3", 1000.0), ("true", True), ("false", False),
    ("null", None), ('"42"', "42"), ('"true"', "true"), ("[1, 2]", [1, 2]),
    ('{"a": 1}', {"a": 1}), ("Oslo", "Oslo"), ("", ""), ("01234", "01234"),
    ("True", "True"), ("NaN", "NaN"), ("1e400", "1e400"), ("hello world", "hello world"),
])
def test_parse_value(text: str, value: Any) -> None:
    parsed = cli.parse_value(text)
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize("value", [42, 1.5, True, None, "42", "true", "Oslo", "", "01234",
                                   "null", '"quoted"', "a=b"])
def test_format_value_round_trips_through_parse_value(value: Any) -> None:
    assert cli.parse_value(cli.format_value(value)) == value


def namespace(**values: str) -> argparse.Namespace:
    return argparse.Namespace(**values)


def test_resolve_connection_precedence() -> None:
    env = {"BACKENDLESS_APP_ID": "ENV-APP", "BACKENDLESS_API_KEY": "ENV-KEY",
           "BACKENDLESS_SERVER_URL": "http://env.example"}
    assert cli.resolve_connection(namespace(), {}) is None
    conn = cli.resolve_connection(namespace(), env)
    assert conn is not None and conn.client_kwargs() == {
        "app_id": "ENV-APP", "api_key": "ENV-KEY", "server_url": "http://env.example"}
    conn = cli.resolve_connection(namespace(app_id="OPT-APP"), env)
    assert conn is not None and (conn.app_id, conn.api_key) == ("OPT-APP", "ENV-KEY")
    conn = cli.resolve_connection(namespace(domain="https://my.example"), env)
    assert conn is not None and conn.client_kwargs() == {"domain": "https://my.example"}
    conn = cli.resolve_connection(namespace(), {"BACKENDLESS_DOMAIN": "https://d.example"})
    assert conn is not None and conn.domain == "https://d.example"
    with pytest.raises(cli.UsageError):
        cli.resolve_connection(namespace(), {**env, "BACKENDLESS_DOMAIN": "https://d.example"})
    conn = cli.resolve_connection(namespace(server_url="http://127.0.0.1:9"), {})
    assert conn is not None and conn.app_id == DEFAULT_APP_ID and conn.note
    assert "ENV-KEY" not in repr(cli.resolve_connection(namespace(), env))


def test_main_returns_the_exit_code(monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("BACKENDLESS_APP_ID", "BACKENDLESS_API_KEY", "BACKENDLESS_SERVER_URL",
                 "BACKENDLESS_DOMAIN"):
        monkeypatch.delenv(name, raising=False)
    assert cli.main(["users", "whoami"]) == 2
    assert cli.main(["--help"]) == 0
    assert cli.main([]) == 2
    assert "usage: backendless-aio" in capsys.readouterr().out


def test_users_find_and_count(run: Cli) -> None:
    for i, name in enumerate(["Finn", "Fay", "Fox"]):
        done = run("users", "register", f"find{i}@example.com", "--password-stdin", "--name",
                   name, "--set", f"rank={i}", "--set", "team=\"finders\"",
                   stdin=PASSWORD + "\n")
        assert done.code == 0, done.err
    found = run("users", "find", "--where", "team = 'finders' AND rank >= 1", "--sort",
                "rank DESC", "--props", "email,rank", "--json", script=True)
    assert found.code == 0, found.err
    assert [(u["email"], u["rank"]) for u in json.loads(found.out)] == [
        ("find2@example.com", 2), ("find1@example.com", 1)]
    assert "2 user(s)" in found.err
    page = run("users", "find", "--where", "team = 'finders'", "--sort", "rank",
               "--page-size", "2")
    assert page.code == 0, page.err
    assert "find0@example.com" in page.out and "find1@example.com" in page.out
    assert "find2@example.com" not in page.out and "--offset 2 or --all" in page.err
    everyone = run("users", "find", "--where", "team = 'finders'", "--all", "--page-size", "1")
    assert everyone.code == 0 and everyone.out.count("@example.com") >= 3
    counted = run("users", "count", "--where", "team = 'finders'")
    assert (counted.code, counted.out.strip()) == (0, "3")
    bad = run("users", "find", "--where", "rank = 'high'")
    assert bad.code == 1 and bad.err.startswith("error: [1017]") and "rank" in bad.err
    usage = run("users", "find", "--page-size", "101")
    assert usage.code == 2 and "1 to 100" in usage.err
    assert_no_secrets(run.outputs)
