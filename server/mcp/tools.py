"""MCP tools and results as the rest of the sidecar sees them: plain data, no SDK types.

A tool keeps its server's name and its own, and is offered as `mcp__<server>__<tool>`
with a self-contained JSON Schema. A result is text: images, audio and binary resources
become a one-line description, so no binary reaches a prompt.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from mcp import types

MAX_NAME = 64
"""The longest function name providers accept (OpenAI: `^[a-zA-Z0-9_-]{1,64}$`)."""


@dataclass(frozen=True)
class McpTool:
    server: str
    name: str
    qualified: str
    """`mcp__<server>__<tool>`: the name the model calls it by."""
    description: str
    input_schema: dict[str, Any]
    read_only: bool
    """Annotated `readOnlyHint: true`."""
    destructive: bool
    """Annotated `destructiveHint: true` and not read-only. The spec's default for an
    unannotated tool (destructive) is not applied here: it would leave nothing for an
    allow-list to allow; the approval policy decides what an unannotated tool means."""


@dataclass(frozen=True)
class McpResult:
    is_error: bool
    text: str


class McpCallError(Exception):
    """A call that produced no result from the server. `may_have_run`: it was sent and
    then cut off (timeout, the server died), so its effect is unknown."""

    may_have_run = False

    def __init__(self, server: str, reason: str) -> None:
        super().__init__(reason)
        self.server = server
        self.reason = reason


class McpToolNotFound(McpCallError):
    def __init__(self, qualified: str) -> None:
        super().__init__("", f"no MCP tool named {qualified}")


class McpServerUnavailable(McpCallError):
    def __init__(self, server: str, reason: str) -> None:
        super().__init__(server, f"MCP server {server} is not available: {reason}")


class McpCallInterrupted(McpCallError):
    may_have_run = True

    def __init__(self, server: str, reason: str) -> None:
        super().__init__(server, f"MCP server {server}: {reason}; the call may or may not have taken effect")


def qualify(server: str, tool: str) -> str:
    """The model-facing name: characters providers refuse become `_`; a name over
    `MAX_NAME` is shortened and made unique with a hash of the original."""
    name = f"mcp__{server}__{re.sub(r'[^A-Za-z0-9_-]', '_', tool)}"
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(tool.encode()).hexdigest()[:8]
    return f"{name[: MAX_NAME - 9]}_{digest}"


def to_tool(server: str, tool: types.Tool) -> McpTool:
    from mcp import types  # noqa: PLC0415 (the SDK loads when a server starts, not with the sidecar)

    hints = tool.annotations or types.ToolAnnotations()
    read_only = hints.read_only_hint is True
    return McpTool(
        server=server,
        name=tool.name,
        qualified=qualify(server, tool.name),
        description=tool.description or tool.title or "",
        input_schema=inline_schema(tool.input_schema),
        read_only=read_only,
        destructive=hints.destructive_hint is True and not read_only,
    )


def inline_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """`schema` without `$ref`s (some providers refuse them), `title`s and `$schema`, as the
    tool registry does it. A recursive or unresolvable reference becomes `{}` (anything)."""
    defs: dict[str, Any] = {**schema.get("definitions", {}), **schema.get("$defs", {})}
    body = {k: v for k, v in schema.items() if k not in ("$defs", "definitions", "$schema")}
    inlined = _inline(body, defs, frozenset())
    return cast(dict[str, Any], inlined) if isinstance(inlined, dict) else {"type": "object"}


def _inline(node: Any, defs: dict[str, Any], seen: frozenset[str], *, names: bool = False) -> Any:
    """(`names`: the keys of `node` are property names, not schema keywords.)"""
    if isinstance(node, dict):
        mapping = cast(dict[str, Any], node)
        ref = mapping.get("$ref") if not names else None
        if isinstance(ref, str):
            target = ref.rsplit("/", 1)[-1]
            siblings = {k: _inline(v, defs, seen) for k, v in mapping.items() if k not in ("$ref", "title")}
            if target in seen or target not in defs:
                return siblings
            resolved: Any = _inline(defs[target], defs, seen | {target})
            return {**cast(dict[str, Any], resolved), **siblings} if isinstance(resolved, dict) else siblings
        inlined: dict[str, Any] = {
            k: _inline(v, defs, seen, names=(k == "properties" and not names))
            for k, v in mapping.items()
            if names or k != "title"
        }
        return inlined
    if isinstance(node, list):
        return [_inline(v, defs, seen) for v in cast(list[Any], node)]
    return node


def render(result: types.CallToolResult, limit_bytes: int) -> McpResult:
    """The result as text for the model, cut to `limit_bytes` (UTF-8) with a marker."""
    parts = [_describe(block) for block in result.content]
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    return McpResult(is_error=result.is_error, text=cut("\n".join(parts), limit_bytes))


def _describe(block: types.ContentBlock) -> str:
    from mcp import types  # noqa: PLC0415

    if isinstance(block, types.TextContent):
        return block.text
    if isinstance(block, types.ImageContent | types.AudioContent):
        return f"[{block.type}: {block.mime_type}, {_size(_decoded_length(block.data))}; not shown]"
    if isinstance(block, types.ResourceLink):
        about = ", ".join(x for x in (block.name, block.mime_type) if x)
        return f"[resource link: {block.uri}{f' ({about})' if about else ''}]"
    resource = block.resource
    if isinstance(resource, types.TextResourceContents):
        return f"[resource {resource.uri}]\n{resource.text}"
    mime = f"{resource.mime_type}, " if resource.mime_type else ""
    return f"[resource {resource.uri}: {mime}{_size(_decoded_length(resource.blob))} of binary data; not shown]"


def _decoded_length(data: str) -> int:
    try:
        return len(base64.b64decode(data, validate=False))
    except ValueError:
        return len(data) * 3 // 4


def _size(n: int) -> str:
    return f"{n:,} bytes" if n < 10_000 else f"{n / 1024:,.0f} KiB"


def cut(text: str, limit_bytes: int) -> str:
    """`text` if its UTF-8 form fits in `limit_bytes`, else its head and a marker saying how much is left out."""
    encoded = text.encode()
    if len(encoded) <= limit_bytes:
        return text
    marker = f"\n[MCP result cut: {len(encoded):,} bytes, only the first part is shown]"
    head = encoded[: max(limit_bytes - len(marker.encode()), 0)].decode(errors="ignore")
    return head + marker
