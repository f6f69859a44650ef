"""Observation: the API-call log interface, metrics, structured logs with secret redaction, alerts.

May use :mod:`ferry.store`. Connectors report every outbound call through :class:`CallRecorder`,
which keeps them free of any storage code.
"""
