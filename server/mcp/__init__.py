"""The user's MCP servers as tools: configuration, lifecycle, tools and results.

Self-contained: nothing here imports the turn, the plans or the faces; the runtime
asks `server.mcp.manager.McpManager` for `tools()` and `call()`s them. Importing this
package does not import the MCP SDK (the manager does, when a server is configured).
"""

from server.mcp.config import (
    HttpServer,
    McpConfig,
    McpConfigError,
    StdioServer,
    WorkspaceApproval,
    child_environment,
    load_user_config,
    load_workspace_config,
)
from server.mcp.options import McpOptions
from server.mcp.tools import (
    McpCallError,
    McpCallInterrupted,
    McpResult,
    McpServerUnavailable,
    McpTool,
    McpToolNotFound,
)

__all__ = [
    "HttpServer",
    "McpCallError",
    "McpCallInterrupted",
    "McpConfig",
    "McpConfigError",
    "McpOptions",
    "McpResult",
    "McpServerUnavailable",
    "McpTool",
    "McpToolNotFound",
    "StdioServer",
    "WorkspaceApproval",
    "child_environment",
    "load_user_config",
    "load_workspace_config",
]
