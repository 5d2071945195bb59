"""The orchestrator: a new task is classified (or routed by an explicit mode) and
handed to an agent; a complex task goes to the architect.

The classifier's answer must be the JSON object of PROTOCOL.md with
`is_atomic == False ⇔ agent == "plan"`; an answer that breaks that or does not parse is
asked once more, then the task goes to `code`. Identical task texts in a session reuse
the cached classification.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re

from pydantic import ValidationError

from protocol.capabilities import ClassifierAnswer
from protocol.enums import AgentName, ClassifiedAgent, Mode, StatusEvent
from server.agents.specs import AGENTS
from server.models.base import ModelReply, ModelRequest
from server.turn.deps import Kit
from server.turn.fsm import Event
from server.turn.prompt_view import classifier_view
from server.turn.unit import Unit, fire, switch_agent
from storage.records import MessageKind, SessionRow

log = logging.getLogger(__name__)

CLASSIFIER_ATTEMPTS = 2
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)
_ROUTE = {
    ClassifiedAgent.CODE: AgentName.CODE,
    ClassifiedAgent.DEBUG: AgentName.DEBUG,
    ClassifiedAgent.EXPLAIN: AgentName.EXPLAIN,
    ClassifiedAgent.PLAN: AgentName.ARCHITECT,
}


class BadClassification(ValueError):
    pass


def parse_answer(text: str) -> ClassifierAnswer:
    """The classifier's answer, or `BadClassification` saying what is wrong with it."""
    body = _FENCE.sub("", text.strip())
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end < start:
        raise BadClassification("the answer holds no JSON object")
    try:
        answer = ClassifierAnswer.model_validate(json.loads(body[start : end + 1]))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise BadClassification(f"the answer is not the expected object: {exc}") from exc
    if (answer.agent is ClassifiedAgent.PLAN) == answer.is_atomic:
        raise BadClassification(f"is_atomic={answer.is_atomic} contradicts agent={answer.agent}")
    return answer


def task_hash(text: str) -> str:
    return hashlib.sha256(" ".join(text.split()).encode()).hexdigest()


async def route(unit: Unit, mode: Mode) -> None:
    """Start the task just written to the session: to the classifier, or straight to
    the agent an explicit mode names (no model call)."""
    if mode is Mode.AUTO:
        await fire(unit, Event.TASK_RECEIVED)
        return
    agent = AgentName(mode.value)
    await switch_agent(unit, agent, f"the user chose the {agent} mode")
    await fire(unit, Event.TASK_ROUTED)


async def _task_limit(kit: Kit) -> int:
    """How much of a task the classifier is shown: half its window, in characters at
    three a token (it needs the gist, not every pasted line)."""
    llm = kit.settings().llm
    model = llm.classifier
    window = await kit.meter.window(model, llm.context_window if model == llm.model else None)
    return window // 2 * 3


async def classify_step(kit: Kit, s: SessionRow, cancel: asyncio.Event) -> None:
    messages = await kit.threads.get(s.id, None)
    task = next(m.content for m in reversed(messages) if m.role == "user" and m.kind is MessageKind.TASK)
    key = task_hash(task)
    cached = await kit.db.read.classifications.get(s.id, key)
    answer: ClassifierAnswer | None = ClassifierAnswer.model_validate_json(cached) if cached else None
    problems: list[str] = []
    usage: list[tuple[ModelReply, int]] = []
    if answer is None:
        request = ModelRequest(
            agent=AgentName.ORCHESTRATOR,
            purpose="classify",
            messages=classifier_view(AGENTS[AgentName.ORCHESTRATOR].prompt, task, await _task_limit(kit)),
        )
        model = kit.settings().llm.classifier
        for _ in range(CLASSIFIER_ATTEMPTS):
            reply, ms = await kit.caller.call(s, model, request, cancel)
            usage.append((reply, ms))
            try:
                answer = parse_answer(reply.text)
                break
            except BadClassification as exc:
                log.info("session %s: unusable classification (%s)", s.id, exc)
                problems.append(str(exc))
    async with kit.commit(s.id) as unit:
        for reply, ms in usage:
            await unit.count_call(AgentName.ORCHESTRATOR, reply, ms)
        if answer is None:
            agent, reason = AgentName.CODE, f"the classifier's answers were unusable ({problems[-1]}); routed to code"
            data = {"agent": "code", "fallback": True, "cached": False}
        else:
            if not cached:
                await unit.tx.classifications.put(s.id, key, answer.model_dump_json())
            agent, reason = _ROUTE[answer.agent], answer.reason
            data = {**answer.model_dump(mode="json"), "cached": cached is not None}
        unit.status(StatusEvent.CLASSIFIED, f"{agent}: {reason}", data)
        if agent is AgentName.ARCHITECT:
            await fire(unit, Event.CLASSIFIED_COMPLEX)
            return None
        await switch_agent(unit, agent, reason)
        await fire(unit, Event.CLASSIFIED_ATOMIC)
        return None


async def assign_architect(kit: Kit, s: SessionRow) -> None:
    async with kit.commit(s.id) as unit:
        await switch_agent(unit, AgentName.ARCHITECT, "the task needs a plan")
        await fire(unit, Event.ARCHITECT_ASSIGNED)
