"""`ferry validate` and `ferry schema` as a user runs them (a real subprocess)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ferry.scheme import native_json_schema

ROOT = Path(__file__).parents[2]
FIX = Path(__file__).parent / "fixtures"


def ferry(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ferry.cli.main", *args], capture_output=True, text=True, timeout=60, cwd=ROOT
    )


def test_validate_examples_ok() -> None:
    r = ferry("validate", "examples")
    assert r.returncode == 0, r.stderr
    # clean: no warnings either (the examples say `connector:` on each side)
    assert r.stderr == ""
    assert r.stdout.splitlines() == [
        "ok examples/dingtalk-payapply-to-paybill.yaml",
        "ok examples/qingyi/dingtalk-payapply-to-paybill.json",
        "ok examples/rest-orders-to-erp.yaml",
    ]


def test_validate_reports_every_error_with_place_and_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: s1\nsource:\n  api: a\n  method: FETCH\ntarget: {}\n", encoding="utf-8")
    r = ferry("validate", str(bad), "examples/dingtalk-payapply-to-paybill.yaml")
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert lines[0].startswith(f"{bad}:4:3: source.method: method must be an HTTP verb")
    assert lines[1] == f"{bad}:5:1: target.api: required key is missing"
    assert lines[2] == "1 of 2 file(s) invalid"
    assert "Traceback" not in r.stderr


def test_validate_side(tmp_path: Path) -> None:
    assert ferry("validate", "--side", "source", str(FIX / "seed_source.json")).returncode == 0
    assert ferry("validate", "--side", "target", str(FIX / "seed_target.json")).returncode == 0
    # the target half is not a valid source: no problem there, every key it has is allowed; but a
    # source without api is
    empty = tmp_path / "e.json"
    empty.write_text("{}", encoding="utf-8")
    r = ferry("validate", "--side", "source", str(empty))
    assert r.returncode == 1 and "api: required key is missing" in r.stderr


def test_schema_command_matches_shipped_file() -> None:
    r = ferry("schema")
    assert r.returncode == 0
    printed = json.loads(r.stdout)
    assert printed == native_json_schema()
    shipped = json.loads((ROOT / "schemas" / "scheme.schema.json").read_text("utf-8"))
    assert shipped == printed, "regenerate with: ferry schema > schemas/scheme.schema.json"
    # native names, not Qingyi aliases
    assert "id_check" in json.dumps(printed["$defs"]["SourceSpec"])
    assert "beat_flat" in printed["$defs"]["SourceSpec"]["properties"]


# --- typos, warnings, connections: one line per problem, file:line:col: key.path: message ------------


def flagship_with(tmp_path: Path, *edits: tuple[str, str], name: str = "flagship.yaml") -> Path:
    text = (ROOT / "examples" / "dingtalk-payapply-to-paybill.yaml").read_text("utf-8")
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def line_of(path: Path, needle: str) -> int:
    return next(n for n, line in enumerate(path.read_text("utf-8").splitlines(), 1) if needle in line)


@pytest.mark.parametrize(
    ("old", "new", "key", "path", "suggestion"),
    [
        ("\nquality:\n", "\nqualty:\n", "qualty", "qualty", "quality"),
        ("  initial_days: 30", "  inital_days: 30", "inital_days", "source.inital_days", "initial_days"),
        ("  batch_size: 20", "  batchsize: 20", "batchsize", "target.batchsize", "batch_size"),
        (
            "    max_age_days: 60",
            "    max_age_dyas: 60",
            "max_age_dyas",
            "source.params.max_age_dyas",
            "max_age_days",
        ),
        (
            "    source_number_field:",
            "    source_numbr_field:",
            "source_numbr_field",
            "target.probe.source_numbr_field",
            "source_number_field",
        ),
        ("      fields: [FBillNo,", "      feilds: [FBillNo,", "feilds", "enrich[0].query.feilds", "fields"),
        ("  initial_delay: 10", "  initial_dely: 10", "initial_dely", "retry.initial_dely", "initial_delay"),
        (
            "schedule: {interval: 5m}",
            "schedule: {intervall: 5m}",
            "intervall",
            "source.schedule.intervall",
            "interval",
        ),
        ('    check: "LENGTH', '    chek: "LENGTH', "chek", "quality[0].chek", "check"),
    ],
)
def test_each_kind_of_typo_fails_validate_with_key_line_and_suggestion(
    tmp_path: Path, old: str, new: str, key: str, path: str, suggestion: str
) -> None:
    p = flagship_with(tmp_path, (old, new))
    r = ferry("validate", str(p))
    assert r.returncode == 1
    line = line_of(p, key)
    problem, summary = r.stderr.splitlines()
    assert re.fullmatch(
        rf"{re.escape(str(p))}:{line}:\d+: {re.escape(path)}: unknown key \(did you mean '{suggestion}'\?\)",
        problem,
    ), problem
    assert summary == "1 of 1 file(s) invalid"
    assert "ok " not in r.stdout


def test_a_qingyi_near_miss_fails_and_an_unknown_key_only_warns(tmp_path: Path) -> None:
    doc = json.loads((ROOT / "examples" / "qingyi" / "dingtalk-payapply-to-paybill.json").read_text("utf-8"))
    doc["source"]["uiLayoutVersion"] = 3
    warn = tmp_path / "warn.json"
    warn.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    r = ferry("validate", str(warn))
    assert r.returncode == 0, r.stderr
    (warning,) = r.stderr.splitlines()
    line = line_of(warn, "uiLayoutVersion")
    assert re.fullmatch(
        rf"{re.escape(str(warn))}:{line}:\d+: source.uiLayoutVersion: warning: unknown key.*", warning
    )
    assert r.stdout.strip() == f"ok {warn} (1 warning)"

    doc["target"]["idChek"] = doc["target"].pop("idCheck")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    r = ferry("validate", str(bad))
    assert r.returncode == 1
    assert "target.idChek: unknown key (did you mean 'idCheck'?)" in r.stderr
    assert "source.uiLayoutVersion: warning:" in r.stderr


CONNECTIONS = """\
dingtalk_main:
  type: dingtalk
  app_key: dingabc123
  app_secret: ${FERRY_TEST_DT_SECRET}
