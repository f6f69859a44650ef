"""The JSON Schema of the native scheme form, for editor completion (``ferry schema``).

Generated from the pydantic model with native (snake_case) names; the repository ships the result
as ``schemas/scheme.schema.json`` and a test keeps that file equal to this output. The native form
refuses unknown keys, so every block says ``additionalProperties: false`` (the model itself keeps
Qingyi's editor keys, which only the Qingyi form allows).
"""

from __future__ import annotations

from typing import Any

from ferry.scheme.model import Scheme


def native_json_schema() -> dict[str, Any]:
    """The native form's JSON Schema (draft 2020-12)."""
    schema = Scheme.model_json_schema(by_alias=False, mode="validation")
    for block in [schema, *schema.get("$defs", {}).values()]:
        if block.get("type") == "object" and "properties" in block:
            block["additionalProperties"] = False
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://ferry.dev/schemas/scheme.schema.json"
    schema["title"] = "Ferry integration scheme (集成方案)"
    return schema
