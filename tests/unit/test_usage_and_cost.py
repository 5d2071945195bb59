"""Usage, cost and caching: the litellm helpers against the real offline price map, the
usage repository (per agent, per turn, unknown prices), the views, the terminal's line."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from protocol.enums import AgentName
from protocol.methods import TurnUsage
from server import views
from server.chat.turns import usage_line
from server.models import litellm_model as lm
from server.models.stream import StreamedReply
from storage.db import Database


@pytest.fixture(scope="module")
def litellm() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm  # seconds to import: only the tests that need it pay for it

    litellm.suppress_debug_info = True
    return litellm


def usage(prompt: int, completion: int, *, cached: int = 0, written: int = 0) -> Any:
    from litellm.types.utils import Usage

    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        prompt_tokens_details={"cached_tokens": cached},
        cache_read_input_tokens=cached,
        cache_creation_input_tokens=written,
    )


# --- names, prices, breakpoints ------------------------------------------------------


def test_names_drop_one_routing_prefix_at_a_time() -> None:
    assert lm.names("openrouter/anthropic/claude-x") == [
        "openrouter/anthropic/claude-x",
        "anthropic/claude-x",
        "claude-x",
    ]
    assert lm.names("gpt-4.1") == ["gpt-4.1"]


def test_a_price_is_found_without_the_routing_prefix(litellm: Any) -> None:
    assert lm.priced_name(litellm.model_cost, "anthropic/claude-sonnet-4-5") == "claude-sonnet-4-5"
    assert lm.priced_name(litellm.model_cost, "openrouter/openai/gpt-4.1") == "gpt-4.1"
    assert lm.priced_name(litellm.model_cost, "gemini/gemini-2.5-flash") == "gemini/gemini-2.5-flash"


def test_an_unknown_model_has_no_price_even_where_litellm_would_say_zero(litellm: Any) -> None:
    # litellm's own lookups price these at 0; an unknown price must stay unknown
    assert litellm.cost_per_token(model="openrouter/anthropic/claude-sonnet-4.5", prompt_tokens=10) == (0.0, 0.0)
    for name in ("openrouter/anthropic/claude-sonnet-4.5", "openai/fake", "hosted_vllm/fake", "demo"):
        assert lm.priced_name(litellm.model_cost, name) is None
        assert lm.price(litellm, name, usage(1000, 100), 1000, 100) is None


def test_cached_and_written_tokens_are_priced_at_their_own_rates(litellm: Any) -> None:
    entry = litellm.model_cost["claude-sonnet-4-5"]
    cost = lm.price(litellm, "anthropic/claude-sonnet-4-5", usage(1000, 100, cached=600, written=300), 1000, 100)
    expected = (
        100 * entry["input_cost_per_token"]
        + 600 * entry["cache_read_input_token_cost"]
        + 300 * entry["cache_creation_input_token_cost"]
        + 100 * entry["output_cost_per_token"]
    )
    assert cost == pytest.approx(expected)
    uncached = lm.price(litellm, "anthropic/claude-sonnet-4-5", usage(1000, 100), 1000, 100)
    assert uncached == pytest.approx(1000 * entry["input_cost_per_token"] + 100 * entry["output_cost_per_token"])
    assert cost is not None and uncached is not None and cost < uncached


def test_without_usage_the_counted_tokens_are_priced(litellm: Any) -> None:
    entry = litellm.model_cost["gpt-4.1"]
    cost = lm.price(litellm, "openai/gpt-4.1", None, 2000, 50)
    assert cost == pytest.approx(2000 * entry["input_cost_per_token"] + 50 * entry["output_cost_per_token"])


def test_cached_tokens_from_openai_or_anthropic_usage() -> None:
    openai = SimpleNamespace(prompt_tokens_details=SimpleNamespace(cached_tokens=70))
    anthropic = SimpleNamespace(prompt_tokens_details=None, cache_read_input_tokens=40)
    assert lm.cached_tokens(openai) == 70
    assert lm.cached_tokens(anthropic) == 40
    assert lm.cached_tokens(None) == 0


@pytest.mark.parametrize(
    ("route", "expected"),
    [
        ("anthropic/claude-sonnet-4-5", True),
        ("openrouter/anthropic/claude-sonnet-4.5", True),
        ("gemini/gemini-2.5-flash", True),
        ("bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0", True),
        ("openai/gpt-4.1", False),  # cached by OpenAI without breakpoints
        ("openrouter/openai/gpt-4.1", False),
        ("hosted_vllm/fake", False),
        ("demo", False),
    ],
)
def test_breakpoints_go_only_where_the_provider_caches_what_they_mark(litellm: Any, route: str, expected: bool) -> None:
    assert lm.takes_breakpoints(litellm, route) is expected


# --- what a stream yields ------------------------------------------------------------


def _chunk(**delta: Any) -> Any:
    return SimpleNamespace(choices=[SimpleNamespace(delta=SimpleNamespace(**delta))])


def test_reasoning_streams_as_a_thought_before_the_text() -> None:
    pieces = list(StreamedReply().add(_chunk(reasoning_content="hmm", content="Hi")))
    assert pieces == [("hmm", "thought"), ("Hi", "text")]
    assert list(StreamedReply().add(_chunk(content=None))) == []
    assert list(StreamedReply().add(SimpleNamespace(choices=[]))) == []


# --- the usage repository and views --------------------------------------------------


async def test_usage_per_agent_and_turn_with_unknown_prices(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "u.db")
    async with db.transaction() as tx:
        await tx.sessions.create("s", "t", AgentName.CODE)
        await tx.usage.add(
            "s", AgentName.CODE, turn_id="t1", requests=1, prompt_tokens=1000, cached_tokens=800,
            completion_tokens=50, cost_usd=0.002, duration_ms=30,
        )  # fmt: skip
        await tx.usage.add(
            "s", AgentName.CODE, turn_id="t1", requests=1, prompt_tokens=1200, cached_tokens=1000,
            completion_tokens=20, cost_usd=0.001, duration_ms=20,
        )  # fmt: skip
        await tx.usage.add("s", AgentName.CODE, turn_id="t1", nudges=1)
        await tx.usage.add("s", AgentName.ORCHESTRATOR, turn_id="t2", requests=1, prompt_tokens=10, cost_usd=None)
    code, orchestrator = sorted(await db.read.usage.for_session("s"), key=lambda u: u.agent != AgentName.CODE)
    assert (code.requests, code.prompt_tokens, code.cached_tokens, code.completion_tokens) == (2, 2200, 1800, 70)
    assert (code.duration_ms, code.nudges, code.unpriced) == (50, 1, 0)
    assert code.cost == pytest.approx(0.003)
    assert orchestrator.unpriced == 1 and orchestrator.cost is None

    t1 = await db.read.usage.for_turn("s", "t1")
    assert (t1.requests, t1.prompt_tokens, t1.cached_tokens, t1.completion_tokens) == (2, 2200, 1800, 70)
    assert t1.cost == pytest.approx(0.003)
    assert (await db.read.usage.for_turn("s", "t2")).cost is None
    assert (await db.read.usage.for_turn("s", "nothing yet")).requests == 0

    rows = await db.read.usage.for_session("s")
    total = views.agent_usage(rows)
    assert total.requests == 3 and total.cached_tokens == 1800
    assert total.cost_usd is None  # one request of unknown price: the sum would understate
    by_code = views.agent_usage([code])
    assert by_code.cost_usd == pytest.approx(0.003)
    assert "costUsd" not in total.wire() and by_code.wire()["costUsd"] == pytest.approx(0.003)
    turn = await views.turn_usage(db, "s", "t1")
    assert turn == TurnUsage(requests=2, prompt_tokens=2200, cached_tokens=1800, completion_tokens=70, cost_usd=0.003)
    none_yet = await views.turn_usage(db, "s", "t3")
    assert none_yet.requests == 0 and none_yet.cost_usd == 0
    await db.close()


async def test_a_deleted_session_takes_its_turn_usage_with_it(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "d.db")
    async with db.transaction() as tx:
        await tx.sessions.create("s", "t", AgentName.CODE)
        await tx.usage.add("s", AgentName.CODE, turn_id="t1", requests=1, prompt_tokens=5, cost_usd=0.1)
    async with db.transaction() as tx:
        await tx.sessions.delete("s")
    assert (await db.read.usage.for_turn("s", "t1")).requests == 0
    await db.close()


def test_the_terminal_prints_one_line_per_turn() -> None:
    line = usage_line(
        TurnUsage(requests=3, prompt_tokens=12345, cached_tokens=10000, completion_tokens=456, cost_usd=0.01234)
    )
    assert line == "  · usage: 3 requests, 12,345 tokens in (10,000 cached), 456 out, $0.0123"
    unknown = usage_line(TurnUsage(requests=1, prompt_tokens=10, completion_tokens=2))
    assert unknown == "  · usage: 1 request, 10 tokens in (0 cached), 2 out, cost unknown"
