"""One JSON Schema document for the whole wire contract (`protocol/schema.json`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, models_json_schema

from protocol.capabilities import PROTOCOL_VERSION, AgentCapability, ClassifierAnswer
from protocol.errors import ErrorCode
from protocol.methods import METHODS
from protocol.notifications import NOTIFICATIONS
from protocol.plans import Plan
from protocol.settings import ConfigurationSettings, InitializationOptions
from protocol.tools import TOOL_ARGS

SCHEMA_PATH = Path(__file__).with_name("schema.json")


class _WireSchema(GenerateJsonSchema):
    """Results and notifications list as required every field that is always sent:
    one without a default, or with a default other than None (`wire()` leaves out
    only None). Params keep pydantic's rule: a field with a default may be omitted."""

    def field_is_required(self, field: Any, total: bool) -> bool:
        if self.mode == "serialization":
            inner = field["schema"]
            if inner["type"] == "default":
                return "default_factory" in inner or inner.get("default") is not None
        return super().field_is_required(field, total)


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/$defs/{model.__name__}"}


def build_schema() -> dict[str, Any]:
    inputs: list[tuple[type[BaseModel], Any]] = []
    for method in METHODS:
        inputs += [(method.params, "validation"), (method.result, "serialization")]
    inputs += [(n.params, "serialization") for n in NOTIFICATIONS]
    inputs += [(m, "validation") for m in TOOL_ARGS.values()]
    inputs += [
        (InitializationOptions, "validation"),
        (ConfigurationSettings, "validation"),
        (AgentCapability, "serialization"),
        (ClassifierAnswer, "validation"),
        (Plan, "serialization"),
    ]
    _, top = models_json_schema(inputs, by_alias=True, ref_template="#/$defs/{model}", schema_generator=_WireSchema)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "codelab-agent wire contract",
        "protocolVersion": PROTOCOL_VERSION,
        "methods": {m.name: {"params": _ref(m.params), "result": _ref(m.result)} for m in METHODS},
        "notifications": {n.name: {"params": _ref(n.params)} for n in NOTIFICATIONS},
        "tools": {name: _ref(model) for name, model in TOOL_ARGS.items()},
        "initializationOptions": _ref(InitializationOptions),
        "configurationSettings": _ref(ConfigurationSettings),
        "agentCapability": _ref(AgentCapability),
        "classifierAnswer": _ref(ClassifierAnswer),
        "errorCodes": {code.name: int(code) for code in ErrorCode},
        "$defs": top["$defs"],
    }


def render_schema() -> str:
    return json.dumps(build_schema(), indent=2, sort_keys=True) + "\n"
