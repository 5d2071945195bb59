"""litellm's import begins when the sidecar starts, only when a configured model needs it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from server import cli
from server.models import litellm_model
from server.settings import base_settings


def test_only_models_litellm_calls_need_it() -> None:
    assert not litellm_model.needed_by("demo")
    assert not litellm_model.needed_by("py:tests.fake_model:HttpModel", "demo")
    assert litellm_model.needed_by("demo", "openai/gpt-4.1")
    assert litellm_model.needed_by("anthropic/claude-sonnet-4-5")


@pytest.mark.parametrize(
    ("model", "classifier", "imports"), [("demo", None, 0), ("demo", "openai/x", 1), ("x/y", None, 1)]
)
def test_the_sidecar_starts_the_import_at_once_when_a_model_needs_it(
    monkeypatch: pytest.MonkeyPatch, model: str, classifier: str | None, imports: int
) -> None:
    started: list[bool] = []
    monkeypatch.setattr(litellm_model, "start_import", lambda: started.append(True))
    settings = base_settings(db=None, model=model, api_base=None, api_key_env=None, context_window=None, env={})
    settings = replace(settings, llm=replace(settings.llm, classifier_model=classifier))
    cli._start_model_import(settings)  # pyright: ignore[reportPrivateUsage]
    assert len(started) == imports
