"""Reading any file: a clear, placed SchemeError for hostile input, in bounded time; data with places otherwise."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ferry.scheme import SchemeError, load_scheme, read_document
from ferry.scheme.document import MAX_BYTES, MAX_DEPTH, MAX_PROBLEMS, MAX_VALUES

ALIAS_BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def refused(tmp_path: Path, name: str, content: bytes | str) -> tuple[str, int, int]:
    p = tmp_path / name
    if isinstance(content, str):
        p.write_text(content, encoding="utf-8")
    else:
        p.write_bytes(content)
    with pytest.raises(SchemeError) as info:
        read_document(p)
    (problem,) = info.value.problems
    assert problem.file == str(p)
    return problem.message, problem.line, problem.column


def test_the_alias_bomb_fails_at_once_with_its_place(tmp_path: Path) -> None:
    started = time.monotonic()
    message, line, _col = refused(tmp_path, "bomb.yaml", ALIAS_BOMB)
    assert time.monotonic() - started < 1.0
    assert f"more than {MAX_VALUES:,} values through its aliases" in message
    assert 2 <= line <= 9


def test_aliases_that_stay_small_are_fine(tmp_path: Path) -> None:
    p = tmp_path / "ok.yaml"
    p.write_text("base: &b {api: x, method: GET}\ncopy: *b\nmerged:\n  <<: *b\n  api: y\n", encoding="utf-8")
    doc = read_document(p)
    assert doc.data == {
        "base": {"api": "x", "method": "GET"},
        "copy": {"api": "x", "method": "GET"},
        "merged": {"api": "y", "method": "GET"},
    }
    # a key that came in through the merge has no place of its own: its mapping's is used
    assert doc.place(["merged", "method"]) == (3, 1)


def test_an_alias_inside_itself_is_a_loop(tmp_path: Path) -> None:
    message, line, _ = refused(tmp_path, "loop.yaml", "a: &a [1, *a]\n")
    assert "loop" in message and line == 1


@pytest.mark.parametrize(
    ("name", "content", "expected", "line"),
    [
        ("empty.yaml", "", "the file is empty", 0),
        ("blank.yaml", "  \n\n", "the file is empty", 0),
        ("comments.yaml", "# nothing\n", "no data", 0),
        ("nul.yaml", "id: a\x00b\n", "control character U+0000", 1),
        ("bell.json", '{"id": "a\x07"}', "control character U+0007", 1),
        ("latin1.yaml", b"id: s\nname: caf\xe9\n", "not UTF-8 text: byte 0xe9", 2),
        ("utf16.yaml", "id: s\n".encode("utf-16"), "UTF-16", 0),
        ("binary.yaml", bytes(range(256)) * 4, "not UTF-8 text: byte 0x80", 2),
        ("controls.yaml", bytes(range(32)) * 4, "control character U+0000", 1),
        ("deep.yaml", "a: " + "[" * 500 + "]" * 500, f"more than {MAX_DEPTH} levels", 1),
        ("deep.json", '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}", f"more than {MAX_DEPTH} levels", 1),
        ("intkey.yaml", "id: s\n1: one\n", "the key '1' is not text; quote it", 2),
        ("nullkey.yaml", "null: x\n", "the key 'null' is not text", 1),
        ("listkey.yaml", "? [a, b]\n: c\n", "a key must be text", 1),
        ("dup.yaml", "id: a\nsource: {}\nid: b\n", "duplicate key 'id' (first at line 1)", 3),
        ("dup.json", '{"id": "a",\n "id": "b"}', "duplicate key 'id'", 2),
        ("date.yaml", "id: 2024-01-01\n", "reads as a date/time; quote it", 1),
        ("tag.yaml", "id: !!python/object:os.system ls\n", "YAML type !!python/object:os.system", 1),
        ("custom.yaml", "id: !secret x\n", "YAML type !secret", 1),
        ("binarytag.yaml", "id: !!binary aGVsbG8=\n", "!!binary", 1),
        ("set.yaml", "id: !!set {a, b}\n", "!!set", 1),
        ("bigint.yaml", "n: " + "9" * 5000 + "\n", "longer than 100 digits", 1),
        ("bigint.json", '{"n": ' + "9" * 5000 + "}", "longer than 100 digits", 1),
        ("undef.yaml", "a: *nowhere\n", "undefined alias", 1),
        ("two.yaml", "a: 1\n---\nb: 2\n", "single document", 2),
        ("syntax.yaml", "a: [1, 2\nb: 3\n", "", 2),
        ("syntax.json", '{"a": 1,}', "invalid JSON", 1),
        ("tabs.yaml", "a:\n\tb: 1\n", "", 2),
    ],
)
def test_hostile_files_get_one_clear_placed_problem(
    tmp_path: Path, name: str, content: bytes | str, expected: str, line: int
) -> None:
    message, got_line, _ = refused(tmp_path, name, content)
    assert expected in message
    assert got_line == line, message
    assert "Traceback" not in message and "ruamel" not in message


def test_a_file_over_the_size_cap_is_refused_unread(tmp_path: Path) -> None:
    p = tmp_path / "big.yaml"
    with p.open("wb") as fh:
        fh.truncate(MAX_BYTES + 1)
    started = time.monotonic()
    with pytest.raises(SchemeError, match="larger than 1,024 KiB"):
        read_document(p)
    assert time.monotonic() - started < 1.0


def test_a_folder_or_a_missing_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    with pytest.raises(SchemeError, match="expected a file, got a folder"):
        read_document(tmp_path)
    with pytest.raises(SchemeError, match="cannot read file"):
        read_document(tmp_path / "absent.yaml")


def test_a_utf8_byte_order_mark_is_dropped(tmp_path: Path) -> None:
    p = tmp_path / "bom.json"
    p.write_bytes(b'\xef\xbb\xbf{"id": "s1", "source": {"api": "a"}, "target": {"api": "b"}}')
    assert load_scheme(p).id == "s1"


def test_non_finite_numbers_are_refused_where_they_stand_and_the_rest_is_still_checked(
    tmp_path: Path,
) -> None:
    p = tmp_path / "s.yaml"
    p.write_text(
        "id: s\nsource:\n  api: a\n  lookback: .inf\n  inital_days: 3\ntarget:\n  api: b\n"
        "  request: [{field: x, value: .nan}]\n",
        encoding="utf-8",
    )
    with pytest.raises(SchemeError) as info:
        load_scheme(p)
    got = {(pr.path, pr.line) for pr in info.value.problems}
    assert got == {("source.lookback", 4), ("source.inital_days", 5), ("target.request[0].value", 8)}
    assert "not a finite number" in info.value.problems[0].message


def test_json_numbers_too_large_for_a_float_are_not_finite(tmp_path: Path) -> None:
    p = tmp_path / "s.json"
    p.write_text('{"id": "s", "source": {"api": "a", "lookback": 1e999}, "target": {"api": "b"}}', "utf-8")
    with pytest.raises(SchemeError) as info:
        load_scheme(p)
    (problem,) = info.value.problems
    assert problem.path == "source.lookback" and "finite" in problem.message


def test_json_surrogate_pairs_are_joined_and_lone_halves_refused(tmp_path: Path) -> None:
    p = tmp_path / "s.json"
    p.write_text(
        '{"id": "s", "name": "\\ud83d\\ude00", "source": {"api": "a"}, "target": {"api": "b"}}', "utf-8"
    )
    assert load_scheme(p).name == "\U0001f600"
    p.write_text('{"id": "s", "name": "\\ud83d", "source": {"api": "a"}, "target": {"api": "b"}}', "utf-8")
    with pytest.raises(SchemeError, match="lone surrogate"):
        load_scheme(p)


def test_places_are_one_based_lines_and_columns_of_keys(tmp_path: Path) -> None:
    p = tmp_path / "s.yaml"
    p.write_text("id: s\nsource:\n  api: a\n  request:\n    - {field: x, value: 1}\n", encoding="utf-8")
    doc = read_document(p)
    assert doc.place(["source", "api"]) == (3, 3)
    assert doc.place(["source", "request", 0]) == (5, 7)
    assert doc.place(["source", "request", 0, "value"]) == (5, 18)
    # the deepest part that exists
    assert doc.place(["source", "nothing", "here"]) == (2, 1)


def test_one_mistake_repeated_many_times_is_reported_a_bounded_number_of_times(tmp_path: Path) -> None:
    p = tmp_path / "s.yaml"
    items = "".join(f"    - {{field: f{i}, type: strnig}}\n" for i in range(200))
    p.write_text(f"id: s\nsource:\n  api: a\n  request:\n{items}target: {{api: b}}\n", encoding="utf-8")
    with pytest.raises(SchemeError) as info:
        load_scheme(p)
    problems = info.value.problems
    assert len(problems) == MAX_PROBLEMS + 1
    assert problems[-1].message == f"... and {200 - MAX_PROBLEMS} more problems"
