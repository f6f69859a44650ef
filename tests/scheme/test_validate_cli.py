"""`ferry validate` and `ferry schema` as a user runs them (a real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
    assert "ok examples/dingtalk-payapply-to-paybill.yaml" in r.stdout


def test_validate_reports_every_error_with_place_and_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: s1\nsource:\n  api: a\n  method: FETCH\ntarget: {}\n", encoding="utf-8")
    r = ferry("validate", str(bad), "examples/dingtalk-payapply-to-paybill.yaml")
    assert r.returncode == 1
    assert f"{bad}:4:3: source.method:" in r.stderr
    assert f"{bad}:5:1: target.api: required key is missing" in r.stderr
    assert "Traceback" not in r.stderr
    assert "1 of 2 file(s) invalid" in r.stderr


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
