"""`ferry expr`, driven through a small typer app with the command registered on it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from ferry.cli.expr_cmd import register


@pytest.fixture
def app() -> typer.Typer:
    application = typer.Typer()
    register(application)

    @application.callback()
    def root() -> None:
        """Keeps `expr` a sub-command, as under `ferry`."""

    return application


def run(app: typer.Typer, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["expr", *args])
    return result.exit_code, result.stdout, result.stderr


def test_prints_the_result_as_json(app: typer.Typer) -> None:
    code, out, err = run(app, "{{a.b}}", "--data", '{"a": {"b": [1, "二"]}}')
    assert (code, json.loads(out), err) == (0, [1, "二"], "")
    assert "二" in out  # not escaped


def test_function_with_variables_and_fixed_clock(app: typer.Typer) -> None:
    code, out, _ = run(
        app,
        "_function FROM_UNIXTIME({{LAST_SYNC_TIME}}-600,'%Y-%m-%d %H:%i:%s')",
        "--var",
        "LAST_SYNC_TIME=1704067200",
    )
    assert code == 0 and json.loads(out) == "2024-01-01 07:50:00"
    code, out, _ = run(app, "{{CURRENT_TIME|datetime}} {X}", "--now", "2024-03-15 12:00:00", "--var", "X=hi")
    assert code == 0 and json.loads(out) == "2024-03-15 12:00:00 hi"


def test_time_zone_option(app: typer.Typer) -> None:
    code, out, _ = run(app, "{{LAST_SYNC_TIME|datetime}}", "--var", "LAST_SYNC_TIME=0", "--tz", "UTC")
    assert code == 0 and json.loads(out) == "1970-01-01 00:00:00"


def test_data_from_a_file(app: typer.Typer, tmp_path: Path) -> None:
    path = tmp_path / "record.json"
    path.write_text(json.dumps({"单据编号": "AD-7"}), encoding="utf-8")
    code, out, _ = run(app, "_function LEFT('{{单据编号}}', 2)", "--data", f"@{path}")
    assert code == 0 and json.loads(out) == "AD"


def test_lookup_file(app: typer.Typer, tmp_path: Path) -> None:
    path = tmp_path / "rows.json"
    path.write_text(json.dumps({"s1": [{"code": "M1", "id": 9}]}), encoding="utf-8")
    code, out, _ = run(
        app,
        "_findCollection find id from s1 where code={{c}}",
        "--data",
        '{"c": "M1"}',
        "--lookup",
        f"@{path}",
    )
    assert code == 0 and json.loads(out) == 9


def test_error_goes_to_stderr_with_position_and_caret(app: typer.Typer) -> None:
    code, out, err = run(app, "_function 1 + nosuch(2)")
    assert code == 1 and out == ""
    lines = err.splitlines()
    assert lines[0] == "error: unknown function NOSUCH (line 1, column 15)"
    assert lines[1] == "  _function 1 + nosuch(2)"
    assert lines[2] == "  " + " " * 14 + "^"
    assert "Traceback" not in err


def test_caret_accounts_for_wide_characters(app: typer.Typer) -> None:
    code, _, err = run(app, "_function CONCAT('中文', bad(1))")
    lines = err.splitlines()
    assert code == 1
    # '中文' takes four terminal cells, so the caret sits under 'bad'.
    assert lines[2].index("^") == lines[1].index("bad") + 2


def test_compat_returns_raw_text(app: typer.Typer) -> None:
    code, out, _ = run(app, "_function nosuch({{a}})", "--data", '{"a": 1}', "--compat")
    assert code == 0 and json.loads(out) == "nosuch(1)"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["{{a}}", "--data", "{bad"], "--data is not valid JSON"),
        (["{{a}}", "--data", "[1]"], "must be a JSON object"),
        (["{{a}}", "--data", "@/no/such/file.json"], "cannot read"),
        (["{{a}}", "--var", "novalue"], "expected NAME=VALUE"),
        (["{{a}}", "--tz", "Nowhere/City"], "unknown time zone"),
        (["{{a}}", "--now", "later"], "--now 'later'"),
        (["{{a}}", "--lookup", "[]"], "--lookup must be"),
        (["{{a|nope}}"], "unknown pipe"),
    ],
)
def test_bad_inputs_exit_1_without_traceback(app: typer.Typer, args: list[str], fragment: str) -> None:
    code, out, err = run(app, *args)
    assert code == 1 and out == ""
    assert fragment in err and "Traceback" not in err


def test_value_errors_at_render_time_exit_1(app: typer.Typer) -> None:
    code, _, err = run(app, "{{x|date}}", "--data", '{"x": "soon"}')
    assert code == 1 and "cannot read 'soon'" in err
    assert err.splitlines()[2] == "  ^"
