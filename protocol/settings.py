"""`initializationOptions` and `workspace/didChangeConfiguration` settings."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from protocol.base import WireModel
from protocol.enums import OutsideWorkspace


class LlmOptions(WireModel):
    model: str | None = Field(default=None, min_length=1)
    classifier_model: str | None = Field(default=None, min_length=1)
    api_base: str | None = Field(default=None, min_length=1)
    timeout_seconds: float | None = Field(default=None, gt=0, le=3600)
    max_retries: int | None = Field(default=None, ge=0, le=10)
    context_window: int | None = Field(
        default=None, ge=1_024, le=10_000_000, description="Tokens the model takes in (default: litellm's model map)."
    )
    compaction_threshold: float | None = Field(
        default=None, ge=0.2, le=0.95, description="Compact the prompt when it would pass this share of the window."
    )
    compaction_model: str | None = Field(
        default=None, min_length=1, description="The model that writes compaction summaries (default: the agent's)."
    )


class AutoApproveOptions(WireModel):
    read: bool | None = None
    write: bool | None = None
    command: bool | None = None


class ApprovalOptions(WireModel):
    auto_approve: AutoApproveOptions | None = None
    allowed_commands: list[str] | None = None
    denied_commands: list[str] | None = None
    outside_workspace: OutsideWorkspace | None = None
    allowed_mcp_tools: list[str] | None = Field(
        default=None,
        description="MCP tools that run without asking, as glob patterns over `<server>__<tool>` or the full "
        "`mcp__<server>__<tool>` (`git__*`, `time__get_current_time`). Tools annotated destructive always ask.",
    )


class LimitsOptions(WireModel):
    """An extension of PROTOCOL.md's options: the sidecar's budgets."""

    max_steps: int | None = Field(
        default=None, ge=1, le=10_000, description="Model calls per turn (per subtask in a plan)."
    )
    max_message_bytes: int | None = Field(default=None, ge=1)
    max_tool_result_bytes: int | None = Field(default=None, ge=1)
    max_view_result_chars: int | None = Field(
        default=None, ge=1_000, description="Longer tool results are shown to the model cut to head and tail."
    )


class InitializationOptions(WireModel):
    """Every field optional; what is given overrides flags, environment and defaults."""

    workspace_root: str | None = Field(default=None, min_length=1)
    database: str | None = Field(default=None, min_length=1)
    llm: LlmOptions | None = None
    approval: ApprovalOptions | None = None
    limits: LimitsOptions | None = None
    mcp_servers: dict[str, Any] | None = Field(
        default=None,
        description="MCP servers whose tools the agents may use, by name: `{command, args?, env?}` (stdio) or "
        "`{url, headers?}` (streamable HTTP); also read from `$XDG_CONFIG_HOME/codelab-agent/mcp.json`.",
    )


class ConfigurationSettings(WireModel):
    """`workspace/didChangeConfiguration` settings: the live-changeable subset,
    either as `settings` itself or under `settings.codelabAgent`."""

    llm: LlmOptions | None = None
    approval: ApprovalOptions | None = None
