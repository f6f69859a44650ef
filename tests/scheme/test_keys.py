"""Unknown keys: an error with the closest key in the native form; kept, refused or warned in Qingyi's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ferry.scheme import Problem, SchemeError, load_scheme, load_side
from ferry.scheme.qingyi import INERT_KEYS

FIX = Path(__file__).parent / "fixtures"
EXAMPLES = Path(__file__).parents[2] / "examples"
FLAGSHIP = EXAMPLES / "dingtalk-payapply-to-paybill.yaml"
QINGYI_FLAGSHIP = EXAMPLES / "qingyi" / "dingtalk-payapply-to-paybill.json"


def flagship_with(tmp_path: Path, old: str, new: str) -> Path:
    text = FLAGSHIP.read_text("utf-8")
    assert old in text, old
    p = tmp_path / "flagship.yaml"
    p.write_text(text.replace(old, new, 1), encoding="utf-8")
    return p


def line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


def only_problem(path: Path) -> Problem:
    with pytest.raises(SchemeError) as info:
        load_scheme(path)
    assert len(info.value.problems) == 1, info.value.lines()
    return info.value.problems[0]


# --- native form: every unknown key is an error, with the key, its line and the suggestion --------


@pytest.mark.parametrize(
    ("old", "new", "path", "suggestion"),
    [
        ("\nquality:\n", "\nqualty:\n", "qualty", "quality"),
        ("  initial_days: 30", "  inital_days: 30", "source.inital_days", "initial_days"),
        ("  batch_size: 20", "  batchsize: 20", "target.batchsize", "batch_size"),
        ("  follow_up: [Submit", "  follow_ups: [Submit", "target.follow_ups", "follow_up"),
        ("  max_attempts: 8", "  max_attempt: 8", "retry.max_attempt", "max_attempts"),
        ("schedule: {interval: 1m}", "schedule: {intervl: 1m}", "target.schedule.intervl", "interval"),
        ('    check: "{{kingdee_bill', '    chek: "{{kingdee_bill', "quality[1].chek", "check"),
        (
            "  - name: kingdee_bill\n    query:",
            "  - name: kingdee_bill\n    qurey:",
            "enrich[0].qurey",
            "query",
        ),
        ("    - {field: FormId, label:", "    - {feild: FormId, label:", "target.request[0].feild", "field"),
    ],
)
def test_a_misspelt_key_is_an_error_naming_key_line_and_the_closest_key(
    tmp_path: Path, old: str, new: str, path: str, suggestion: str
) -> None:
    p = flagship_with(tmp_path, old, new)
    problem = only_problem(p)
    assert problem.path == path
    assert problem.message == f"unknown key (did you mean {suggestion!r}?)"
    assert problem.line == line_of(p, path.rsplit(".", 1)[-1].split("[")[0])
    assert problem.column > 0
    assert problem.is_error


def test_the_payment_checks_cannot_be_dropped_by_a_typo(tmp_path: Path) -> None:
    # the issue: `qualty:` passed and the three amount checks silently vanished
    p = flagship_with(tmp_path, "\nquality:\n", "\nqualty:\n")
    with pytest.raises(SchemeError) as info:
        load_scheme(p)
    assert str(info.value).startswith(f"{p}:{line_of(p, 'qualty')}:1: qualty: unknown key")


def test_an_unknown_key_with_nothing_close_lists_the_known_keys(tmp_path: Path) -> None:
    p = tmp_path / "s.yaml"
    p.write_text("id: s\nsource: {api: a}\ntarget: {api: b}\nretry:\n  zebra: 3\n", encoding="utf-8")
    problem = only_problem(p)
    assert problem.path == "retry.zebra"
    assert "known here: max_attempts, initial_delay, max_delay, multiplier, jitter" in problem.message


def test_an_unknown_side_key_points_to_params(tmp_path: Path) -> None:
    p = tmp_path / "s.yaml"
    p.write_text("id: s\nsource: {api: a, process_code: X}\ntarget: {api: b}\n", encoding="utf-8")
    problem = only_problem(p)
    assert problem.path == "source.process_code"
    assert "connector settings go under 'params'" in problem.message


def test_every_unknown_key_is_reported_at_once(tmp_path: Path) -> None:
    p = tmp_path / "s.yaml"
    p.write_text(
        "id: s\nsourse_x: 1\nsource:\n  api: a\n  pagination: {page_sise: 5}\n  omission_remedy: {dayz: 2}\n"
        "target: {api: b, follow_up: [{operaton: Submit}]}\n",
        encoding="utf-8",
    )
    with pytest.raises(SchemeError) as info:
        load_scheme(p)
    paths = [pr.path for pr in info.value.problems]
    assert paths == [
        "sourse_x",
        "source.pagination.page_sise",
        "source.omission_remedy.dayz",
        "target.follow_up[0].operaton",
    ]
    # follow_up[0] lacks its operation too, but that is said once, by the unknown key's suggestion
    assert "did you mean 'operation'" in info.value.problems[-1].message


def test_qingyi_spellings_are_accepted_in_native_files(tmp_path: Path) -> None:
    p = tmp_path / "s.yaml"
    p.write_text(
        "id: s\nsource: {api: a, idCheck: false, beatFlat: rows, initialDays: 3}\n"
        "target: {api: b, batchSize: 5, followUp: [Submit]}\n",
        encoding="utf-8",
    )
    scheme = load_scheme(p)
    assert scheme.source.id_check is False and scheme.source.initial_days == 3
    assert scheme.target.batch_size == 5 and scheme.target.follow_up[0].operation == "Submit"


def test_one_key_in_two_spellings_is_an_error(tmp_path: Path) -> None:
    p = tmp_path / "s.yaml"
    p.write_text(
        "id: s\nsource: {api: a, id_check: true, idCheck: false}\ntarget: {api: b}\n", encoding="utf-8"
    )
    problem = only_problem(p)
    assert problem.path == "source.idCheck"
    assert "same key as 'id_check'" in problem.message


def test_qingyi_editor_keys_do_nothing_in_a_native_file_and_are_refused(tmp_path: Path) -> None:
    p = tmp_path / "s.yaml"
    p.write_text("id: s\nsource: {api: a, condition_bk: []}\ntarget: {api: b}\n", encoding="utf-8")
    problem = only_problem(p)
    assert problem.path == "source.condition_bk"
    assert "Qingyi editor state" in problem.message


# --- Qingyi form: editor keys kept, near misses refused, the rest warned about -----------------------


def test_every_real_qingyi_export_loads_with_no_warning() -> None:
    for name, side in [
        ("seed_source.json", "source"),
        ("qingyi_jiandaoyun_source.json", "source"),
        ("qingyi_maycur_source.json", "source"),
        ("qingyi_weaver_source.json", "source"),
        ("qingyi_guanyi_remedy_source.json", "source"),
        ("seed_target.json", "target"),
        ("qingyi_kingdee_target.json", "target"),
        ("qingyi_parent_list_target.json", "target"),
    ]:
        warnings: list[Problem] = []
        load_side(FIX / name, side, warnings=warnings)  # type: ignore[arg-type]
        assert warnings == [], (name, [str(w) for w in warnings])
    warnings = []
    assert load_scheme(QINGYI_FLAGSHIP, warnings=warnings).id == "dingtalk-payapply-to-paybill-qingyi"
    assert warnings == []


def test_the_known_editor_keys_are_listed_with_their_source() -> None:
    assert set(INERT_KEYS["side"]) == {"name", "autoFillResponse", "condition_bk"}
    assert set(INERT_KEYS["field"]) == {"display", "enableDisplay"}
    assert all(INERT_KEYS[block][key] for block in INERT_KEYS for key in INERT_KEYS[block])


def qingyi(tmp_path: Path, source: dict[str, object], target: dict[str, object] | None = None) -> Path:
    p = tmp_path / "q.json"
    doc = {"id": "q", "source": source, "target": target or {"api": "Push"}}
    p.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    return p


def test_a_near_miss_of_a_known_key_is_an_error_in_qingyi_metadata(tmp_path: Path) -> None:
    p = qingyi(tmp_path, {"api": "a", "idChek": False})
    problem = only_problem(p)
    assert (problem.path, problem.message) == ("source.idChek", "unknown key (did you mean 'idCheck'?)")
    assert problem.line == line_of(p, "idChek")


def test_a_near_miss_of_an_editor_key_is_an_error_too(tmp_path: Path) -> None:
    p = qingyi(tmp_path, {"api": "a", "response": [{"field": "x", "enableDisply": True}]})
    problem = only_problem(p)
    assert problem.path == "source.response[0].enableDisply"
    assert "did you mean 'enableDisplay'" in problem.message


def test_any_other_unknown_key_is_a_warning_with_its_line_and_the_scheme_loads(tmp_path: Path) -> None:
    p = qingyi(
        tmp_path, {"api": "a", "widgetLayout": {"x": 1}, "response": [{"field": "f", "colour": "red"}]}
    )
    warnings: list[Problem] = []
    scheme = load_scheme(p, warnings=warnings)
    assert [(w.path, w.severity) for w in warnings] == [
        ("source.widgetLayout", "warning"),
        ("source.response[0].colour", "warning"),
    ]
    assert warnings[0].line == line_of(p, "widgetLayout")
    assert "warning: unknown key" in str(warnings[0])
    # kept, so the metadata round-trips
    assert scheme.source.model_extra == {"widgetLayout": {"x": 1}}


def test_editor_keys_are_kept_without_a_warning(tmp_path: Path) -> None:
    p = qingyi(tmp_path, {"api": "a", "autoFillResponse": True, "name": "id"})
    warnings: list[Problem] = []
    scheme = load_scheme(p, warnings=warnings)
    assert warnings == []
    assert scheme.source.model_extra == {"autoFillResponse": True, "name": "id"}


def test_an_unknown_key_in_a_ferry_only_block_is_an_error_even_in_qingyi_metadata(tmp_path: Path) -> None:
    p = tmp_path / "q.json"
    p.write_text(
        json.dumps({"id": "q", "source": {"api": "a"}, "target": {"api": "b"}, "retry": {"tries": 3}}),
        encoding="utf-8",
    )
    problem = only_problem(p)
    assert problem.path == "retry.tries" and problem.is_error


def test_an_unsupported_qingyi_feature_is_refused_with_the_reason(tmp_path: Path) -> None:
    p = qingyi(tmp_path, {"api": "a"}, {"api": "Save", "groupCalculate": {"headerGroup": ["shop_no"]}})
    problem = only_problem(p)
    assert problem.path == "target.groupCalculate"
    assert "not supported" in problem.message and "its own document" in problem.message


def test_warnings_are_returned_even_when_the_load_fails(tmp_path: Path) -> None:
    p = qingyi(tmp_path, {"api": "a", "wobble": 1, "idChek": True})
    warnings: list[Problem] = []
    with pytest.raises(SchemeError) as info:
        load_scheme(p, warnings=warnings)
    assert [w.path for w in warnings] == ["source.wobble"]
    assert [e.path for e in info.value.problems] == ["source.idChek"]
