"""Folders of schemes: what is a scheme file, what is passed over, and one id per scheme."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ferry.scheme import Problem, SchemeError, discover, duplicate_ids, load_folder

EXAMPLES = Path(__file__).parents[2] / "examples"
NATIVE = "id: {id}\nsource: {{api: a}}\ntarget: {{api: b}}\n"


def write(folder: Path, name: str, text: str) -> Path:
    p = folder / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
    return p


def test_discover_finds_schemes_and_passes_over_the_files_beside_them(tmp_path: Path) -> None:
    a = write(tmp_path, "a.yaml", NATIVE.format(id="a"))
    b = write(tmp_path, "sub/b.json", json.dumps({"id": "b", "source": {"api": "a"}, "target": {"api": "b"}}))
    c = write(tmp_path, "c.yml", NATIVE.format(id="c"))
    write(tmp_path, "connections.yaml", "shop: {type: http, base_url: 'http://x'}\n")
    write(tmp_path, "alerts.yaml", "rules: []\n")
    write(tmp_path, ".ferry-secrets", "X=1\n")
    write(tmp_path, ".hidden.yaml", NATIVE.format(id="h"))
    write(tmp_path, ".git/config.yaml", NATIVE.format(id="g"))
    write(tmp_path, "package.json", '{"name": "x", "version": "1"}')
    write(tmp_path, "notes.txt", "not yaml at all")
    write(tmp_path, "list.yaml", "- a\n- b\n")
    found = discover([tmp_path])
    assert found.schemes == [a, c, b]
    skipped = {p.name: why for p, why in found.skipped}
    assert set(skipped) == {"alerts.yaml", "connections.yaml", "list.yaml", "package.json"}
    assert "no source or target" in skipped["package.json"]
    assert "not a mapping" in skipped["list.yaml"]


def test_a_scheme_whose_sides_are_misspelt_is_not_passed_over(tmp_path: Path) -> None:
    bad = write(tmp_path, "typo.yaml", "id: t\nsorce: {api: a}\ntarget: {api: b}\n")
    worse = write(tmp_path, "worse.yaml", "id: t2\nsourse: {api: a}\ntargte: {api: b}\n")
    unreadable = write(tmp_path, "broken.yaml", "id: [unclosed\n")
    found = discover([tmp_path])
    assert set(found.schemes) == {bad, worse, unreadable}


def test_a_file_named_directly_is_always_taken(tmp_path: Path) -> None:
    conns = write(tmp_path, "connections.yaml", "shop: {type: http}\n")
    assert discover([conns]).schemes == [conns]


def test_load_folder_loads_every_scheme(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", NATIVE.format(id="a"))
    write(tmp_path, "connections.yaml", "shop: {type: http, base_url: 'http://x'}\n")
    write(tmp_path, "q/b.json", json.dumps({"source": {"api": "a", "widget": 1}, "target": {"api": "b"}}))
    warnings: list[Problem] = []
    schemes = load_folder(tmp_path, warnings=warnings)
    assert sorted(s.id for s in schemes) == ["a", "b"]
    assert [w.path for w in warnings] == ["source.widget"]


def test_two_schemes_with_one_id_are_refused_naming_both_files_and_lines(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", "# one\n" + NATIVE.format(id="pay"))
    second = write(tmp_path, "b.json", '{\n  "id": "pay", "source": {"api": "a"}, "target": {"api": "b"}}')
    with pytest.raises(SchemeError) as info:
        load_folder(tmp_path)
    (problem,) = info.value.problems
    assert (problem.file, problem.path, problem.line, problem.column) == (str(second), "id", 2, 3)
    assert f"also the id of {first}:2:1" in problem.message


def test_an_id_taken_from_a_file_name_says_so(tmp_path: Path) -> None:
    write(tmp_path, "pay.yaml", NATIVE.format(id="pay"))
    write(tmp_path, "z/pay.json", '{"source": {"api": "a"}, "target": {"api": "b"}}')
    with pytest.raises(SchemeError) as info:
        load_folder(tmp_path)
    (problem,) = info.value.problems
    assert problem.file.endswith("pay.json")
    assert "scheme id 'pay' (from its file name) is also the id of" in problem.message


def test_the_native_and_qingyi_flagship_examples_have_their_own_ids(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    schemes = load_folder(tmp_path / "examples")
    assert duplicate_ids(schemes) == []
    assert {s.id for s in schemes} >= {"dingtalk-payapply-to-paybill", "dingtalk-payapply-to-paybill-qingyi"}


def test_load_folder_reports_every_file_at_once(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "id: a\nqualty: []\nsource: {api: a}\ntarget: {api: b}\n")
    write(tmp_path, "b.yaml", "id: b\nsource: {api: a, lookback: .inf}\ntarget: {api: b}\n")
    with pytest.raises(SchemeError) as info:
        load_folder(tmp_path)
    assert sorted(Path(p.file).name for p in info.value.problems) == ["a.yaml", "b.yaml"]
