"""The JSON Schema of ``alerts.yaml`` (``ferry alerts schema``; shipped as ``schemas/alerts.schema.json``)."""

from __future__ import annotations

from typing import Any

from ferry.observe.alerts.rules import AlertsFile

_DURATIONS = {"group_wait", "group_interval", "repeat_interval", "window", "older_than"}
_DURATION = {
    "anyOf": [
        {"type": "number", "minimum": 0},
        {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)?\s*$"},
        {"type": "null"},
    ],
    "description": "a duration: 30s, 5m, 4h, 1d or a number of seconds",
}


def alerts_json_schema() -> dict[str, Any]:
    """alerts.yaml's JSON Schema (draft 2020-12); every block refuses unknown keys, as the loader does."""
    schema = AlertsFile.model_json_schema(by_alias=False, mode="validation")
    for block in [schema, *schema.get("$defs", {}).values()]:
        if block.get("type") == "object" and "properties" in block:
            block["additionalProperties"] = False
            for name in _DURATIONS & set(block["properties"]):
                block["properties"][name] = {
                    **_DURATION,
                    "title": block["properties"][name].get("title", name),
                }
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://ferry.dev/schemas/alerts.schema.json"
    schema["title"] = "Ferry alert rules and channels (alerts.yaml)"
    return schema


__all__ = ["alerts_json_schema"]