kingdee_main:
  type: kingdee
  base_url: https://k3.example.com/k3cloud/
  auth_mode: signed_headers
  acct_id: "6123"
  usrname: ferry
  app_id: app-1
  app_secret: ${FERRY_TEST_KD_SECRET}
"""


def test_connections_beside_the_scheme_and_named_by_option_are_both_checked(tmp_path: Path) -> None:
    here = tmp_path / "here"
    here.mkdir()
    p = flagship_with(
        here, ("  connector: kingdee\n", ""), ("connection: dingtalk_main", "connection: dingtalk_mian")
    )
    (here / "connections.yaml").write_text(CONNECTIONS, encoding="utf-8")
    r = ferry("validate", str(p))
    assert r.returncode == 1
    conns = here / "connections.yaml"
    lines = r.stderr.splitlines()
    assert (
        f"{p}:{line_of(p, 'dingtalk_mian')}:3: source.connection: no connection 'dingtalk_mian' in {conns} (did you mean 'dingtalk_main'?)"
        in lines
    )
    assert f"{conns}:10:3: kingdee_main.usrname: unknown key (did you mean 'username'?)" in lines
    # references that are not set are said once each, as warnings: the file is fine, the environment is not
    unset = [line for line in lines if "is not set" in line]
    assert len(unset) == 2 and all(": warning: connection" in line for line in unset)
    assert lines[-1] == "2 of 2 file(s) invalid"

    elsewhere = tmp_path / "elsewhere.yaml"
    elsewhere.write_text(CONNECTIONS.replace("usrname", "username"), encoding="utf-8")
    fixed = flagship_with(tmp_path, ("  connector: kingdee\n", ""))
    r = ferry("validate", "--connections", str(elsewhere), str(fixed))
    assert r.returncode == 0, r.stderr
    assert f"ok {fixed}" in r.stdout and f"ok {elsewhere} (2 warnings)" in r.stdout


def test_a_folder_with_two_schemes_of_one_id_fails(tmp_path: Path) -> None:
    a = flagship_with(tmp_path, name="a.yaml")
    b = flagship_with(tmp_path, name="b.yaml")
    line = line_of(a, "id: dingtalk-payapply-to-paybill")
    (tmp_path / "connections.yaml").write_text(CONNECTIONS.replace("usrname", "username"), encoding="utf-8")
    (tmp_path / "notes.json").write_text('{"todo": []}', encoding="utf-8")
    r = ferry("validate", str(tmp_path))
    assert r.returncode == 1
    assert f"skip {tmp_path / 'notes.json'}: not a scheme (no source or target)" in r.stdout
    assert (
        f"{b}:{line}:1: id: scheme id 'dingtalk-payapply-to-paybill' is also the id of {a}:{line}:1"
        in r.stderr
    )


# --- total: no traceback, bounded time, for any file ------------------------------------------------

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

HOSTILE: dict[str, bytes] = {
    "bomb.yaml": ALIAS_BOMB.encode(),
    "empty.yaml": b"",
    "comments.yaml": b"# nothing here\n",
    "list.yaml": b"- a\n- b\n",
    "scalar.json": b'"just text"',
    "latin1.yaml": b"id: s\nname: caf\xe9\n",
    "utf16.yaml": "id: s\n".encode("utf-16"),
    "binary.yaml": bytes(range(256)) * 8,
    "nul.json": b'{"id": "a\x00"}',
    "deep.yaml": b"a: " + b"[" * 3000 + b"]" * 3000,
    "deep.json": b'{"a": ' + b"[" * 200_000 + b"]" * 200_000 + b"}",
    "intkey.yaml": b"1: one\n",
    "listkey.yaml": b"? [a]\n: b\n",
    "loop.yaml": b"a: &a [*a]\n",
    "tag.yaml": b"id: !!python/object/apply:os.system [ls]\n",
    "inf.yaml": b"id: s\nsource: {api: a, lookback: .inf}\ntarget: {api: b}\n",
    "bigint.json": b'{"id": ' + b"7" * 10_000 + b"}",
    "dup.json": b'{"id": "a", "id": "b"}',
    "syntax.json": b'{"id": "a",,}',
    "two.yaml": b"a: 1\n---\nb: 2\n",
    "cycle.json": b'{"id": "c", "source": {"api": "a", "request": [{"id": "x", "field": "x", "parent": "y"}, {"id": "y", "field": "y", "parent": "x"}]}, "target": {"api": "b"}}',
}


def test_validate_is_total_on_hostile_files(tmp_path: Path) -> None:
    names = []
    for name, content in HOSTILE.items():
        (tmp_path / name).write_bytes(content)
        names.append(str(tmp_path / name))
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as fh:
        fh.truncate(64 * 1024 * 1024)  # sparse: 64 MiB of NULs, refused before it is read
    names.append(str(huge))
    started = time.monotonic()
    r = ferry("validate", *names)
    elapsed = time.monotonic() - started
    assert elapsed < 30, elapsed
    assert r.returncode == 1
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr
    lines = r.stderr.splitlines()
    assert lines[-1] == f"{len(names) - 1} of {len(names)} file(s) invalid"  # the cycle is harmless
    for name in names:
        if name.endswith("cycle.json"):
            continue
        mine = [line for line in lines if line.startswith(f"{name}:")]
        assert mine, f"no problem reported for {name}"
        # one clear line each: file, then (when there is one) line, then the message
        assert all(re.match(rf"{re.escape(name)}(:\d+(:\d+)?)?: \S", line) for line in mine), mine
    assert any(line.startswith(f"{tmp_path / 'bomb.yaml'}:") and "aliases" in line for line in lines)


def test_the_alias_bomb_alone_fails_fast(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(ALIAS_BOMB, encoding="utf-8")
    started = time.monotonic()
    r = ferry("validate", str(bomb))
    assert time.monotonic() - started < 20  # the interpreter's start-up dominates; the check is instant
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert re.match(rf"{re.escape(str(bomb))}:\d+:\d+: the document expands to more than", r.stderr)
