"""One turn of a session: the FSM, the unit of work (persist, then emit), the loop that
drives a session to its next stop, the agent step, tool results, endings, the orchestrator."""
