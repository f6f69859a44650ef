"""OpenTelemetry spans (the optional extra): a span per pass, per dispatch batch and per API attempt, by
the HTTP client conventions, with no secret in any attribute; and Ferry runs without the extra."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk", reason="the otel extra is not installed")

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from ferry.connectors.settings import connections_from_dict
from ferry.demo import FLAGSHIP
from ferry.engine.runner import Engine
from ferry.observe import tracing
from ferry.sandbox import linked
from ferry.sandbox.dingtalk.app import create_app as create_dingtalk
from ferry.sandbox.dingtalk.config import SandboxConfig as DingTalkConfig
from ferry.sandbox.kingdee import KingdeeSandbox
from ferry.sandbox.kingdee import SandboxConfig as KingdeeConfig
from ferry.sandbox.serve import ServerThread
from ferry.scheme import load_scheme
from ferry.store import Ledger


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_provider(provider)
    yield exporter
    tracing.use_provider(None)


def test_redact_url_hides_credentials_and_secret_query_values() -> None:
    url = "https://u:p@oapi.dingtalk.com/robot/send?access_token=abc&timestamp=1&sign=xyz&processCode=PROC-1"
    out = tracing.redact_url(url)
    assert out == (
        "https://REDACTED:REDACTED@oapi.dingtalk.com/robot/send"
        "?access_token=REDACTED&timestamp=REDACTED&sign=REDACTED&processCode=PROC-1"
    )
    assert "abc" not in out and "xyz" not in out and "u:p" not in out


def test_a_flagship_run_on_the_legacy_host_leaves_pass_batch_and_attempt_spans(
    spans: InMemorySpanExporter, tmp_path: Any
) -> None:
    scheme = load_scheme(FLAGSHIP)
    code = scheme.source.params["process_code"]
    dt_cfg = DingTalkConfig(
        seed_instances=0,
        random_seed=6,
        latency_ms=(1, 2),
        process_code=str(code[0] if isinstance(code, list | tuple) else code),
    )
    kd_cfg = KingdeeConfig(random_seed=6, latency_ms=(1, 2))
    ledger = Ledger(f"sqlite:///{tmp_path / 'ferry.db'}")
    ledger.migrate()
    with ServerThread(create_dingtalk(dt_cfg)) as dingtalk, ServerThread(KingdeeSandbox(kd_cfg)) as kingdee:
        linked.seed(dingtalk.url, kingdee.url, linked.plan(10, seed=6))
        env = {"DT": dt_cfg.app_secret, "KD": kd_cfg.app_secret}
        conns = connections_from_dict(
            {
                # the legacy host carries the app secret (gettoken) and the token (every call) in the query
                "dingtalk_main": {
                    "type": "dingtalk",
                    "api_style": "oapi",
                    "api_base": dingtalk.url,
                    "oapi_base": dingtalk.url,
                    "app_key": dt_cfg.app_key,
                    "app_secret": "${DT}",
                },
                "kingdee_main": {
                    "type": "kingdee",
                    "base_url": f"{kingdee.url}/k3cloud/",
                    "auth_mode": "sign",
                    "acct_id": kd_cfg.acct_id,
                    "username": kd_cfg.username,
                    "app_id": kd_cfg.app_id,
                    "app_secret": "${KD}",
                },
            },
            env=env,
        )
        engine = Engine(ledger, conns)

        async def run() -> None:
            try:
                await engine.collect(scheme)
                await engine.dispatch(scheme)
            finally:
                await engine.aclose()

        asyncio.run(run())
    ledger.close()
    finished = spans.get_finished_spans()
    names = [s.name for s in finished]
    assert "ferry.collect" in names and "ferry.dispatch" in names and "ferry.dispatch.batch" in names
    http = [s for s in finished if s.kind == SpanKind.CLIENT]
    assert http, names
    for s in http:
        a = s.attributes or {}
        for key in ("http.request.method", "server.address", "server.port", "url.full"):
            assert key in a, (s.name, key)
        assert a["http.response.status_code"] == 200 or s.status.status_code == StatusCode.ERROR
    gettoken = [s for s in http if "gettoken" in str((s.attributes or {})["url.full"])]
    assert gettoken and "appsecret=REDACTED" in str(gettoken[0].attributes["url.full"])  # type: ignore[index]
    topapi = [s for s in http if "/topapi/" in str((s.attributes or {})["url.full"])]
    assert topapi and all("access_token=REDACTED" in str(s.attributes["url.full"]) for s in topapi)  # type: ignore[index]
    # each HTTP attempt is a child of its pass
    passes = {s.context.span_id for s in finished if s.name.startswith("ferry.")}
    assert all(s.parent is not None for s in http)
    assert any(s.parent.span_id in passes for s in http if s.parent is not None)
    # no secret anywhere in the spans
    text = repr([(s.name, dict(s.attributes or {})) for s in finished])
    for secret in (dt_cfg.app_secret, kd_cfg.app_secret):
        assert secret not in text


def test_ferry_runs_without_the_extra() -> None:
    code = (
        "import sys; sys.modules['opentelemetry'] = None\n"
        "from ferry.observe import tracing\n"
        "assert not tracing.OTEL\n"
        "with tracing.span('x') as s: assert s is None\n"
        "with tracing.http_attempt('GET', 'http://h/?access_token=1', api='a') as a: a.answered(500)\n"
        "assert tracing.configure({'OTEL_EXPORTER_OTLP_ENDPOINT': 'http://collector:4318'}) is False\n"
        "import ferry.connectors.transport, ferry.engine.runner\n"
        "print('ok')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
