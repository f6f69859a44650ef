"""Benchmark: map a realistic payment-request record through the request builder on one core.

Run by hand: ``.venv/bin/python bench/bench_expr.py [--seconds 6]``. The field list is compiled
once, as the engine does; each iteration renders one DingTalk 付款申请 record into a Kingdee 付款单
body. Prints records per second of CPU time, side by side in the same process, for:

* the builder as shipped (compile-time folding and assembled objects, default ``Limits``);
* the same builder with folding switched off (``fold=False``: every field runs per record, as
  before folding existed), so the ratio of the two is visible;
* the shipped builder under ``Limits.unlimited()`` (no time budget, limits too large to bite),
  so the cost of the limits themselves is visible.

With ``--against REV`` (a git revision, e.g. ``1c3174b``, the code before folding) the
``ferry.expr`` of that revision is loaded beside the current one, under another name, and run
on the same records, after checking that it builds the same bodies.

The configurations run in interleaved rounds and each figure is the best round, which keeps the
ratios honest on a machine shared with other work. Target: at least 20,000 records/s per core.
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ferry.expr import Context, FieldNode, Limits, MemoryLookup, RequestBuilder, compile_request

RECORD: dict[str, Any] = {
    "id": "proc-8f3e2a71-0c44-4d5e-9a10-2b1c6f0e9d11",
    "单据编号": "FKSQ202403150001",
    "business_id": "202403151030000123456",
    "title": "张三提交的付款申请",
    "create_time": "2024-03-15 10:30:00",
    "finish_time": 1710480000000,
    "status": "COMPLETED",
    "result": "agree",
    "申请人": "张三",
    "申请部门": "财务部",
    "付款公司": "100",
    "收款单位": "深圳市某某科技有限公司",
    "收款账号": "6222 0210 0100 1234 567",
    "开户行": "中国工商银行深圳分行",
    "付款方式": "银行转账",
    "币别": "PRE001",
    "付款金额": 12345.67,
    "备注": "三月份服务费，含税 13%",
    "项目编码": "PRJ-2024-007",
    "附件": "a.pdf,b.pdf,c.pdf",
    "details_list": [
        {"费用项目": "FYXM01", "金额": 1000.5, "税率": 0.13, "说明": "咨询费", "部门": "BM001"},
        {"费用项目": "FYXM02", "金额": 2000.25, "税率": 0.06, "说明": "服务费", "部门": "BM002"},
        {"费用项目": "FYXM03", "金额": 3000.0, "税率": 0.13, "说明": "设备租赁", "部门": "BM001"},
        {"费用项目": "FYXM04", "金额": 4000.42, "税率": 0.09, "说明": "运输费", "部门": "BM003"},
        {"费用项目": "FYXM05", "金额": 2344.5, "税率": 0.0, "说明": "其他", "部门": "BM001"},
    ],
}

NUMBER = {"name": "ConvertObjectParser", "params": "FNumber"}

FIELDS = [
    FieldNode("FBillTypeID", "string", "FKDLX04_SYS", parser=NUMBER),
    FieldNode("FBillNo", "string", "{{单据编号}}", required=True),
    FieldNode("FDATE", "string", "{{create_time|date}}"),
    FieldNode("FBUSINESSTYPE", "string", "{{付款方式}}", value_map={"银行转账": "1", "现金": "2"}),
    FieldNode("FSETTLEORGID", "string", "{{付款公司}}", parser=NUMBER),
    FieldNode(
        "FPAYORGID",
        "string",
        "_function CASE '{{付款公司}}' WHEN '100' THEN '101' WHEN '200' THEN '201' ELSE '{{付款公司}}' END",
        parser=NUMBER,
    ),
    FieldNode("FCURRENCYID", "string", "{{币别}}", parser=NUMBER),
    FieldNode("FCONTACTUNIT", "string", "{{收款单位}}"),
    FieldNode("FRECTUNITTYPE", "string", "BD_Supplier"),
    FieldNode("FPAYAMOUNT", "number", "_function ROUND(SUM({{details_list.金额}}), 2)"),
    FieldNode("FREMARK", "string", "{{申请人}}-{{申请部门}}: {{备注}}"),
    FieldNode("FAPPLICANT", "string", "{{申请人}}"),
    FieldNode("FDEPARTMENT", "string", "{{申请部门}}"),
    FieldNode("FSOURCEID", "string", "{{id}}"),
    FieldNode("FBUSINESSID", "string", "{{business_id}}"),
    FieldNode("FFINISHTIME", "string", "{{finish_time|datetime}}"),
    FieldNode("FPROJECT", "string", "{{项目编码}}", parser=NUMBER),
    FieldNode("FATTACHMENTS", "string", "{{附件}}", parser={"name": "StringToArray", "params": ","}),
    FieldNode("FSYNCFROM", "string", "{LAST_SYNC_TIME|datetime}"),
    FieldNode(
        "FPAYBILLENTRY",
        "array",
        "details_list",
        children=(
            FieldNode("FCOSTID", "string", "{{details_list.费用项目}}", parser=NUMBER),
            FieldNode("FPAYTOTALAMOUNTFOR", "number", "{{details_list.金额}}"),
            FieldNode("FTAXRATE", "number", "{{details_list.税率}}"),
            FieldNode("FCOSTDEPARTMENTID", "string", "{{details_list.部门}}", parser=NUMBER),
            FieldNode("FCOMMENT", "string", "{{details_list.说明}}"),
            FieldNode("FRECACCOUNT", "string", "{{收款账号}}"),
        ),
    ),
]


def records() -> list[dict[str, Any]]:
    """10,000 distinct records (more than any cache holds), so nothing is flattered by identity."""
    out = []
    for i in range(10_000):
        record = copy.deepcopy(RECORD)
        record["单据编号"] = f"FKSQ20240315{i:04d}"
        # Distinct times per record, so the pipes' cache only helps where real runs repeat values.
        record["create_time"] = (
            f"2024-{1 + i % 12:02d}-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:{(i * 7) % 60:02d}"
        )
        record["finish_time"] = 1710480000000 + i * 61_000
        for row, line in enumerate(record["details_list"]):
            line["金额"] = round(line["金额"] + i * 0.01 + row, 2)
        out.append(record)
    return out


def context(limits: Limits) -> Context:
    return Context(
        variables={"LAST_SYNC_TIME": 1710432000},
        now=datetime(2024, 3, 15, 12, 0, 0),
        lookup=MemoryLookup(),
        limits=limits,
    )


def rate(
    build: Callable[[dict[str, Any], Context], Any], rows: list[dict[str, Any]], ctx: Context, seconds: float
) -> float:
    """Records per second of CPU time over at least ``seconds`` of CPU."""
    done = 0
    start = time.process_time()
    while True:
        for record in rows:
            build(record, ctx)
        done += len(rows)
        spent = time.process_time() - start
        if spent >= seconds:
            return done / spent


def older(revision: str) -> Any:
    """``ferry.expr`` as it was at ``revision``, imported as another package (needs git)."""
    import atexit
    import importlib
    import io
    import shutil
    import subprocess
    import sys
    import tarfile
    import tempfile
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    archive = subprocess.run(
        ["git", "archive", revision, "src/ferry/expr"], cwd=repo, check=True, capture_output=True
    ).stdout
    name = "ferry_expr_" + "".join(c for c in revision if c.isalnum())
    root = Path(tempfile.mkdtemp(prefix="bench-expr-"))
    atexit.register(shutil.rmtree, root, True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            relative = Path(member.name).relative_to("src/ferry/expr")
            text = tar.extractfile(member).read().decode()  # type: ignore[union-attr]
            target = root / name / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text.replace("ferry.expr", name))
    sys.path.insert(0, str(root))
    return importlib.import_module(name)


def rebuilt(module: Any) -> Any:
    """The bench's field list as ``module``'s FieldNodes."""

    def node(f: FieldNode) -> Any:
        return module.FieldNode(
            f.field, f.type, f.value, children=tuple(node(c) for c in f.children), parser=f.parser,
            value_map=f.value_map, required=f.required, default=f.default,
        )  # fmt: skip

    return module.compile_request(
        [module.FieldNode("Model", "object", children=tuple(node(f) for f in FIELDS))]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=6.0, help="CPU seconds in all (default 6)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--against", metavar="REV", help="also run ferry.expr as of this git revision")
    args = parser.parse_args()

    model = [FieldNode("Model", "object", children=tuple(FIELDS))]
    folded: RequestBuilder = compile_request(model)
    unfolded: RequestBuilder = compile_request(model, fold=False)
    default, unlimited = context(Limits()), context(Limits.unlimited())
    rows = records()

    # The configurations build the same bodies.
    sample = folded.build(rows[0], default)
    assert sample["Model"]["FPAYAMOUNT"] == 12355.67, sample["Model"]["FPAYAMOUNT"]
    assert len(sample["Model"]["FPAYBILLENTRY"]) == 5
    assert all(folded.build(r, default) == unfolded.build(r, default) for r in rows[:500])

    configurations = {
        "folded, default limits": (folded.build, default),
        "unfolded (fold=False), default limits": (unfolded.build, default),
        "folded, Limits.unlimited()": (folded.build, unlimited),
    }
    if args.against:
        module = older(args.against)
        before = rebuilt(module)
        ctx = module.Context(variables={"LAST_SYNC_TIME": 1710432000}, now=datetime(2024, 3, 15, 12, 0, 0))
        assert all(before.build(r, ctx) == folded.build(r, default) for r in rows[:500])
        configurations[f"ferry.expr at {args.against}"] = (before.build, ctx)
    for build, ctx in configurations.values():  # warm-up
        for record in rows[:500]:
            build(record, ctx)
    share = args.seconds / args.rounds / len(configurations)
    best = dict.fromkeys(configurations, 0.0)
    for _ in range(args.rounds):
        for name, (build, ctx) in configurations.items():
            best[name] = max(best[name], rate(build, rows, ctx, share))

    print(f"fields per record: {len(FIELDS)} header + 6 x {len(RECORD['details_list'])} rows")
    for name, value in best.items():
        print(f"{name:40s} {value:>9,.0f} records/s per core ({1e6 / value:5.1f} us/record)")
    shipped = best["folded, default limits"]
    print(f"folding speed-up: {shipped / best['unfolded (fold=False), default limits']:.2f}x")
    print(f"cost of the limits: {100 * (1 - shipped / best['folded, Limits.unlimited()']):+.1f}% of the time")
    if args.against:
        print(f"speed-up over {args.against}: {shipped / best[f'ferry.expr at {args.against}']:.2f}x")


if __name__ == "__main__":
    main()
