"""The running sidecar: settings, database, models and runtime, wired together once
the editor has sent `initialize` (the database path may come from it): `server.startup`
opens what `initialize` needs, `App.finish` builds the rest."""

from __future__ import annotations

import logging
from dataclasses import replace

from protocol.settings import ConfigurationSettings, InitializationOptions
from server import keys
from server.agents import specs as agents
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
from server.startup import Opened, no_adapters, open_app
from server.turn.deps import Kit
from server.turn.notify import EditorReport, Notifier
from storage.db import Database

log = logging.getLogger(__name__)


def _litellm_model(name: str, llm: LlmSettings) -> Model:
    try:
        given = keys.credentials(name, llm.api_base, bound_api_base=llm.bound_api_base, api_key_env=llm.api_key_env)
    except keys.KeyRefused as exc:
        log.warning("model %s refused: %s", name, exc)
        return RefusedModel(str(exc))
    return LiteLLMModel(name, api_base=given.api_base, api_key=given.api_key, timeout_seconds=llm.timeout_seconds)


def mcp_servers(settings: Settings, editor: McpConfig | None, toolbox: Toolbox) -> McpConfig:
    """The user's file, then the workspace's file if the user approved it, then the
    editor's `mcpServers`: a later one replaces a server of the same name. A broken file
    is left out and reported at the first step (the editor's options are refused at
    `initialize` instead, with what is wrong: `server.startup.open_app`)."""
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
    return McpConfig().merged(*sources, workspace, editor or McpConfig())


def mcp_toolbox(settings: Settings, editor: McpConfig | None) -> Toolbox:
    """The MCP tools of every source (`mcp_servers`); what is wrong with a file is
    reported at the first step."""
    toolbox = Toolbox(
        options=McpOptions(
            max_result_bytes=settings.limits.max_tool_result_bytes,
            protected_env=(settings.llm.api_key_env,) if settings.llm.api_key_env else (),
            cwd=settings.workspace_root,
        )
    )
    toolbox.add(mcp_servers(settings, editor, toolbox))
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
        """`server.startup.open_app`, then `finish`: what the ACP face and in-process
        tests use; the LSP face answers `initialize` between the two."""
        opened = await open_app(base, options, client_root)
        try:
            return await cls.finish(opened, notifier)
        except BaseException:
            await opened.db.close()
            raise

    @classmethod
    async def finish(cls, opened: Opened, notifier: Notifier) -> App:
        """The runtime on the opened database, the MCP servers of every source, the
        sessions a killed process left recovered. On failure the database stays open:
        whoever opened it closes it (and may call this again)."""
        settings = opened.settings
        agents.validate()
        app = cls(settings, opened.db, notifier, mcp_toolbox(settings, opened.editor_servers))
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
        no_adapters(settings.llm, "settings")
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
