"""Runtime settings and where they come from.

Highest first: `initializationOptions`, command-line flags, environment
(`CODELAB_AGENT_MODEL`, `CODELAB_AGENT_API_BASE`, `CODELAB_AGENT_DB`), defaults.
API keys are never settings: providers read their own environment variables, and a
key goes to an API base only when the user bound it there (`server.keys`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from protocol.enums import OutsideWorkspace, ToolCategory
from storage import default_database_path

if TYPE_CHECKING:
    from protocol.settings import ApprovalOptions, LimitsOptions, LlmOptions

DEMO_MODEL = "demo"

# Provider key variable → a sensible default model when that key is configured.
_DEFAULT_MODELS: tuple[tuple[str, str], ...] = (
    ("OPENROUTER_API_KEY", "openrouter/openai/gpt-4.1"),
    ("OPENAI_API_KEY", "openai/gpt-4.1"),
    ("ANTHROPIC_API_KEY", "anthropic/claude-sonnet-4-5"),
    ("GEMINI_API_KEY", "gemini/gemini-2.5-pro"),
)


def default_model(env: Mapping[str, str] = os.environ) -> str:
    """The model to use when none is configured: one the configured key reaches, else the demo."""
    for variable, model in _DEFAULT_MODELS:
        if env.get(variable):
            return model
    return DEMO_MODEL


@dataclass(frozen=True)
class LlmSettings:
    model: str = DEMO_MODEL
    classifier_model: str | None = None
    api_base: str | None = None
    bound_api_base: str | None = None
    """The API base the user chose on the command line or in the environment: the only
    one that gets the user's keys (editor settings cannot change it)."""
    api_key_env: str | None = None
    """The variable holding the key for `bound_api_base` (command line or environment only)."""
    timeout_seconds: float = 120.0
    max_retries: int = 2
    retry_backoff_seconds: float = 0.5
    context_window: int | None = None
    """Tokens the model takes in; None: litellm's model map, else `DEFAULT_WINDOW`."""
    compaction_threshold: float = 0.8
    """Compact when a prompt would pass this share of the window."""
    compaction_model: str | None = None
    """The model that writes summaries (default: the agent's)."""

    @property
    def classifier(self) -> str:
        return self.classifier_model or self.model

    def merged(self, options: LlmOptions | None) -> LlmSettings:
        if options is None:
            return self
        given = options.model_dump(exclude_none=True)
        return replace(self, **given)


@dataclass(frozen=True)
class ApprovalSettings:
    auto_approve: Mapping[ToolCategory, bool] = field(
        default_factory=lambda: {ToolCategory.READ: True, ToolCategory.WRITE: False, ToolCategory.COMMAND: False}
    )
    allowed_commands: tuple[str, ...] = ()
    denied_commands: tuple[str, ...] = ()
    outside_workspace: OutsideWorkspace = OutsideWorkspace.ASK
    allowed_mcp_tools: tuple[str, ...] = ()
    """Glob patterns of MCP tools that run without asking (`git__*`)."""

    def merged(self, options: ApprovalOptions | None) -> ApprovalSettings:
        if options is None:
            return self
        result = self
        if options.auto_approve is not None:
            auto = dict(self.auto_approve)
            for category, value in options.auto_approve.model_dump(exclude_none=True).items():
                auto[ToolCategory(category)] = value
            result = replace(result, auto_approve=auto)
        if options.allowed_commands is not None:
            result = replace(result, allowed_commands=tuple(options.allowed_commands))
        if options.denied_commands is not None:
            result = replace(result, denied_commands=tuple(options.denied_commands))
        if options.outside_workspace is not None:
            result = replace(result, outside_workspace=options.outside_workspace)
        if options.allowed_mcp_tools is not None:
            result = replace(result, allowed_mcp_tools=tuple(options.allowed_mcp_tools))
        return result


@dataclass(frozen=True)
class Limits:
    max_steps: int = 50
    """Model calls per turn (per subtask inside a plan) before the turn fails."""
    max_message_bytes: int = 256 * 1024
    max_tool_result_bytes: int = 1024 * 1024
    max_view_result_chars: int = 32_000
    """A tool result longer than this is shown to the model cut to head and tail (it is
    stored whole); a quarter of the window lowers it for small windows."""
    lease_seconds: float = 30.0
    """How long another process must wait for a session whose holder stopped renewing."""

    def merged(self, options: LimitsOptions | None) -> Limits:
        return replace(self, **options.model_dump(exclude_none=True)) if options else self


@dataclass(frozen=True)
class Settings:
    workspace_root: Path
    database: Path
    llm: LlmSettings = field(default_factory=LlmSettings)
    approval: ApprovalSettings = field(default_factory=ApprovalSettings)
    limits: Limits = field(default_factory=Limits)


def _env_float(env: Mapping[str, str], name: str) -> float | None:
    value = env.get(name)
    return float(value) if value else None


def _window(value: str) -> int:
    try:
        tokens = int(value)
    except ValueError:
        raise ValueError(f"CODELAB_AGENT_CONTEXT_WINDOW must be a whole number of tokens, not {value!r}") from None
    if not 1_024 <= tokens <= 10_000_000:
        raise ValueError(f"CODELAB_AGENT_CONTEXT_WINDOW must be between 1024 and 10000000 tokens, not {tokens}")
    return tokens


def base_settings(
    *,
    db: str | None = None,
    model: str | None = None,
    api_base: str | None = None,
    api_key_env: str | None = None,
    workspace: str | None = None,
    context_window: int | None = None,
    env: Mapping[str, str] = os.environ,
) -> Settings:
    """Settings from command-line flags over environment over defaults."""
    trusted_base = api_base or env.get("CODELAB_AGENT_API_BASE") or None
    llm = LlmSettings(
        model=model or env.get("CODELAB_AGENT_MODEL") or default_model(env),
        api_base=trusted_base,
        bound_api_base=trusted_base,
        api_key_env=api_key_env or env.get("CODELAB_AGENT_API_KEY_ENV") or None,
    )
    backoff = _env_float(env, "CODELAB_AGENT_RETRY_BACKOFF")
    if backoff is not None:
        llm = replace(llm, retry_backoff_seconds=backoff)
    limits = Limits()
    lease = _env_float(env, "CODELAB_AGENT_LEASE_SECONDS")
    if lease is not None:
        limits = replace(limits, lease_seconds=lease)
    window = env.get("CODELAB_AGENT_CONTEXT_WINDOW")
    if context_window is not None or window:
        llm = replace(llm, context_window=context_window or _window(window or ""))
    steps = env.get("CODELAB_AGENT_MAX_STEPS")
    if steps:
        limits = replace(limits, max_steps=int(steps))
    return Settings(
        workspace_root=Path(workspace or os.getcwd()).resolve(),
        database=Path(db or env.get("CODELAB_AGENT_DB") or default_database_path()).expanduser(),
        llm=llm,
        limits=limits,
    )
