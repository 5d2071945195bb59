"""A small MCP server of our own for the tests, run as a script (stdio, or streamable
HTTP with `--http PORT`): it shows its environment and request headers, can be told to
exit, adds tools on request, and returns the content kinds the client turns into text."""

from __future__ import annotations

import asyncio
import base64
import os
import sys

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import BlobResourceContents, EmbeddedResource, ImageContent, TextContent, ToolAnnotations
from pydantic import BaseModel

server = MCPServer("env-server")


class Node(BaseModel):
    """A tree: its schema refers to itself."""

    title: str
    children: list[Node] = []


READ_ONLY = ToolAnnotations(read_only_hint=True)


@server.tool(annotations=READ_ONLY)
def environment() -> dict[str, str]:
    """The server process's whole environment."""
    return dict(os.environ)


@server.tool(annotations=READ_ONLY)
def pid() -> int:
    """The server's process id."""
    return os.getpid()


@server.tool(annotations=ToolAnnotations(destructive_hint=True))
def exit_now(code: int = 3) -> str:
    """Exit at once, without answering."""
    os._exit(code)


@server.tool()
async def add_tool(name: str, ctx: Context) -> str:
    """Add a tool called `name` and tell the client the list changed."""

    def added() -> str:
        return f"I am {name}"

    server.add_tool(added, name=name, description=f"added at run time: {name}")
    await ctx.session.send_tool_list_changed()
    return f"added {name}"


@server.tool()
def fail(message: str) -> str:
    """Fail with `message` as the tool's error."""
    raise ToolError(message)


@server.tool()
def big(size: int) -> str:
    """`size` characters of text."""
    return "x" * size


@server.tool()
def media() -> list[TextContent | ImageContent | EmbeddedResource]:
    """A caption, an image and a binary resource."""
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(100)).decode()
    blob = BlobResourceContents(uri="file:///data.bin", mime_type="application/octet-stream", blob=png)
    return [
        TextContent(text="a caption"),
        ImageContent(data=png, mime_type="image/png"),
        EmbeddedResource(resource=blob),
    ]


@server.tool()
async def sleep(seconds: float) -> str:
    """Answer after `seconds`."""
    await asyncio.sleep(seconds)
    return "slept"


@server.tool()
async def append(path: str, line: str, seconds: float = 0.0) -> str:
    """Append `line` to the file at `path` at once, then answer after `seconds`: the file
    tells how many times the call ran, whatever happened to the caller."""
    async with await anyio.open_file(path, "a", encoding="utf-8") as file:
        await file.write(line + "\n")
    await asyncio.sleep(seconds)
    return f"appended {line!r}"


@server.tool(annotations=READ_ONLY)
def headers(ctx: Context) -> dict[str, str]:
    """The HTTP request's headers (none over stdio)."""
    return dict(ctx.headers or {})


@server.tool(name="count.nodes")
def count_nodes(tree: Node) -> int:
    """How many nodes `tree` has."""
    return 1 + sum(count_nodes(child) for child in tree.children)


if __name__ == "__main__":
    print("env-server starting", file=sys.stderr, flush=True)
    if sys.argv[1:2] == ["--http"]:
        server.run("streamable-http", port=int(sys.argv[2]))
    else:
        server.run()
