"""Loading schemes: both spellings, Qingyi exports verbatim, and located errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ferry.scheme import SchemeError, SourceSpec, TargetSpec, load_scheme, load_side

FIX = Path(__file__).parent / "fixtures"
EXAMPLES = Path(__file__).parents[2] / "examples"


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_seed_source_snippet_loads_verbatim_as_source_half() -> None:
    spec = load_side(FIX / "seed_source.json", "source")
    assert isinstance(spec, SourceSpec)
    assert spec.api == "topapi/processinstance/get"
    assert spec.method == "POST"
    assert spec.id == "id" and spec.number == "number"
    assert spec.id_check is True


def test_seed_target_snippet_loads_verbatim_as_target_half() -> None:
    spec = load_side(FIX / "seed_target.json", "target")
    assert isinstance(spec, TargetSpec)
    assert spec.api == "Push"
    assert [f.field for f in spec.request] == [
        "FormId",
        "Numbers",
        "Ids",
        "IsEnableDefaultRule",
        "TargetFormId",
        "IsDraftWhenSaveFail",
    ]
    assert spec.request[1].value == "{{单据编号}}"
    assert spec.request[2].value == "{status}"


def test_seed_halves_make_a_qingyi_scheme(tmp_path: Path) -> None:
    doc = {
        "id": "seed",
        "name": "钉钉付款申请下推金蝶付款单",
        "source": json.loads((FIX / "seed_source.json").read_text("utf-8")),
        "target": json.loads((FIX / "seed_target.json").read_text("utf-8")),
    }
    p = write(tmp_path, "seed.json", json.dumps(doc, ensure_ascii=False))
    scheme = load_scheme(p)
    assert scheme.id == "seed"
    assert scheme.source.api == "topapi/processinstance/get"
    assert scheme.target.request[0].value == "CN_PAYAPPLY"


def test_qingyi_scheme_without_id_takes_the_file_name(tmp_path: Path) -> None:
    doc = {
        "source": json.loads((FIX / "seed_source.json").read_text("utf-8")),
        "target": json.loads((FIX / "seed_target.json").read_text("utf-8")),
    }
    p = write(tmp_path, "payapply-push.json", json.dumps(doc))
    assert load_scheme(p).id == "payapply-push"


def test_effect_and_type_are_both_accepted() -> None:
    jdy = load_side(FIX / "qingyi_jiandaoyun_source.json", "source")
    maycur = load_side(FIX / "qingyi_maycur_source.json", "source")
    assert jdy.effect == "QUERY"
    assert maycur.effect == "QUERY"  # written as "type"


def test_unknown_ui_keys_are_tolerated_and_preserved() -> None:
    spec = load_side(FIX / "qingyi_maycur_source.json", "source")
    assert isinstance(spec, SourceSpec)
    first = spec.response[0]
    assert first.model_extra == {
        "display": {"width": 200, "aggFunc": "none", "enableRowGroup": True},
        "enableDisplay": True,
    }
    weaver = load_side(FIX / "qingyi_weaver_source.json", "source")
    assert weaver.model_extra is not None
    assert weaver.model_extra["name"] == "id"
    assert weaver.model_extra["autoFillResponse"] is True
    assert weaver.model_extra["condition_bk"][0][0]["logic"] == "eqv2"


def test_condition_is_parsed_into_groups() -> None:
    spec = load_side(FIX / "qingyi_weaver_source.json", "source")
    assert isinstance(spec, SourceSpec)
    assert len(spec.condition) == 1
    term = spec.condition[0][0]
    assert (term.field, term.logic, term.value) == ("workflowMainTableInfo.fklx", "eqv2", "预付款")


def test_nested_children_and_parsers() -> None:
    spec = load_side(FIX / "qingyi_jiandaoyun_source.json", "source")
    fields = spec.request
    assert fields[1].parser is not None and fields[1].parser.name == "StringToArray"
    assert fields[1].parser.params == ","
    filt = fields[3]
    assert filt.type == "object"
    assert [c.field for c in filt.children] == ["rel", "cond_1"]
    assert filt.children[1].children[3].value == ["{{LAST_SYNC_TIME|datetime}}", "{{CURRENT_TIME|datetime}}"]


def test_remedy_pagination_beatflat_formatresponse() -> None:
    spec = load_side(FIX / "qingyi_guanyi_remedy_source.json", "source")
    assert isinstance(spec, SourceSpec)
    assert spec.pagination is not None and spec.pagination.page_size == 50
    assert spec.beat_flat == ["details_list"]
    assert spec.format_response[0].new == "create_date"
    remedy = spec.omission_remedy
    assert remedy is not None and remedy.crontab == "2 */2 * * *"
    assert remedy.take_over_request[0].is_required is True
    assert remedy.take_over_request[1].value == "{{DAYS_AGO_1|datetime}}"


def test_kingdee_target_with_table_body_keeps_order() -> None:
    spec = load_side(FIX / "qingyi_kingdee_target.json", "target")
    assert isinstance(spec, TargetSpec)
    assert [f.field for f in spec.request] == ["FBillTypeID", "FStockOrgId", "FDate", "FEntity"]
    body = spec.request[3]
    assert body.value == "details_list"
    assert [c.field for c in body.children] == ["FMaterialID", "FRealQty", "FTaxPrice"]
    assert [f.field for f in spec.other_request] == ["FormId", "Operation", "IsVerifyBaseDataField"]


def test_flat_parent_list_becomes_a_tree_in_written_order() -> None:
    spec = load_side(FIX / "qingyi_parent_list_target.json", "target")
    assert [f.field for f in spec.request] == ["FBillNo", "FEntity", "FDate"]
    assert [c.field for c in spec.request[1].children] == ["FMaterialId", "FQty"]


def test_plain_mapping_request_is_accepted(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "t.yaml",
        "api: Push\nrequest:\n  FormId: CN_PAYAPPLY\n  TargetFormId: AP_PAYBILL\n",
    )
    spec = load_side(p, "target")
    assert [(f.field, f.value) for f in spec.request] == [
        ("FormId", "CN_PAYAPPLY"),
        ("TargetFormId", "AP_PAYBILL"),
    ]


def test_native_example_scheme_loads() -> None:
    scheme = load_scheme(EXAMPLES / "dingtalk-payapply-to-paybill.yaml")
    assert scheme.source.connection == "dingtalk_main"
    assert scheme.target.batch_size == 20
    assert [f.operation for f in scheme.target.follow_up] == ["Submit", "Audit"]
    assert scheme.source.schedule is not None and scheme.source.schedule.interval == 300
    assert scheme.retry.max_attempts == 8


def test_native_and_qingyi_names_give_the_same_model(tmp_path: Path) -> None:
    native = write(
        tmp_path,
        "n.yaml",
        "api: x\nid: code\nid_check: false\nbeat_flat: [rows]\nother_response: [{field: rows}]\n",
    )
    qingyi = write(
        tmp_path,
        "q.json",
        '{"api":"x","id":"code","idCheck":false,"beatFlat":["rows"],"otherResponse":[{"field":"rows"}]}',
    )
    a = load_side(native, "source")
    b = load_side(qingyi, "source")
    assert a.model_dump() == b.model_dump()


# --- errors name the file, the key path, the line and the column ---------------------------------


def test_yaml_error_names_key_path_and_line(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "bad.yaml",
        "id: s1\nsource:\n  api: a\n  pagination:\n    page_size: -3\ntarget:\n  api: Push\n",
    )
    with pytest.raises(SchemeError) as ei:
        load_scheme(p)
    (prob,) = ei.value.problems
    assert prob.file == str(p)
    assert prob.path == "source.pagination.page_size"
    assert (prob.line, prob.column) == (5, 5)
    assert "greater than 0" in prob.message


def test_missing_key_points_at_its_parent(tmp_path: Path) -> None:
    p = write(tmp_path, "bad.yaml", "id: s1\nsource:\n  method: GET\ntarget:\n  api: Push\n")
    with pytest.raises(SchemeError) as ei:
        load_scheme(p)
    (prob,) = ei.value.problems
    assert prob.path == "source.api"
    assert prob.message == "required key is missing"
    assert prob.line == 2


def test_json_error_names_line_and_column(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "bad.json",
        '{"id": "s1",\n "source": {"api": "a", "method": "FETCH"},\n "target": {"api": "Push"}}',
    )
    with pytest.raises(SchemeError) as ei:
        load_scheme(p)
    (prob,) = ei.value.problems
    assert prob.path == "source.method"
    assert prob.line == 2
    assert prob.column == 25  # the key "method" starts in column 25
    assert "HTTP verb" in prob.message


def test_json_syntax_error_has_position(tmp_path: Path) -> None:
    p = write(tmp_path, "bad.json", '{"id": "s1",\n "source": {"api": "a",}\n}')
    with pytest.raises(SchemeError) as ei:
        load_scheme(p)
    (prob,) = ei.value.problems
    assert prob.line == 2 and prob.column > 1
    assert "invalid JSON" in prob.message


def test_yaml_syntax_error_has_position(tmp_path: Path) -> None:
    p = write(tmp_path, "bad.yaml", "id: s1\nsource:\n  api: [a, b\ntarget: {}\n")
    with pytest.raises(SchemeError) as ei:
        load_scheme(p)
    assert ei.value.problems[0].line >= 3


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    p = write(tmp_path, "dup.yaml", "id: s1\nid: s2\nsource: {api: a}\ntarget: {api: b}\n")
    with pytest.raises(SchemeError) as ei:
        load_scheme(p)
    assert ei.value.problems[0].line == 2
    assert "duplicate" in ei.value.problems[0].message


def test_bad_cron_and_interval_and_timezone(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "bad.yaml",
        "id: s1\ntimezone: Mars/Olympus\nsource:\n  api: a\n  schedule: '61 * * * *'\n"
        "target:\n  api: b\n  schedule: {interval: soon}\n",
    )
    with pytest.raises(SchemeError) as ei:
        load_scheme(p)
    by_path = {pr.path: pr for pr in ei.value.problems}
    assert "unknown time zone" in by_path["timezone"].message
    assert by_path["timezone"].line == 2
    # the shorthand `schedule: '61 * * * *'` is the cron form; the place is the schedule key
    assert "invalid cron" in by_path["source.schedule.cron"].message
    assert by_path["source.schedule.cron"].line == 5
    assert "interval" in by_path["target.schedule.interval"].message
    assert by_path["target.schedule.interval"].line == 8


def test_unknown_key_in_a_ferry_block_is_an_error(tmp_path: Path) -> None:
    p = write(tmp_path, "bad.yaml", "id: s1\nsource: {api: a}\ntarget: {api: b}\nretry:\n  max_attempt: 3\n")
    with pytest.raises(SchemeError) as ei:
        load_scheme(p)
    (prob,) = ei.value.problems
    assert prob.path == "retry.max_attempt"
    assert prob.line == 5
    assert "unknown key" in prob.message


def test_bad_expression_is_located(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "bad.yaml",
        "id: s1\nsource: {api: a}\ntarget:\n  api: b\n  request:\n    - field: X\n"
        '      value: "_function CASE WHEN 1 THEN"\n',
    )
    with pytest.raises(SchemeError) as ei:
        load_scheme(p)
    (prob,) = ei.value.problems
    assert prob.path == "target.request[0].value"
    assert prob.line == 7


def test_bad_condition_operator(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "bad.json",
        '{"api":"a","condition":[[{"field":"x","logic":"approx","value":1}]]}',
    )
    with pytest.raises(SchemeError) as ei:
        load_side(p, "source")
    (prob,) = ei.value.problems
    assert prob.path == "condition[0][0].logic"
    assert prob.line == 1


def test_unreadable_and_non_mapping_files(tmp_path: Path) -> None:
    with pytest.raises(SchemeError) as ei:
        load_scheme(tmp_path / "nope.yaml")
    assert "cannot read" in ei.value.problems[0].message
    p = write(tmp_path, "list.yaml", "- a\n- b\n")
    with pytest.raises(SchemeError) as ei2:
        load_scheme(p)
    assert "expected a mapping" in ei2.value.problems[0].message
