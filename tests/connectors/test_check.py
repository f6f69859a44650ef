"""A scheme checked against its connectors' specs and its connections: typos in params, probe and
lookups are errors at their key; a side whose connector is unknown is a warning, never silence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ferry.connectors.check import check_connections, check_scheme
from ferry.connectors.settings import ConnectionSettingsError, load_connections, read_connections
from ferry.scheme import Problem, load_scheme

ROOT = Path(__file__).parents[2]
FLAGSHIP = ROOT / "examples" / "dingtalk-payapply-to-paybill.yaml"
REST = ROOT / "examples" / "rest-orders-to-erp.yaml"

CONNECTIONS = """\
dingtalk_main:
  type: dingtalk
  app_key: dingabc123
  app_secret: ${DT_SECRET}
kingdee_main:
  type: kingdee
  base_url: https://k3.example.com/k3cloud/
  auth_mode: signed_headers
  acct_id: "6123"
  username: ferry
  app_id: app-1
  app_secret: ${KD_SECRET}
"""
ENV = {"DT_SECRET": "dt-secret-value-1", "KD_SECRET": "kd-secret-value-2"}


def variant(tmp_path: Path, *edits: tuple[str, str], base: Path = FLAGSHIP, name: str = "s.yaml") -> Path:
    text = base.read_text("utf-8")
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def line_of(path: Path, needle: str) -> int:
    return next(n for n, line in enumerate(path.read_text("utf-8").splitlines(), 1) if needle in line)


def errors(problems: list[Problem]) -> dict[str, Problem]:
    return {p.path: p for p in problems if p.is_error}


def test_the_examples_check_clean_by_their_connector_keys() -> None:
    for path in (FLAGSHIP, REST, ROOT / "examples" / "qingyi" / "dingtalk-payapply-to-paybill.json"):
        assert check_scheme(load_scheme(path)) == [], path


@pytest.mark.parametrize(
    ("old", "new", "path", "suggestion"),
    [
        ("    max_age_days: 60", "    max_age_dyas: 60", "source.params.max_age_dyas", "max_age_days"),
        ("    process_code: PROC", "    proces_code: PROC", "source.params.proces_code", "process_code"),
        (
            "    source_number_field:",
            "    source_numbr_field:",
            "target.probe.source_numbr_field",
            "source_number_field",
        ),
        ("      where: {FBillNo:", "      wher: {FBillNo:", "enrich[0].query.wher", "where"),
    ],
)
def test_a_typo_in_params_probe_or_query_is_an_error_at_its_key(
    tmp_path: Path, old: str, new: str, path: str, suggestion: str
) -> None:
    p = variant(tmp_path, (old, new))
    found = errors(check_scheme(load_scheme(p)))
    assert path in found, [str(x) for x in found.values()]
    problem = found[path]
    assert problem.message == f"unknown key (did you mean {suggestion!r}?)"
    assert (problem.file, problem.line) == (str(p), line_of(p, new.strip().split(":")[0]))
    # the key it replaced may be required (process_code is): the typo explains that, it is not said twice
    assert [x for x in found.values() if x.message == "required key is missing"] == []


def test_wrong_types_in_params_are_errors_too(tmp_path: Path) -> None:
    p = variant(tmp_path, ("    max_age_days: 60", "    max_age_days: sixty"))
    problem = errors(check_scheme(load_scheme(p)))["source.params.max_age_days"]
    assert "valid number" in problem.message and problem.line == line_of(p, "max_age_days")


def test_a_dingtalk_target_is_refused(tmp_path: Path) -> None:
    p = variant(tmp_path, ("  connector: kingdee\n", "  connector: dingtalk\n"))
    problem = errors(check_scheme(load_scheme(p)))["target.connector"]
    assert "the dingtalk connector cannot be a target" in problem.message


def test_an_unknown_connector_type_suggests_the_closest(tmp_path: Path) -> None:
    p = variant(tmp_path, ("  connector: dingtalk ", "  connector: dingtak "))
    problem = errors(check_scheme(load_scheme(p)))["source.connector"]
    assert "unknown connector 'dingtak' (did you mean 'dingtalk'?)" in problem.message


def test_a_side_nothing_says_the_connector_of_is_a_warning_not_silence(tmp_path: Path) -> None:
    p = variant(tmp_path, ("  connector: dingtalk ", "  # "), ("  connector: kingdee\n", ""))
    problems = check_scheme(load_scheme(p))
    assert [p.severity for p in problems] == ["warning", "warning", "warning"]
    texts = [str(x) for x in problems]
    assert any("source.params not checked: say 'connector: TYPE' on the side" in t for t in texts)
    assert any("target.params not checked" in t for t in texts)
    assert any("enrich[0].query not checked" in t for t in texts)


def test_the_rest_connector_checks_its_side_params_and_probe(tmp_path: Path) -> None:
    p = variant(
        tmp_path,
        ("params: {id_path: id,", "params: {id_pth: id,"),
        ("    found_path: items", "    fund_path: items"),
        base=REST,
    )
    found = errors(check_scheme(load_scheme(p)))
    assert "did you mean 'id_path'" in found["target.params.id_pth"].message
    assert "did you mean 'found_path'" in found["target.probe.fund_path"].message


def test_a_near_miss_of_a_connector_key_on_a_qingyi_side_is_an_error(tmp_path: Path) -> None:
    doc = {
        "id": "q",
        "source": {"connector": "http", "api": "/orders"},
        "target": {"connector": "http", "api": "/docs", "batch_mdoe": "array", "colour": 1},
    }
    p = tmp_path / "q.json"
    p.write_text(json.dumps(doc), encoding="utf-8")
    warnings: list[Problem] = []
    scheme = load_scheme(p, warnings=warnings)
    assert {w.path for w in warnings} == {"target.batch_mdoe", "target.colour"}
    found = errors(check_scheme(scheme))
    assert set(found) == {"target.batch_mdoe"}
    assert "did you mean 'batch_mode'" in found["target.batch_mdoe"].message


# --- with a connections file ------------------------------------------------------------------------


def with_connections(tmp_path: Path, text: str = CONNECTIONS) -> Path:
    c = tmp_path / "connections.yaml"
    c.write_text(text, encoding="utf-8")
    return c


def test_the_connections_file_gives_the_connector_when_the_side_does_not(tmp_path: Path) -> None:
    conns = read_connections(with_connections(tmp_path), env=ENV)
    p = variant(
        tmp_path,
        ("  connector: dingtalk ", "  # "),
        ("  connector: kingdee\n", ""),
        ("    max_age_days: 60", "    max_age_dayz: 60"),
    )
    problems = check_scheme(load_scheme(p), conns)
    assert [(x.path, x.severity) for x in problems] == [("source.params.max_age_dayz", "error")]


def test_a_misspelt_connection_name_suggests_the_closest(tmp_path: Path) -> None:
    conns = read_connections(with_connections(tmp_path), env=ENV)
    p = variant(tmp_path, ("connection: kingdee_main", "connection: kingdee_mian"))
    problem = errors(check_scheme(load_scheme(p), conns))["target.connection"]
    assert "no connection 'kingdee_mian'" in problem.message
    assert "(did you mean 'kingdee_main'?)" in problem.message
    assert problem.line == line_of(p, "kingdee_mian")


def test_connector_and_connection_type_must_agree(tmp_path: Path) -> None:
    c = with_connections(tmp_path)
    conns = read_connections(c, env=ENV)
    p = variant(tmp_path, ("  connector: kingdee\n", "  connector: http\n"))
    problem = errors(check_scheme(load_scheme(p), conns))["target.connector"]
    assert "says connector 'http', but connection 'kingdee_main' is of type 'kingdee'" in problem.message
    assert f"({c}:6:3)" in problem.message


def test_connection_keys_are_checked_in_the_connections_file_with_places_and_no_secrets(
    tmp_path: Path,
) -> None:
    c = with_connections(tmp_path, CONNECTIONS.replace("  username: ferry\n", "  usrname: ferry\n"))
    conns = read_connections(c, env=ENV)
    problems = check_scheme(load_scheme(FLAGSHIP), conns)
    (problem,) = [x for x in problems if x.file == str(c)]
    assert (problem.path, problem.line, problem.column) == ("kingdee_main.usrname", 10, 3)
    assert "did you mean 'username'" in problem.message
    assert all(secret not in str(x) for x in problems for secret in ENV.values())


def test_an_unset_reference_is_reported_as_such_a_warning_for_validate_an_error_for_a_run(
    tmp_path: Path,
) -> None:
    c = with_connections(tmp_path)
    file = read_connections(c, env={"KD_SECRET": "kd"}, unresolved="warning")
    (warning,) = check_connections(file)
    assert warning.severity == "warning" and (warning.line, warning.column) == (4, 3)
    assert "refers to ${DT_SECRET}, which is not set" in warning.message
    # the unresolved key is not reported as a bad value as well, and the scheme still checks clean
    assert [x for x in check_scheme(load_scheme(FLAGSHIP), file) if x.is_error] == []
    with pytest.raises(ConnectionSettingsError, match=r"connections.yaml:4:3: .*DT_SECRET"):
        load_connections(c, env={"KD_SECRET": "kd"})


def test_a_literal_secret_is_refused_with_its_place_and_never_quoted(tmp_path: Path) -> None:
    c = with_connections(tmp_path, CONNECTIONS.replace("${KD_SECRET}", "hunter2-literal-value"))
    problems = check_connections(read_connections(c, env=ENV))
    (problem,) = problems
    assert (problem.line, problem.column) == (12, 3)
    assert "literal secret" in problem.message and "hunter2" not in problem.message


def test_an_unknown_connection_type_suggests_the_closest(tmp_path: Path) -> None:
    c = with_connections(tmp_path, CONNECTIONS + "other:\n  type: kingde\n")
    (problem,) = check_connections(read_connections(c, env=ENV))
    assert (problem.path, problem.line) == ("other.type", 14)
    assert "(did you mean 'kingdee'?)" in problem.message


def test_the_engine_can_check_against_loaded_connections(tmp_path: Path) -> None:
    conns = load_connections(with_connections(tmp_path), env=ENV)
    assert check_scheme(load_scheme(FLAGSHIP), conns) == []
    p = variant(tmp_path, ("connection: dingtalk_main", "connection: dingtalk_other"))
    (problem,) = check_scheme(load_scheme(p), conns)
    assert problem.path == "source.connection" and "no connection 'dingtalk_other'" in problem.message


def test_a_dingtalk_connection_used_as_a_target_is_refused(tmp_path: Path) -> None:
    conns = read_connections(with_connections(tmp_path), env=ENV)
    p = variant(
        tmp_path, ("  connector: kingdee\n", ""), ("connection: kingdee_main", "connection: dingtalk_main")
    )
    problem = errors(check_scheme(load_scheme(p), conns))["target.connection"]
    assert "the dingtalk connector cannot be a target" in problem.message
    # the second "connection: dingtalk_main" is the target's
    target_line = [
        n
        for n, line in enumerate(p.read_text("utf-8").splitlines(), 1)
        if "connection: dingtalk_main" in line
    ][1]
    assert problem.line == target_line


def test_an_alias_of_a_connector_agrees_with_its_type(tmp_path: Path) -> None:
    c = with_connections(
        tmp_path, "shop:\n  type: rest\n  base_url: http://shop\nerp:\n  type: http\n  base_url: http://erp\n"
    )
    problems = check_scheme(load_scheme(REST), read_connections(c, env={}))
    assert problems == []


def test_an_unreadable_connections_file_is_one_problem_not_one_per_connection(tmp_path: Path) -> None:
    c = with_connections(tmp_path, "dingtalk_main:\n  type: [dingtalk\n")
    file = read_connections(c, env=ENV)
    (problem,) = check_connections(file)
    assert problem.file == str(c) and problem.line == 3  # where the parser gave up
    # the scheme falls back to its connector keys: nothing else is wrong with it
    assert check_scheme(load_scheme(FLAGSHIP), file) == []
