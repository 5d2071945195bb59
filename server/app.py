"""The running sidecar: settings, database, models and runtime, wired together once
the editor has sent `initialize` (the database path may come from it)."""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import replace
from pathlib import Path

from protocol.errors import AgentError, InvalidParams
from protocol.settings import ConfigurationSettings, InitializationOptions, LlmOptions
from server import keys
from server.agents.toolbox import Toolbox
from server.context.window import Meter
from server.leases import Leases
from server.mcp import (
    McpConfig,
    McpConfigError,
    McpOptions,
    WorkspaceApproval,
    load_user_config,
    load_workspace_config,
)
from server.mcp.config import WORKSPACE_FILE
from server.models import adapters
from server.models.base import Model, RefusedModel
from server.models.caller import ModelCaller
from server.models.demo import DemoModel
from server.models.litellm_model import LiteLLMModel, needed_by, start_import
from server.runtime import Runtime
from server.settings import DEMO_MODEL, LlmSettings, Settings
from server.turn.deps import Kit
from server.turn.notify import EditorReport, Notifier
from storage.db import Database, ForeignDatabase, SchemaTooNew

log = logging.getLogger(__name__)


def _no_adapters(llm: LlmOptions | None, where: str) -> None:
    for field, wire in (
        ("model", "model"),
        ("classifier_model", "classifierModel"),
        ("compaction_model", "compactionModel"),
    ):
        value = getattr(llm, field, None) if llm else None
        if adapters.is_adapter(value):
            raise InvalidParams(
                f"{where}.llm.{wire}: model adapters (py:…) can only be named on the command line or in the environment",
                {"field": f"llm.{wire}"},
            )


def resolve(base: Settings, options: InitializationOptions, client_root: str | None) -> Settings:
    """initializationOptions over flags/environment/defaults (`base`)."""
    _no_adapters(options.llm, "initializationOptions")
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


def _litellm_model(name: str, llm: LlmSettings) -> Model:
    try:
        given = keys.credentials(name, llm.api_base, bound_api_base=llm.bound_api_base, api_key_env=llm.api_key_env)
    except keys.KeyRefused as exc:
        log.warning("model %s refused: %s", name, exc)
        return RefusedModel(str(exc))
    return LiteLLMModel(name, api_base=given.api_base, api_key=given.api_key, timeout_seconds=llm.timeout_seconds)


def mcp_servers(settings: Settings, options: InitializationOptions, toolbox: Toolbox) -> McpConfig:
    """The user's file, then the workspace's file if the user approved it, then the
    editor's `mcpServers`: a later one replaces a server of the same name. A broken file
    is left out and reported at the first step (the editor's options are refused at
    `initialize` instead, with what is wrong)."""
    editor = McpConfig.parse(options.mcp_servers, "initializationOptions.mcpServers")
    sources: list[McpConfig] = []
    try:
        sources.append(load_user_config())
    except McpConfigError as exc:
        log.warning("%s", exc)
        toolbox.failed(exc.source, str(exc))
    path = settings.workspace_root / WORKSPACE_FILE
    try:
        workspace = load_workspace_config(settings.workspace_root, WorkspaceApproval())
    except McpConfigError as exc:
        workspace = McpConfig()
        toolbox.failed(exc.source, str(exc))
    if workspace is None:
        log.warning("%s proposes MCP servers; they are not used until you approve it: codelab-agent mcp approve", path)
        toolbox.failed(
            str(path), f"not approved: run `codelab-agent mcp approve --workspace {settings.workspace_root}` to use it"
        )
        workspace = McpConfig()
    return McpConfig().merged(*sources, workspace, editor)


def mcp_toolbox(settings: Settings, options: InitializationOptions) -> Toolbox:
    """The MCP tools of every source (`mcp_servers`); what is wrong with a file is
    reported at the first step."""
    toolbox = Toolbox(
        options=McpOptions(
            max_result_bytes=settings.limits.max_tool_result_bytes,
            protected_env=(settings.llm.api_key_env,) if settings.llm.api_key_env else (),
            cwd=settings.workspace_root,
        )
    )
    toolbox.add(mcp_servers(settings, options, toolbox))
    return toolbox


class App:
    def __init__(self, settings: Settings, db: Database, notifier: Notifier, toolbox: Toolbox | None = None) -> None:
        self.settings = settings
        self.db = db
        self._models: dict[str, Model] = {}
        self.toolbox = toolbox or Toolbox()
        leases = Leases(db, settings.limits.lease_seconds)
        kit = Kit(
            db=db,
            notifier=notifier,
            settings=lambda: self.settings,
            caller=ModelCaller(EditorReport(notifier), lambda: self.settings, self.model),
            holder=leases.holder,
            meter=Meter(lambda name: isinstance(self.model(name), LiteLLMModel)),
            toolbox=self.toolbox,
        )
        self.runtime = Runtime(kit, leases)
        self._stopped = False

    @classmethod
    async def start(
        cls, base: Settings, options: InitializationOptions, client_root: str | None, notifier: Notifier
    ) -> App:
        settings = resolve(base, options, client_root)
        toolbox = mcp_toolbox(settings, options)
        try:
            db = await Database.open(settings.database)
        except (SchemaTooNew, ForeignDatabase) as exc:
            raise AgentError(str(exc), {"database": str(settings.database)}) from exc
        except (sqlite3.Error, OSError) as exc:
            raise AgentError(
                f"cannot open the database {settings.database}: {exc}", {"database": str(settings.database)}
            ) from exc
        app = cls(settings, db, notifier, toolbox)
        await app.runtime.recover()
        log.info(
            "ready: workspace %s, database %s, model %s", settings.workspace_root, settings.database, settings.llm.model
        )
        return app

    def model(self, name: str) -> Model:
        if name not in self._models:
            llm = self.settings.llm
            if name == DEMO_MODEL:
                self._models[name] = DemoModel()
            elif adapters.is_adapter(name):
                self._models[name] = adapters.load(name, api_base=llm.api_base, timeout_seconds=llm.timeout_seconds)
            else:
                self._models[name] = _litellm_model(name, llm)
        return self._models[name]

    def warm_up(self) -> None:
        """Start importing litellm in the background if a configured model needs it."""
        llm = self.settings.llm
        if needed_by(llm.model, llm.classifier):
            start_import()

    def reconfigure(self, settings: ConfigurationSettings) -> None:
        _no_adapters(settings.llm, "settings")
        self.settings = replace(
            self.settings,
            llm=self.settings.llm.merged(settings.llm),
            approval=self.settings.approval.merged(settings.approval),
        )
        self._models.clear()
        self.warm_up()
        log.info("settings changed: model %s", self.settings.llm.model)

    async def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            await self.runtime.shutdown()
            await self.toolbox.close()

    async def close(self) -> None:
        await self.stop()
        await self.db.close()
