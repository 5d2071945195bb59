"""The names of the requests an editor sends, apart from their models
(`protocol.methods` pairs each name with its params and result, `METHODS` lists them):
a server registers its handlers by these names before it loads the models, which
`initialize` does not need."""

from __future__ import annotations

SEND_MESSAGE = "agent/sendMessage"
TOOL_RESULT = "agent/toolResult"
APPROVE_PLAN = "agent/approvePlan"
RESUME = "agent/resume"
RETRY_SUBTASK = "agent/retrySubtask"
SKIP_SUBTASK = "agent/skipSubtask"
CANCEL = "agent/cancel"
GET_SESSION = "agent/getSession"
LIST_SESSIONS = "agent/listSessions"
DELETE_SESSION = "agent/deleteSession"
