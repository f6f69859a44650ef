"""Property-based tests of the loader: whatever a file holds, only a SchemeError (or a scheme, maybe with
warnings) comes out, and a one-letter typo in any key of a real scheme never passes unnoticed.

The budget is fixed (``max_examples``), so the whole module runs in well under half a minute.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ferry.connectors.check import check_scheme
from ferry.connectors.spec import specs
from ferry.scheme import Problem, Scheme, SchemeError, load_scheme, model_keys, read_document
from ferry.scheme import model as scheme_model
from ferry.scheme.qingyi import INERT_KEYS, UNSUPPORTED

ROOT = Path(__file__).parents[2]
NATIVE = ROOT / "examples" / "dingtalk-payapply-to-paybill.yaml"
QINGYI = ROOT / "examples" / "qingyi" / "dingtalk-payapply-to-paybill.json"
REST = ROOT / "examples" / "rest-orders-to-erp.yaml"

# no example database: a failure prints its reproduction blob, and the worktree stays clean
FUZZ = settings(
    max_examples=120,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
TYPOS = settings(FUZZ, max_examples=50)


# real key names make the random structures reach deep into the model instead of failing at the top
def _vocabulary() -> list[str]:
    words: set[str] = {"process_code", "form_id", "where", "fields", "display", "condition_bk", "idChek"}
    for name in scheme_model.__all__:
        model = getattr(scheme_model, name)
        if isinstance(model, type) and hasattr(model, "model_fields"):
            words.update(model_keys(model))
    return sorted(words)


WORDS = _vocabulary()

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(
        ["{{x}}", "{{x", "_function 1 +", "*/5 * * * *", "5m", "COMPLETED", "eq", "date", "Push"]
    ),
)
keys = st.one_of(st.sampled_from(WORDS), st.text(min_size=1, max_size=10))
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(keys, inner, max_size=6),
    ),
    max_leaves=40,
)
wild = st.fixed_dictionaries(
    {"id": st.one_of(st.just("fuzz"), scalars), "source": documents, "target": documents},
    optional={"quality": documents, "retry": documents, "enrich": documents, "qualty": documents},
)
# plausible schemes: real keys with random values, so a good share load and reach the connector checks
side = st.builds(
    lambda extra, base: {**extra, **base},
    st.one_of(st.just({}), st.dictionaries(st.sampled_from(WORDS), scalars, max_size=3)),
    st.fixed_dictionaries(
        {"api": st.sampled_from(["a", "/orders", "Push"])},
        optional={
            "connector": st.sampled_from(["dingtalk", "kingdee", "http", "rest", "nope"]),
            "params": st.dictionaries(st.sampled_from(WORDS), scalars, max_size=3),
            "probe": st.dictionaries(st.sampled_from(WORDS), scalars, max_size=3),
        },
    ),
)
plausible = st.fixed_dictionaries(
    {"id": st.just("fuzz"), "source": side, "target": side},
    optional={
        "retry": st.dictionaries(st.sampled_from(["max_attempts", "initial_delay", "jitter"]), scalars),
        "enrich": st.lists(st.fixed_dictionaries({"name": st.just("e"), "query": documents}), max_size=2),
    },
)
top_levels = st.one_of(wild, plausible)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def only_scheme_errors(path: Path) -> tuple[Scheme | None, list[Problem]]:
    """Load ``path``; anything but a SchemeError escaping fails the test (pytest shows it)."""
    warnings: list[Problem] = []
    try:
        scheme = load_scheme(path, warnings=warnings)
    except SchemeError as e:
        assert e.problems, "a SchemeError says why"
        assert all(isinstance(p.line, int) and p.message for p in e.problems)
        return None, warnings
    assert all(not w.is_error for w in warnings)
    return scheme, warnings


@FUZZ
@given(doc=top_levels, as_json=st.booleans())
def test_random_structures_give_a_scheme_or_a_scheme_error(
    workdir: Path, doc: dict[str, Any], as_json: bool
) -> None:
    if as_json:
        path = workdir / "random.json"
        path.write_text(json.dumps(doc, ensure_ascii=False, allow_nan=True), encoding="utf-8")
    else:
        from ruamel.yaml import YAML

        path = workdir / "random.yaml"
        with path.open("w", encoding="utf-8") as fh:
            YAML(typ="safe", pure=True).dump(doc, fh)
    scheme, _ = only_scheme_errors(path)
    if scheme is not None:
        check_scheme(scheme)  # the connector checks are total too


@FUZZ
@given(raw=st.binary(max_size=400), suffix=st.sampled_from([".yaml", ".json", ".yml"]))
def test_random_bytes_give_a_document_or_a_scheme_error(workdir: Path, raw: bytes, suffix: str) -> None:
    path = workdir / f"bytes{suffix}"
    path.write_bytes(raw)
    try:
        read_document(path)
    except SchemeError as e:
        assert e.problems
    only_scheme_errors(path)


@FUZZ
@given(text=st.text(alphabet=st.sampled_from(list("ab:-[]{}&*!?|>'\"#,\n \t.0123456789")), max_size=120))
def test_random_yaml_punctuation_gives_a_document_or_a_scheme_error(workdir: Path, text: str) -> None:
    path = workdir / "punct.yaml"
    path.write_text(text, encoding="utf-8")
    only_scheme_errors(path)


# --- one-letter typos in the keys of the real schemes ------------------------------------------------


def key_paths(data: Any, loc: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """Every key's path, except in the blocks whose keys are the user's own (a lookup's ``where``)."""
    if isinstance(data, dict):
        for key, value in data.items():
            # keys that are the user's own: a Kingdee lookup's field names, a REST probe's query parameters
            if loc[-1:] == ("where",) or loc[-2:] == ("probe", "params"):
                continue
            yield (*loc, key)
            yield from key_paths(value, (*loc, key))
    elif isinstance(data, list):
        for i, item in enumerate(data):
            yield from key_paths(item, (*loc, i))


def every_known_key() -> set[str]:
    known: set[str] = set()
    for name in scheme_model.__all__:
        model = getattr(scheme_model, name)
        if isinstance(model, type) and hasattr(model, "model_fields"):
            known.update(model_keys(model))
    for spec in specs().values():
        for model in (spec.settings, spec.source_params, spec.target_params, spec.probe, spec.lookup):
            if model is not None:
                known.update(model_keys(model))
    for table in (INERT_KEYS, UNSUPPORTED):
        for block in table.values():
            known.update(block)
    return known


KNOWN = every_known_key()
LETTERS = "abcdefghijklmnopqrstuvwxyz_"


@st.composite
def typos(draw: st.DrawFn, word: str) -> str:
    """``word`` one edit away: a letter inserted, dropped, changed, or two neighbours swapped."""
    i = draw(st.integers(min_value=0, max_value=len(word)))
    kind = draw(st.sampled_from(["insert", "delete", "replace", "swap"]))
    letter = draw(st.sampled_from(LETTERS))
    if kind == "insert" or not word:
        return word[:i] + letter + word[i:]
    i = min(i, len(word) - 1)
    if kind == "delete" and len(word) > 1:
        return word[:i] + word[i + 1 :]
    if kind == "swap" and i + 1 < len(word):
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return word[:i] + letter + word[i + 1 :]


def rename(data: Any, loc: tuple[str | int, ...], new: str) -> Any:
    """A copy of ``data`` with the key at ``loc`` renamed (its place in the mapping kept)."""
    head, *rest = loc
    if isinstance(data, list):
        return [rename(item, tuple(rest), new) if i == head else item for i, item in enumerate(data)]
    if not rest:
        return {(new if k == head else k): v for k, v in data.items()}
    return {k: (rename(v, tuple(rest), new) if k == head else v) for k, v in data.items()}


def typo_is_caught(path: Path) -> bool:
    """True when loading, or checking against the connectors, reports an error."""
    scheme, _warnings = only_scheme_errors(path)
    if scheme is None:
        return True
    return any(p.is_error for p in check_scheme(scheme))


def real_scheme_typo_test(source: Path, suffix: str) -> Any:
    data = read_document(source).data
    paths = list(key_paths(data))

    @TYPOS
    @given(st.data())
    def test(workdir: Path, data_strategy: st.DataObject) -> None:
        loc = data_strategy.draw(st.sampled_from(paths))
        key = str(loc[-1])
        new = data_strategy.draw(typos(key))
        assume(new != key and new not in KNOWN)
        changed = rename(data, loc, new)
        path = workdir / f"typo{suffix}"
        if suffix == ".json":
            path.write_text(json.dumps(changed, ensure_ascii=False), encoding="utf-8")
        else:
            from ruamel.yaml import YAML

            with path.open("w", encoding="utf-8") as fh:
                YAML(typ="safe", pure=True).dump(changed, fh)
        assert typo_is_caught(path), f"{'.'.join(map(str, loc))}: {key!r} -> {new!r} passed unnoticed"

    return test


test_a_typo_in_any_key_of_the_native_flagship_is_caught = real_scheme_typo_test(NATIVE, ".yaml")
test_a_typo_in_any_key_of_the_qingyi_flagship_is_caught = real_scheme_typo_test(QINGYI, ".json")
test_a_typo_in_any_key_of_the_rest_example_is_caught = real_scheme_typo_test(REST, ".yaml")
