"""Values that would only fail at run time are refused when the scheme is loaded, each at its key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ferry.engine.transform import Transform
from ferry.scheme import SchemeError, load_scheme, parse_scheme

EXAMPLES = Path(__file__).parents[2] / "examples"


def scheme_file(
    tmp_path: Path, source: dict[str, Any] | None = None, target: dict[str, Any] | None = None, **top: Any
) -> Path:
    doc = {
        "id": "s",
        "source": {"api": "a", **(source or {})},
        "target": {"api": "b", **(target or {})},
        **top,
    }
    p = tmp_path / "s.json"
    p.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return p


def refused(path: Path) -> dict[str, str]:
    with pytest.raises(SchemeError) as info:
        load_scheme(path)
    assert all(p.line > 0 for p in info.value.problems), info.value.lines()
    return {p.path: p.message for p in info.value.problems}


@pytest.mark.parametrize(
    ("source", "path", "words"),
    [
        (
            {"formatResponse": [{"old": "a", "new": "b", "format": "dat"}]},
            "source.formatResponse[0].format",
            "unknown format 'dat'",
        ),
        (
            {"formatResponse": [{"old": "a", "new": "b", "format": "round(x)"}]},
            "source.formatResponse[0].format",
            "whole number",
        ),
        (
            {"condition": [[{"field": "x", "logic": "in", "value": "a"}]]},
            "source.condition[0][0].logic",
            "Input should be",
        ),
        (
            {"condition": [[{"field": "x", "logic": "between", "value": "1"}]]},
            "source.condition[0][0]",
            "two bounds",
        ),
        (
            {"condition": [[{"field": "x", "logic": "between", "value": "1,"}]]},
            "source.condition[0][0]",
            "two bounds",
        ),
        ({"condition": [[{"field": "x", "logic": "gt"}]]}, "source.condition[0][0]", "needs a value"),
        (
            {"condition": [[{"field": "x", "logic": "eq", "value": [1, 2]}]]},
            "source.condition[0][0]",
            "one value",
        ),
        (
            {"condition": [[{"field": "x", "logic": "gt", "value": "timestamp:soon"}]]},
            "source.condition[0][0]",
            "Unix seconds",
        ),
        (
            {"condition": [[{"field": "", "logic": "eq", "value": 1}]]},
            "source.condition[0][0].field",
            "at least 1",
        ),
        ({"pagination": {"max_pages": "many"}}, "source.pagination.max_pages", "valid integer"),
        ({"pagination": {"pageSize": 0}}, "source.pagination.pageSize", "greater than 0"),
        ({"pagination": {"page_size": -5}}, "source.pagination.page_size", "greater than 0"),
        ({"lookback": -1}, "source.lookback", "greater than or equal to 0"),
        ({"initial_days": 0}, "source.initial_days", "greater than 0"),
        ({"schedule": "61 * * * *"}, "source.schedule.cron", "invalid cron"),
        ({"schedule": {"interval": "soon"}}, "source.schedule.interval", "interval must look like"),
        ({"schedule": {"interval": 0}}, "source.schedule", "positive"),
        ({"omissionRemedy": {"crontab": "* * *"}}, "source.omissionRemedy.crontab", "5 fields"),
        ({"omissionRemedy": {"days": 0}}, "source.omissionRemedy.days", "greater than 0"),
        ({"request": [{"field": "x", "type": "strnig"}]}, "source.request[0].type", "unknown type 'strnig'"),
        (
            {"request": [{"field": "x", "parser": {"name": "Nope"}}]},
            "source.request[0].parser",
            "unknown parser 'Nope'",
        ),
        (
            {"request": [{"field": "x", "parser": {"name": "ConvertObjectParser"}}]},
            "source.request[0].parser",
            "needs params",
        ),
        ({"request": [{"field": "x", "value": "{{oops"}]}, "source.request[0].value", "unclosed '{{'"),
        ({"request": [{"field": "x", "default": "{{oops"}]}, "source.request[0].default", "unclosed"),
        ({"request": [{"field": "x", "value": ["{{a}}", "{{b"]}]}, "source.request[0].value[1]", "unclosed"),
        ({"request": {"FormId": "{{oops"}}, "source.request.FormId", "unclosed"),
        (
            {
                "request": [
                    {"field": "E", "type": "array", "value": "two words", "children": [{"field": "c"}]}
                ]
            },
            "source.request[0].value",
            "table key",
        ),
        (
            {"omissionRemedy": {"takeOverRequest": [{"field": "s", "value": "{{DAYS_AGO_1|bogus}}"}]}},
            "source.omissionRemedy.takeOverRequest[0].value",
            "unknown pipe",
        ),
    ],
)
def test_a_value_that_would_fail_at_run_time_is_refused_at_its_key(
    tmp_path: Path, source: dict[str, Any], path: str, words: str
) -> None:
    problems = refused(scheme_file(tmp_path, source))
    assert path in problems, problems
    assert words in problems[path]


@pytest.mark.parametrize(
    ("target", "top", "path", "words"),
    [
        ({"batchSize": 0}, {}, "target.batchSize", "greater than or equal to 1"),
        ({"batch_size": "lots"}, {}, "target.batch_size", "valid integer"),
        ({"method": "FETCH"}, {}, "target.method", "HTTP verb"),
        ({"connector": "has spaces"}, {}, "target.connector", "pattern"),
        ({}, {"timezone": "Mars/Olympus"}, "timezone", "unknown time zone"),
        ({}, {"timezone": "../../etc/passwd"}, "timezone", "unknown time zone"),
        ({}, {"retry": {"jitter": 2}}, "retry.jitter", "less than or equal to 1"),
        ({}, {"quality": [{"name": "q", "check": "CASE WHEN"}]}, "quality[0].check", ""),
        (
            {},
            {"quality": [{"name": "q", "check": "1 = 1", "message": "bad {{x"}]},
            "quality[0].message",
            "unclosed",
        ),
        (
            {},
            {"enrich": [{"name": "k", "query": {"where": {"FBillNo": "{{x"}}}]},
            "enrich[0].query.where.FBillNo",
            "unclosed",
        ),
        ({}, {"enrich": [{"name": "1bad", "query": {}}]}, "enrich[0].name", "pattern"),
        ({}, {"id": "has spaces"}, "id", "pattern"),
    ],
)
def test_target_and_scheme_values_are_checked_too(
    tmp_path: Path, target: dict[str, Any], top: dict[str, Any], path: str, words: str
) -> None:
    problems = refused(scheme_file(tmp_path, None, target, **top))
    assert path in problems, problems
    assert words in problems[path]


def test_a_scheme_that_loads_compiles_in_the_engine() -> None:
    # the other side of the promise: whatever load accepts, the run's compile accepts
    for path in [*EXAMPLES.glob("*.yaml"), *EXAMPLES.glob("qingyi/*.json")]:
        Transform(load_scheme(path))


def test_a_qingyi_file_without_an_id_whose_name_is_no_id_says_so(tmp_path: Path) -> None:
    p = tmp_path / "付款 申请.json"
    p.write_text('{"source": {"api": "a"}, "target": {"api": "b"}}', encoding="utf-8")
    with pytest.raises(SchemeError, match='add an "id" key'):
        load_scheme(p)


def test_schemes_built_in_code_follow_the_same_rules() -> None:
    good = parse_scheme({"id": "s", "source": {"api": "a", "connector": "http"}, "target": {"api": "b"}})
    assert good.source.connector == "http" and good.document is not None
    with pytest.raises(SchemeError) as info:
        parse_scheme({"id": "s", "source": {"api": "a"}, "target": {"api": "b"}, "qualty": []})
    (problem,) = info.value.problems
    assert (problem.path, problem.line) == ("qualty", 0)
    assert str(problem) == "<scheme>: qualty: unknown key (did you mean 'quality'?)"
