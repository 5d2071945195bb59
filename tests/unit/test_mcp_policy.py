"""The approval policy and argument checks of MCP tools (`decide_mcp`, `McpSpec`)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from acp.schema import EnvVariable, HttpHeader, HttpMcpServer, McpServerStdio, SseMcpServer

from protocol.enums import AgentName, DecidedBy, Decision, ToolCategory
from server.acp.tools import mcp_config
from server.agents.approval import decide_mcp
from server.agents.specs import AGENTS
from server.agents.toolbox import McpAccess, McpSpec, Toolbox
from server.agents.tools import ToolArgumentsError
from server.mcp import HttpServer, McpConfigError, McpTool, StdioServer
from server.settings import ApprovalSettings

SCHEMA = {
    "type": "object",
    "properties": {"path": {"type": "string"}, "count": {"type": "integer", "minimum": 1}},
    "required": ["path"],
}


def spec(name: str = "write", server: str = "git", *, read_only: bool = False, destructive: bool = False) -> McpSpec:
    return McpSpec(McpTool(server, name, f"mcp__{server}__{name}", "does it", SCHEMA, read_only, destructive))


def policy(**fields: object) -> ApprovalSettings:
    return replace(ApprovalSettings(), **fields)  # pyright: ignore[reportArgumentType]


def test_an_unannotated_tool_asks_unless_a_pattern_allows_it() -> None:
    assert decide_mcp(spec(), policy()).decision is Decision.ASK
    for pattern in ("git__*", "git__write", "mcp__git__write", "*"):
        verdict = decide_mcp(spec(), policy(allowed_mcp_tools=(pattern,)))
        assert verdict.decision is Decision.AUTO_APPROVED and pattern in verdict.reason
    for pattern in ("git", "gi__*", "git__writer", "other__*", "mcp__git", "GIT__*"):
        assert decide_mcp(spec(), policy(allowed_mcp_tools=(pattern,))).decision is Decision.ASK, pattern


def test_a_destructive_tool_asks_whatever_the_patterns_and_settings_say() -> None:
    risky = spec(destructive=True)
    verdict = decide_mcp(risky, policy(allowed_mcp_tools=("*",), auto_approve={ToolCategory.WRITE: True}))
    assert verdict.decision is Decision.ASK and "destructive" in verdict.reason
    # the user's own "always" for that very tool in this session is what clears it
    remembered = decide_mcp(risky, policy(), [(risky.name, "")])
    assert (remembered.decision, remembered.decided_by) == (Decision.AUTO_APPROVED, DecidedBy.SESSION_RULE)
    assert decide_mcp(risky, policy(), [("mcp__git__other", ""), (risky.name, "git")]).decision is Decision.ASK


def test_a_read_only_tool_follows_the_read_setting() -> None:
    reader = spec("log", read_only=True)
    assert decide_mcp(reader, policy()).decision is Decision.AUTO_APPROVED
    assert reader.category is ToolCategory.READ and spec().category is ToolCategory.WRITE
    off = policy(auto_approve={ToolCategory.READ: False})
    assert decide_mcp(reader, off).decision is Decision.ASK
    assert decide_mcp(reader, replace(off, allowed_mcp_tools=("git__log",))).decision is Decision.AUTO_APPROVED


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("{", "not valid JSON"),
        ("[1]", "must be a JSON object"),
        ('"path"', "must be a JSON object"),
        ("{}", "'path' is a required property"),
        ('{"path": 3}', "path: 3 is not of type 'string'"),
        ('{"path": "a", "count": 0}', "count: 0 is less than the minimum of 1"),
    ],
)
def test_arguments_are_checked_against_the_servers_schema(raw: str, problem: str) -> None:
    with pytest.raises(ToolArgumentsError, match=problem.replace("(", r"\(")):
        spec().parse_arguments(raw)


def test_good_arguments_pass_and_a_broken_schema_leaves_the_judgement_to_the_server() -> None:
    assert spec().parse_arguments('{"path": "a", "count": 2}') == {"path": "a", "count": 2}
    with pytest.raises(ToolArgumentsError, match="required"):  # an empty string is no arguments
        spec().parse_arguments("")
    broken = McpSpec(
        McpTool("s", "t", "mcp__s__t", "", {"type": "object", "properties": {"a": {"type": 5}}}, False, False)
    )
    assert broken.parse_arguments('{"a": 1}') == {"a": 1}


async def test_which_agents_get_which_mcp_tools() -> None:
    assert AGENTS[AgentName.CODE].mcp is McpAccess.ALL and AGENTS[AgentName.DEBUG].mcp is McpAccess.ALL
    assert AGENTS[AgentName.ARCHITECT].mcp is McpAccess.READ_ONLY
    assert AGENTS[AgentName.EXPLAIN].mcp is McpAccess.READ_ONLY
    assert AGENTS[AgentName.ORCHESTRATOR].mcp is McpAccess.NONE
    builtin = AGENTS[AgentName.CODE].tools
    assert set(await Toolbox().for_agent(builtin, McpAccess.ALL)) == {t.name for t in builtin}  # no servers


def test_acp_mcp_servers_become_the_sidecars_configuration() -> None:
    config = mcp_config(
        [
            McpServerStdio(
                name="my git!", command="uvx", args=["mcp-server-git"], env=[EnvVariable(name="A", value="b")]
            ),
            HttpMcpServer(
                name="docs", url="http://127.0.0.1:9/mcp", headers=[HttpHeader(name="X", value="y")], type="http"
            ),
        ]
    )
    stdio, http = config.servers["my-git-"], config.servers["docs"]
    assert isinstance(stdio, StdioServer) and stdio.command == "uvx" and stdio.env == {"A": "b"}
    assert isinstance(http, HttpServer) and http.headers == {"X": "y"}
    with pytest.raises(McpConfigError, match="a second server of that name"):  # never merged silently
        mcp_config([McpServerStdio(name=n, command="x", args=[], env=[]) for n in ("a b", "a!b")])
    with pytest.raises(McpConfigError, match="only stdio and HTTP"):
        mcp_config([SseMcpServer(name="old", url="http://127.0.0.1:9/sse", headers=[], type="sse")])
    with pytest.raises(McpConfigError, match="command"):
        mcp_config([{"name": "x", "command": "", "args": []}])
