"""What `initialize` needs before it is answered, and nothing more: the settings
resolved (initializationOptions over flags, environment and defaults), the editor's MCP
servers validated, the database opened (a foreign or newer one refused).

The rest of the sidecar (the runtime, the agents, the models, the MCP files) is built
by `App.finish` once the result is on its way (`AgentServer` starts it on `initialized`,
or on the first request that needs it): an editor's `initialize` does not wait for
modules it has no use for yet (`python bench/run.py --only costs`, cold start).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from protocol.errors import AgentError, InvalidParams
from protocol.settings import InitializationOptions, LlmOptions
from server.models.adapters import is_adapter
from server.settings import Settings
from storage.db import Database, ForeignDatabase, SchemaTooNew

if TYPE_CHECKING:
    from server.mcp.config import McpConfig


def no_adapters(llm: LlmOptions | None, where: str) -> None:
    """Settings an editor passes may come from a workspace: they never name a `py:` adapter."""
    for field, wire in (
        ("model", "model"),
        ("classifier_model", "classifierModel"),
        ("compaction_model", "compactionModel"),
    ):
        value = getattr(llm, field, None) if llm else None
        if is_adapter(value):
            raise InvalidParams(
                f"{where}.llm.{wire}: model adapters (py:…) can only be named on the command line or in the environment",
                {"field": f"llm.{wire}"},
            )


def resolve(base: Settings, options: InitializationOptions, client_root: str | None) -> Settings:
    """initializationOptions over flags/environment/defaults (`base`)."""
    no_adapters(options.llm, "initializationOptions")
    settings = base
    root = options.workspace_root or client_root
    if root:
        settings = replace(settings, workspace_root=Path(root).expanduser().resolve())
    if options.database:
        settings = replace(settings, database=Path(options.database).expanduser())
    return replace(
        settings,
        llm=settings.llm.merged(options.llm),
        approval=settings.approval.merged(options.approval),
        limits=settings.limits.merged(options.limits),
    )


@dataclass(frozen=True)
class Opened:
    """A sidecar that has answered `initialize`: what `App.finish` builds the rest from."""

    settings: Settings
    db: Database
    editor_servers: McpConfig | None
    """`initializationOptions.mcpServers`, validated (None when the editor gave none)."""


async def open_app(base: Settings, options: InitializationOptions, client_root: str | None) -> Opened:
    """Resolve the settings, validate the editor's MCP servers, open the database; what
    is wrong is raised as the error `initialize` answers with."""
    settings = resolve(base, options, client_root)
    editor_servers = None
    if options.mcp_servers is not None:
        from server.mcp.config import McpConfig  # noqa: PLC0415 - only when the editor names servers

        editor_servers = McpConfig.parse(options.mcp_servers, "initializationOptions.mcpServers")
    try:
        db = await Database.open(settings.database)
    except (SchemaTooNew, ForeignDatabase) as exc:
        raise AgentError(str(exc), {"database": str(settings.database)}) from exc
    except (sqlite3.Error, OSError) as exc:
        raise AgentError(
            f"cannot open the database {settings.database}: {exc}", {"database": str(settings.database)}
        ) from exc
    return Opened(settings, db, editor_servers)
