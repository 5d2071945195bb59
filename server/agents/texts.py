"""What the runtime writes into a conversation, in one place. The agents read these
texts; the demo model recognises them through these names, never by parsing prose that
some other module happens to write."""

from __future__ import annotations

SWITCH_NOTE = "Agent switched: {src} → {to}. {reason}"
REVISION = "Revise the plan (version {version}): {feedback}"
SUBTASK_HEADING = "Your subtask ({id}): {title}"
SUBTASK_PREFIX = "Your subtask ("
REMINDER = "[Reminder]"
ERROR = "Error:"
REJECTED = "The user rejected this tool call."
REFUSED = "Refused by the approval policy"
"""How a call the policy refused without asking begins its result."""
SKIPPED_INTERRUPTED = (
    "This call was interrupted while it ran (the sidecar stopped), so it may or may not have taken effect; "
    "the user chose not to run it again. Check its effect before relying on it or calling it again."
)
CANCELLED_RESULT = "Cancelled by the user before a result arrived (the editor may not have run this call)."

ARCHITECT_NUDGE = (
    f"{REMINDER} You must call create_plan with your plan, or ask_followup_question if you need "
    "information from the user. Do not answer with text alone."
)
EMPTY_NUDGE = f"{REMINDER} Your reply was empty. Continue the task: call a tool, or answer."
PLAN_NUDGE = (
    f"{REMINDER} You are working on one subtask of a plan. When it is done, call attempt_completion with its "
    "result (alone); if something is missing, use your tools."
)


def system_note(text: str) -> str:
    """A system note as the model sees it (a user message in brackets)."""
    return f"[{text}]"


def switch_note(src: str, to: str, reason: str) -> str:
    return SWITCH_NOTE.format(src=src, to=to, reason=reason).strip()


def is_switch_note(shown: str) -> bool:
    """Whether a user message the model was shown is a switch note."""
    return shown.startswith(system_note(SWITCH_NOTE.split("{", 1)[0]).removesuffix("]"))


def is_revision(text: str) -> bool:
    return text.startswith(REVISION.split("{", 1)[0])


def subtask_title(brief: str) -> str | None:
    """The title in a subtask brief's heading line, if the text is a brief."""
    for line in brief.splitlines():
        if line.startswith(SUBTASK_PREFIX) and "): " in line:
            return line.split("): ", 1)[1]
    return None
