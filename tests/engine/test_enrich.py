"""Lookups (enrich) feed quality rules; a failing rule quarantines the record with the values in its reason."""

from __future__ import annotations

from pathlib import Path

from apps import Erp, connections_yaml, orders, scheme_yaml, shop_app

from ferry.connectors.settings import load_connections
from ferry.engine.runner import Engine
from ferry.sandbox.serve import ServerThread
from ferry.scheme import load_scheme
from ferry.store import Ledger

ENRICH = """
enrich:
  - name: known
    connection: erp
    query: {path: /expected, params: {"no": "{{no}}"}, records_path: items}
quality:
  - name: known-to-erp
    check: "{{known.no}} IS NOT NULL"
    message: "order {{no}} is unknown to the ERP"
  - name: amount-matches
    check: "{{amount}} = {{known.amount}}"
    message: "amount {{amount}} differs from the ERP's {{known.amount}}"
"""


async def test_lookup_results_drive_quality_rules(tmp_path: Path) -> None:
    erp = Erp()
    all_orders = orders(6)
    for o in all_orders:
        erp.expected[o["no"]] = o["amount"]
    del erp.expected["SO-00002"]  # unknown to the ERP
    erp.expected["SO-00004"] = "999.00"  # disagrees
    with ServerThread(shop_app(all_orders)) as shop, ServerThread(erp.app()) as target:
        scheme_path = tmp_path / "s.yaml"
        scheme_path.write_text(scheme_yaml() + ENRICH, encoding="utf-8")
        conns = tmp_path / "c.yaml"
        conns.write_text(connections_yaml(shop.url, target.url), encoding="utf-8")
        ledger = Ledger(f"sqlite:///{tmp_path / 'f.db'}")
        ledger.migrate()
        engine = Engine(ledger, load_connections(conns))
        await engine.run(load_scheme(scheme_path))

        assert ledger.counts("shop-to-erp") == {"written": 4, "quarantined": 2}
        unknown = ledger.get("shop-to-erp", "O00002")
        assert unknown is not None and unknown.status == "quarantined"
        assert unknown.reason == "quality rule 'known-to-erp' failed: order SO-00002 is unknown to the ERP"
        mismatch = ledger.get("shop-to-erp", "O00004")
        assert mismatch is not None
        assert (
            mismatch.reason
            == "quality rule 'amount-matches' failed: amount 4.50 differs from the ERP's 999.00"
        )
        assert erp.count("O00002") == 0 and erp.count("O00004") == 0 and erp.count("O00001") == 1
        # the lookups are API calls like any other, in the call log
        assert any(u.api == "/expected" and u.calls == 6 for u in ledger.api_usage())
        ledger.close()
