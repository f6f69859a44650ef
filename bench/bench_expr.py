"""Benchmark: map a realistic payment-request record through ``build_request`` on one core.

Run by hand: ``.venv/bin/python bench/bench_expr.py [--seconds 3]``. Prints records per second.
The target (issue 2) is at least 10,000 records/s. The field list is compiled once, as the
engine does; each iteration renders one DingTalk 付款申请 record into a Kingdee 付款单 body.
"""

from __future__ import annotations

import argparse
import copy
import time
from datetime import datetime
from typing import Any

from ferry.expr import Context, FieldNode, MemoryLookup, compile_request

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="how long to run (default 3)")
    args = parser.parse_args()

    builder = compile_request([FieldNode("Model", "object", children=tuple(FIELDS))])
    ctx = Context(
        variables={"LAST_SYNC_TIME": 1710432000},
        now=datetime(2024, 3, 15, 12, 0, 0),
        lookup=MemoryLookup(),
    )
    # Distinct record objects, so nothing can be cached across iterations by identity.
    records = []
    # 10,000 records with distinct times: more than the pipe cache holds, so it cannot flatter us.
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
        records.append(record)

    sample = builder.build(records[0], ctx)
    assert sample["Model"]["FPAYAMOUNT"] == 12355.67, sample["Model"]["FPAYAMOUNT"]
    assert len(sample["Model"]["FPAYBILLENTRY"]) == 5

    for record in records[:200]:  # warm-up
        builder.build(record, ctx)
    done = 0
    start = time.perf_counter()
    cpu_start = time.process_time()
    deadline = start + args.seconds
    while time.perf_counter() < deadline:
        for record in records:
            builder.build(record, ctx)
        done += len(records)
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    print(f"fields per record: {len(FIELDS)} header + 6 x {len(RECORD['details_list'])} rows")
    print(f"records: {done} in {elapsed:.2f} s wall, {cpu:.2f} s CPU")
    # CPU time is what one core spent; wall time also counts whatever else the machine runs.
    print(
        f"throughput (CPU time): {done / cpu:,.0f} records/s on one core ({cpu / done * 1e6:.1f} us/record)"
    )
    print(f"throughput (wall time): {done / elapsed:,.0f} records/s")


if __name__ == "__main__":
    main()
