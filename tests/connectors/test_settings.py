"""Connections: ${ENV} secrets from the environment or a secrets file, clear errors, nothing leaked."""

from __future__ import annotations

from pathlib import Path

import pytest

from ferry.connectors.settings import (
    ConnectionSettings,
    ConnectionSettingsError,
    connections_from_dict,
    find_connections,
    is_secret_key,
    load_connections,
    read_connections,
    read_secrets_file,
    require,
)
from ferry.observe.redact import REDACTOR, redact

CONNECTIONS_YAML = """\
orders_api:
  type: http
  base_url: ${ORDERS_URL:-http://localhost:9000}
  timeout: 15
  auth:
    type: bearer
    token: ${ORDERS_TOKEN}
kingdee_main:
  type: kingdee
  base_url: https://k3.example.com
  acct_id: "6123"
  username: ferry
  password: ${KD_PASSWORD}
  app_id: app-1
  app_secret: "${KD_APP_SECRET}"
"""


def write(tmp_path: Path, text: str, name: str = "connections.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_env_references_resolve_and_register_with_the_redactor(tmp_path: Path) -> None:
    path = write(tmp_path, CONNECTIONS_YAML)
    env = {
        "ORDERS_TOKEN": "tok-env-4f1c2a",
        "KD_PASSWORD": "kd-pass-2b9e71",
        "KD_APP_SECRET": "kd-appsecret-77aa",
    }
    conns = load_connections(path, env=env)
    assert set(conns) == {"orders_api", "kingdee_main"}
    orders = conns["orders_api"]
    assert isinstance(orders, ConnectionSettings)
    assert (orders.name, orders.type) == ("orders_api", "http")
    assert orders.settings == {
        "base_url": "http://localhost:9000",
        "timeout": 15,
        "auth": {"type": "bearer", "token": "tok-env-4f1c2a"},
    }
    assert conns["kingdee_main"].settings["password"] == "kd-pass-2b9e71"
    assert conns["kingdee_main"].settings["acct_id"] == "6123"
    for secret in env.values():
        assert secret in REDACTOR
        assert redact(f"x {secret} y") == "x *** y"


def test_the_default_applies_when_unset_or_empty_and_the_environment_wins_over_it(tmp_path: Path) -> None:
    d = {"c": {"type": "http", "base_url": "${URL:-http://fallback.example}", "x": "${X:-dflt}"}}
    assert connections_from_dict(d, env={"URL": ""})["c"].settings["base_url"] == "http://fallback.example"
    conns = connections_from_dict(d, env={"URL": "http://real.example", "X": "given"})
    assert conns["c"].settings == {"base_url": "http://real.example", "x": "given"}


def test_the_secrets_file_fills_what_the_environment_lacks(tmp_path: Path) -> None:
    secrets = write(
        tmp_path,
        "# Ferry secrets\n"
        "ORDERS_TOKEN=tok-file-9d8e7f\n"
        'export KD_PASSWORD="kd-file-pass 1"\n'
        "KD_APP_SECRET='kd-file-secret'\n"
        "\n",
        ".ferry-secrets-test",
    )
    env = {"FERRY_SECRETS_FILE": str(secrets), "ORDERS_TOKEN": "tok-env-wins-1"}
    conns = load_connections(write(tmp_path, CONNECTIONS_YAML), env=env)
    assert conns["orders_api"].settings["auth"]["token"] == "tok-env-wins-1"
    assert conns["kingdee_main"].settings["password"] == "kd-file-pass 1"
    assert conns["kingdee_main"].settings["app_secret"] == "kd-file-secret"
    assert "kd-file-pass 1" in REDACTOR


def test_the_default_secrets_file_in_the_working_directory_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(
        tmp_path,
        "ORDERS_TOKEN=tok-cwd-3a3a3a\nKD_PASSWORD=p-cwd-1\nKD_APP_SECRET=s-cwd-1\n",
        ".ferry-secrets",
    )
    write(tmp_path, CONNECTIONS_YAML)
    conns = load_connections(env={})
    assert conns["orders_api"].settings["auth"]["token"] == "tok-cwd-3a3a3a"


def test_ferry_connections_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "svc:\n  type: http\n  base_url: http://svc\n", "elsewhere.yaml")
    conns = load_connections(env={"FERRY_CONNECTIONS": str(path)})
    assert conns["svc"].settings == {"base_url": "http://svc"}


