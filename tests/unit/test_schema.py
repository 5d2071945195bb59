from __future__ import annotations

import json
import subprocess
import sys

from protocol.capabilities import AgentCapability
from protocol.methods import METHODS
from protocol.schema import SCHEMA_PATH, build_schema, render_schema
from server.agents.capability import CAPABILITY_FILE, agent_capability, capability_wire, render
from server.lsp.server import AgentServer, handlers
from server.settings import base_settings


def test_checked_in_schema_is_current() -> None:
    assert SCHEMA_PATH.read_text() == render_schema(), (
        "protocol/schema.json is stale: run `codelab-agent schema > protocol/schema.json`"
    )


def test_the_shipped_capability_is_what_the_agents_and_tools_make() -> None:
    """`initialize` sends `server/agents/capability.json`; it must say what the specs
    and the registry say, and be a valid `AgentCapability`."""
    assert CAPABILITY_FILE.read_text(encoding="utf-8") == render(), (
        "server/agents/capability.json is stale: run "
        "`python -m server.agents.capability > server/agents/capability.json`"
    )
    assert capability_wire() == agent_capability().wire()
    assert AgentCapability.model_validate(capability_wire()).wire() == capability_wire()


def test_schema_covers_every_method_notification_and_tool() -> None:
    schema = build_schema()
    assert set(schema["methods"]) == {
        "agent/sendMessage",
        "agent/toolResult",
        "agent/approvePlan",
        "agent/resume",
        "agent/retrySubtask",
        "agent/skipSubtask",
        "agent/cancel",
        "agent/getSession",
        "agent/listSessions",
        "agent/deleteSession",
    }
    assert set(schema["notifications"]) == {"agent/toolCall", "agent/stream", "agent/status", "agent/planUpdate"}
    assert len(schema["tools"]) == 11
    assert schema["errorCodes"]["SESSION_BUSY"] == -32011
    turn = schema["$defs"]["TurnResult"]["properties"]
    assert {"sessionId", "turnId", "status", "agent", "pendingToolCalls", "planId", "error"} <= set(turn)


def test_cli_prints_the_schema() -> None:
    out = subprocess.run([sys.executable, "-m", "server", "schema"], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == build_schema()


def test_the_sidecar_registers_a_handler_for_every_method_and_no_other() -> None:
    """The sidecar registers its handlers by name before it loads `protocol.methods`
    (`server.lsp.server.handlers` pairs them at the first request)."""
    assert set(handlers()) == {method.name for method in METHODS}
    features = AgentServer(base_settings(model="demo")).protocol.fm.features
    assert {name for name in features if name.startswith("agent/")} == {method.name for method in METHODS}


def test_what_answers_initialize_loads_neither_the_requests_models_nor_the_engine() -> None:
    """The command line and the language server, as they stand when `initialize` comes
    in, have not loaded what only later requests need (the start it would cost: `python
    bench/run.py --only costs`)."""
    later = ("protocol.methods", "protocol.notifications", "server.app", "server.runtime", "server.turn", "litellm")
    code = (
        "import sys, server.cli, server.lsp.server, server.startup; "
        f"print(sorted(m for m in sys.modules if m.startswith({later!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
