"""Optional OpenTelemetry traces: a span per pass, per dispatch batch and per API attempt.

Everything works without the ``otel`` extra: :func:`span` is then a no-op. With it, spans go to the global
tracer provider; :func:`configure` sets one up with the OTLP/HTTP exporter when
``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set.

API attempts follow the stable HTTP client conventions: kind CLIENT, one span per attempt (a resend
carries ``http.request.resend_count``), ``http.request.method``, ``server.address``, ``server.port``,
``url.full`` without credentials and with secret query values (``access_token``, ``sign``,
``timestamp``, ``key``, ``appsecret``...) replaced by ``REDACTED``, ``http.response.status_code`` and
``error.type``; status Error for 4xx/5xx. Record ids may go in spans (``ferry.ledger.record_id``), never
in metrics.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib.util
import os
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit


def _installed() -> bool:
    try:
        return importlib.util.find_spec("opentelemetry.trace") is not None
    except (ImportError, ValueError, AttributeError):  # blocked or broken: as good as absent
        return False


#: the ``otel`` extra is installed (OpenTelemetry itself is imported only once tracing is switched on: it
#: costs a tenth of a second that commands which never trace need not pay)
OTEL = _installed()

#: query keys whose values never leave the process (DingTalk OAPI, robots, WeCom, signed requests)
SECRET_QUERY_KEYS = frozenset(
    {
        "access_token",
        "accesstoken",
        "sign",
        "signature",
        "timestamp",
        "key",
        "appsecret",
        "app_secret",
        "secret",
        "token",
        "password",
        "client_secret",
        "code",
        "x-amz-signature",
        "sig",
    }
)

_provider: Any = None
#: how many times the current logical request was sent before (a client's retry loop sets it)
_resend: contextvars.ContextVar[int] = contextvars.ContextVar("ferry_resend", default=0)


def use_provider(provider: Any) -> None:
    """Trace into ``provider`` (an OpenTelemetry ``TracerProvider``; None switches tracing off). Ferry
    traces only once this or :func:`configure` was called; to use an application's global provider, pass
    ``opentelemetry.trace.get_tracer_provider()``."""
    global _provider, _cached
    _provider = provider
    _cached = None


_cached: Any = None


def _tracer() -> Any:
    global _cached
    if _provider is None:
        return None
    if _cached is None:
        _cached = _provider.get_tracer("ferry")
    return _cached


def redact_url(url: str) -> str:
    """``url`` without user and password, with secret query values replaced by ``REDACTED``."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    if parts.username or parts.password:
        netloc = f"REDACTED:REDACTED@{netloc}"
    query = urlencode(
        [
            (k, "REDACTED" if k.lower() in SECRET_QUERY_KEYS else v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        ],
        safe="",
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


@contextlib.contextmanager
def span(name: str, attributes: Mapping[str, Any] | None = None) -> Iterator[Any]:
    """A span named ``name`` around the block (internal kind); yields it, or None without OpenTelemetry."""
    tracer = _tracer()
    if tracer is None:
        yield None
        return
    with tracer.start_as_current_span(name, attributes=_clean(attributes)) as current:
        yield current


@contextlib.contextmanager
def resend(count: int) -> Iterator[None]:
    """Mark the HTTP attempts inside as resend number ``count`` of the same request."""
    token = _resend.set(count)
    try:
        yield
    finally:
        _resend.reset(token)


class HttpAttempt:
    """One HTTP attempt's span: :meth:`answered` or :meth:`failed`, then the block ends it."""

    def __init__(self, current: Any) -> None:
        self.span = current

    def answered(self, status: int) -> None:
        if self.span is None:
            return
        self.span.set_attribute("http.response.status_code", status)
        if status >= 400:
            self.span.set_attribute("error.type", str(status))
            _error(self.span)

    def failed(self, error: BaseException) -> None:
        if self.span is None:
            return
        self.span.set_attribute("error.type", type(error).__name__)
        _error(self.span)


@contextlib.contextmanager
def http_attempt(method: str, url: str, *, api: str, resend_count: int = 0) -> Iterator[HttpAttempt]:
    """The span of one HTTP attempt (see the module doc); a no-op without OpenTelemetry."""
    tracer = _tracer()
    if tracer is None:
        yield HttpAttempt(None)
        return
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    attributes: dict[str, Any] = {
        "http.request.method": method.upper(),
        "server.address": parts.hostname or "",
        "server.port": port,
        "url.full": redact_url(url),
        "ferry.api": api,
    }
    resends = resend_count + _resend.get()
    if resends:
        attributes["http.request.resend_count"] = resends
    from opentelemetry.trace import SpanKind

    with tracer.start_as_current_span(
        f"{method.upper()} {api}", kind=SpanKind.CLIENT, attributes=attributes, record_exception=False
    ) as current:
        yield HttpAttempt(current)


def configure(env: Mapping[str, str] | None = None) -> bool:
    """Export spans by OTLP/HTTP when an endpoint is configured and the extra is installed; True if so."""
    environ = os.environ if env is None else env
    if not OTEL or not (
        environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    ):
        return False
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(
        resource=Resource.create({"service.name": environ.get("OTEL_SERVICE_NAME", "ferry")})
    )
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    use_provider(provider)
    return True


def _error(current: Any) -> None:
    from opentelemetry.trace import Status, StatusCode

    current.set_status(Status(StatusCode.ERROR))


def _clean(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (attributes or {}).items() if v is not None}


__all__ = [
    "OTEL",
    "SECRET_QUERY_KEYS",
    "configure",
    "http_attempt",
    "redact_url",
    "resend",
    "span",
    "use_provider",
]