def test_a_missing_default_file_means_no_connections_but_a_named_one_must_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_connections(env={}) == {}
    with pytest.raises(ConnectionSettingsError, match="does not exist"):
        load_connections(tmp_path / "nope.yaml", env={})
    with pytest.raises(ConnectionSettingsError, match="does not exist"):
        load_connections(env={"FERRY_CONNECTIONS": str(tmp_path / "nope.yaml")})


def test_a_missing_secret_names_the_connection_the_key_and_the_variable(tmp_path: Path) -> None:
    path = write(tmp_path, CONNECTIONS_YAML)
    with pytest.raises(ConnectionSettingsError) as info:
        load_connections(path, env={"ORDERS_TOKEN": "tok-present-1", "KD_APP_SECRET": "shh-present-2"})
    text = str(info.value)
    assert "'kingdee_main'" in text
    assert "'password'" in text
    assert "${KD_PASSWORD}" in text
    assert "not set" in text
    # never any value, not even the ones that were found
    assert "tok-present-1" not in text and "shh-present-2" not in text


def test_a_missing_nested_secret_gives_its_dotted_key(tmp_path: Path) -> None:
    with pytest.raises(
        ConnectionSettingsError, match=r"'orders_api': key 'auth.token' refers to \$\{ORDERS_TOKEN\}"
    ):
        load_connections(write(tmp_path, CONNECTIONS_YAML), env={"KD_PASSWORD": "x", "KD_APP_SECRET": "y"})


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("password", "hunter2-literal"),
        ("app_secret", "abc123-literal"),
        ("api_key", "k-literal"),
        ("token", 123456),
        ("client_secret", "cs-literal"),
        ("X-Api-Key", "hdr-literal"),
    ],
)
def test_literal_secrets_are_rejected_without_echoing_them(key: str, value: object) -> None:
    with pytest.raises(
        ConnectionSettingsError, match="put secrets in the environment or the secrets file"
    ) as info:
        connections_from_dict({"svc": {"type": "http", "auth": {key: value}}}, env={})
    assert f"'auth.{key}'" in str(info.value)
    assert str(value) not in str(info.value)


def test_secret_keys_may_hold_references_mixed_with_text() -> None:
    conns = connections_from_dict(
        {"svc": {"type": "http", "headers": {"Authorization": "Token ${SVC_TOKEN}"}}},
        env={"SVC_TOKEN": "svc-tok-5e5e"},
    )
    assert conns["svc"].settings["headers"]["Authorization"] == "Token svc-tok-5e5e"


def test_secret_like_names() -> None:
    for name in (
        "password",
        "app_secret",
        "AppSecret",
        "api_key",
        "x-api-key",
        "access_token",
        "key",
        "token",
    ):
        assert is_secret_key(name), name
    for name in ("username", "app_key", "acct_id", "base_url", "name", "token_url", "token_path", "app_id"):
        assert not is_secret_key(name), name


def test_repr_never_shows_secret_values() -> None:
    conns = connections_from_dict(
        {
            "svc": {
                "type": "http",
                "base_url": "http://svc.example",
                "region": "${SVC_REGION}",
                "auth": {"type": "basic", "username": "ferry", "password": "${SVC_PASSWORD}"},
            }
        },
        env={"SVC_PASSWORD": "svc-pass-8c8c", "SVC_REGION": "cn-north-secretish"},
    )
    svc = conns["svc"]
    for text in (repr(svc), str(svc), repr(conns)):
        assert "svc-pass-8c8c" not in text
        assert "cn-north-secretish" not in text
        assert "http://svc.example" in text and "ferry" in text
    assert svc.masked()["auth"]["password"] == "***"


def test_dollar_dollar_is_a_literal_dollar() -> None:
    conns = connections_from_dict({"svc": {"type": "http", "note": "costs $$5 and $${NOT_A_VAR}"}}, env={})
    assert conns["svc"].settings["note"] == "costs $5 and ${NOT_A_VAR}"


def test_malformed_references_are_errors() -> None:
    with pytest.raises(ConnectionSettingsError, match="malformed reference"):
        connections_from_dict({"svc": {"type": "http", "base_url": "${1BAD}"}}, env={})
    with pytest.raises(ConnectionSettingsError, match="malformed reference"):
        connections_from_dict({"svc": {"type": "http", "base_url": "http://${HOST"}}, env={"HOST": "h"})


