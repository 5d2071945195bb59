"""Model adapters: `--model py:package.module:factory` loads a `Model` implementation
from an importable module (a proxy, a provider litellm lacks, a test double).

Only the command line and the environment may name an adapter: settings an editor
passes (`initializationOptions`, `workspace/didChangeConfiguration`) can come from a
workspace's files, and a workspace must not be able to make the sidecar run its code.
"""

from __future__ import annotations

import importlib
from typing import Any, cast

from server.models.base import Model

PREFIX = "py:"


def is_adapter(name: str | None) -> bool:
    return bool(name) and str(name).startswith(PREFIX)


def load(name: str, *, api_base: str | None, timeout_seconds: float) -> Model:
    """`factory(name=..., api_base=..., timeout_seconds=...)` from `py:module:factory`."""
    module_name, _, attribute = name.removeprefix(PREFIX).partition(":")
    if not module_name or not attribute:
        raise ValueError(f"a model adapter is named py:package.module:factory, not {name!r}")
    factory: Any = getattr(importlib.import_module(module_name), attribute)
    model = factory(name=name, api_base=api_base, timeout_seconds=timeout_seconds)
    if not callable(getattr(model, "complete", None)):
        raise TypeError(f"{name} did not produce a model (it has no complete method)")
    return cast(Model, model)
