"""What the terminal client reads from the user.

On a terminal, `prompt_toolkit` reads: the conversation's input keeps a history across
runs and takes several lines (Enter sends, Alt-Enter or Esc Enter starts a new line);
answers to questions are single lines. Ctrl-C at a prompt raises `KeyboardInterrupt`
for the caller to decide what it means; Ctrl-D (end of input) returns None. Lines that
must appear while the user types (the sidecar stopped, say) are printed above the
prompt, which is then drawn again.

Without a terminal, lines are read from standard input as they come.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from prompt_toolkit import PromptSession
from prompt_toolkit.application import run_in_terminal
from prompt_toolkit.application.current import get_app_or_none
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import FileHistory, InMemoryHistory
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.patch_stdout import patch_stdout

from server.chat.screen import Screen


def _bindings() -> KeyBindings:
    keys = KeyBindings()

    @keys.add("escape", "enter")
    def _newline(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text("\n")

    return keys


class Keyboard:
    def __init__(self, screen: Screen, interactive: bool, history: Path | None) -> None:
        self.interactive = interactive
        self._screen = screen
        self._input: PromptSession[str] | None = None
        self._answers: PromptSession[str] | None = None
        if interactive:
            stored = FileHistory(str(history)) if history is not None else InMemoryHistory()
            self._input = PromptSession(history=stored, key_bindings=_bindings(), multiline=False)
            self._answers = PromptSession(history=InMemoryHistory())

    async def message(self, prompt: str) -> str | None:
        """The user's next message (several lines allowed); None at end of input."""
        return await self._read(self._input, prompt, "ansibrightblue bold")

    async def answer(self, prompt: str) -> str | None:
        """A one-line answer to a question; None at end of input."""
        return await self._read(self._answers, prompt, "ansiyellow bold")

    async def _read(self, session: PromptSession[str] | None, prompt: str, style: str) -> str | None:
        self._screen.idle()
        if session is None:
            sys.stdout.write(prompt)
            sys.stdout.flush()
            line = await asyncio.to_thread(sys.stdin.readline)
            sys.stdout.write(line.rstrip("\n") + "\n")  # the answer, for a readable transcript
            sys.stdout.flush()
            return line.rstrip("\n") if line else None
        shown = FormattedText([("" if not self._screen.fancy else style, prompt)])
        self._screen.notice_hook = _above_prompt
        try:
            with patch_stdout(raw=True):
                return await session.prompt_async(shown, handle_sigint=False)
        except EOFError:
            return None
        finally:
            self._screen.notice_hook = None


def _above_prompt(text: str) -> bool:
    """Print `text` above the prompt being typed at, and draw the prompt again."""
    if get_app_or_none() is None:
        return False

    def show() -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    run_in_terminal(show)
    return True
