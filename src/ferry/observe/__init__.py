"""Observation: the API-call log interface, usage and quotas, metrics, traces, redaction, alerts.

May use :mod:`ferry.store`. Connectors report every outbound call through :class:`CallRecorder`
(:mod:`.calls`), which keeps them free of any storage code; the engine and connectors call the cheap
hooks of :mod:`.hooks`, which :func:`ferry.observe.metrics.instrument` connects to Prometheus counters.
:mod:`.usage` is the API-usage and quota model over the ledger's lasting hourly usage, :mod:`.metrics`
the Prometheus metrics (per process, and read from the ledger at scrape time), :mod:`.tracing` the
optional OpenTelemetry spans, :mod:`.redact` the secret redaction.
"""
