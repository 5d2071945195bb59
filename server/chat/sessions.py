"""`codelab-agent sessions` and `/sessions`: the stored sessions, newest first."""

from __future__ import annotations

from protocol.methods import SessionInfo

TITLE_WIDTH = 48


def session_lines(sessions: list[SessionInfo], *, workspaces: bool) -> list[str]:
    """One line a session: id, when it last changed, where it stands, its title (and folder)."""
    lines: list[str] = []
    for s in sessions:
        title = s.title if len(s.title) <= TITLE_WIDTH else s.title[: TITLE_WIDTH - 1] + "…"
        state = "interrupted" if s.interrupted else s.state.value.replace("_", " ")
        where = f"  {s.workspace_root or '?'}" if workspaces else ""
        lines.append(
            f"{s.id}  {s.updated_at[:16].replace('T', ' ')}  {state:<22}  {title:<{TITLE_WIDTH}}{where}".rstrip()
        )
    return lines