def test_shape_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConnectionSettingsError, match="needs a 'type'"):
        connections_from_dict({"svc": {"base_url": "http://x"}}, env={})
    with pytest.raises(ConnectionSettingsError, match="must be a mapping"):
        connections_from_dict({"svc": "http://x"}, env={})
    with pytest.raises(ConnectionSettingsError, match=r"connections.yaml:\d+:\d+: while parsing"):
        load_connections(write(tmp_path, "svc:\n  type: [http\n"), env={})
    assert load_connections(write(tmp_path, "# nothing yet\n"), env={}) == {}


def test_a_bad_secrets_file_line_says_where_not_what(tmp_path: Path) -> None:
    path = write(tmp_path, "GOOD=1\nthis-is-a-leaked-secret\n", "bad-secrets")
    with pytest.raises(ConnectionSettingsError, match=r"bad-secrets:2: expected KEY=VALUE") as info:
        read_secrets_file(path)
    assert "leaked" not in str(info.value)
    with pytest.raises(ConnectionSettingsError, match="not a file"):
        connections_from_dict({}, env={"FERRY_SECRETS_FILE": str(tmp_path / "absent")})


def test_require_lists_known_connections() -> None:
    conns = connections_from_dict({"a": {"type": "http"}, "b": {"type": "http"}}, env={})
    assert require(conns, "a").name == "a"
    with pytest.raises(ConnectionSettingsError, match=r"unknown connection 'c' \(known: a, b\)"):
        require(conns, "c")


# --- read with positions: every problem at once, each with its line and column ----------------------


def test_every_problem_of_a_connections_file_is_placed_and_listed_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "a:\n  type: http\n  auth: {type: bearer, token: tok-literal-1}\nb:\n  base_url: http://b\n"
        "c:\n  type: http\n  base_url: ${1BAD}\n",
    )
    with pytest.raises(ConnectionSettingsError) as info:
        load_connections(path, env={})
    lines = info.value.lines()
    assert [line.split(": ", 1)[0] for line in lines] == [f"{path}:3:24", f"{path}:4:1", f"{path}:8:3"]
    assert "literal secret" in lines[0] and "needs a 'type'" in lines[1] and "malformed reference" in lines[2]
    assert "tok-literal-1" not in str(info.value)


def test_read_connections_never_raises_for_what_the_file_holds(tmp_path: Path) -> None:
    for text in (
        "- a\n",
        "a: [unclosed\n",
        "a: &x [*x]\n",
        "\x00",
        "a: 1\n",
        "a:\n  type: http\n  k: ${UNSET_X}\n",
    ):
        file = read_connections(write(tmp_path, text), env={})
        assert file.problems, text
        assert file.connections == {}


def test_an_unset_reference_can_be_a_warning_and_the_entry_is_still_known(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "svc:\n  type: http\n  base_url: http://svc\n  auth:\n    type: bearer\n    token: ${SVC_T}\n",
    )
    file = read_connections(path, env={}, unresolved="warning")
    (warning,) = file.problems
    assert (warning.severity, warning.line, warning.column) == ("warning", 6, 5)
    assert file.entries["svc"].unresolved == frozenset({"auth.token"})
    assert "svc" not in file.connections  # not usable for a run until it is set


def test_find_connections_prefers_the_option_then_the_scheme_folder_then_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    scheme_dir = tmp_path / "schemes"
    scheme_dir.mkdir()
    env_file = write(tmp_path, "x: {type: http}\n", "env.yaml")
    env = {"FERRY_CONNECTIONS": str(env_file)}
    assert find_connections(None, beside=scheme_dir, env={}) == (None, False)
    assert find_connections(None, beside=scheme_dir, env=env) == (env_file, True)
    beside = write(scheme_dir, "x: {type: http}\n")
    assert find_connections(None, beside=scheme_dir, env=env) == (beside, False)
    named = tmp_path / "named.yaml"
    assert find_connections(named, beside=scheme_dir, env=env) == (named, True)
    cwd = write(tmp_path, "x: {type: http}\n")
    assert find_connections(None, env={}) == (Path("connections.yaml"), False) and cwd.exists()
