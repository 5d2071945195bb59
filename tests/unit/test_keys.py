"""Where keys go (`server.keys.credentials`) and what redaction removes."""

from __future__ import annotations

import logging

import pytest

from server.keys import PLACEHOLDER_KEY, REDACTED, Credentials, KeyRefused, RedactingFilter, credentials, redact

BOUND = "https://proxy.example.com/v1"
ENV = {"OPENAI_API_KEY": "sk-openai-secret-123", "MY_PROXY_KEY": "proxy-secret-456"}


def creds(model: str, base: str | None, *, bound: str | None = None, key_env: str | None = None) -> Credentials:
    return credentials(model, base, bound_api_base=bound, api_key_env=key_env, env=ENV)


def test_no_api_base_leaves_the_provider_its_own_key() -> None:
    assert creds("openai/gpt-4.1", None) == Credentials(None, None)
    assert creds("openai/gpt-4.1", None, key_env="MY_PROXY_KEY") == Credentials(None, "proxy-secret-456")


def test_the_bound_base_gets_the_bound_key_or_the_providers() -> None:
    assert creds("anthropic/x", BOUND, bound=BOUND, key_env="MY_PROXY_KEY").api_key == "proxy-secret-456"
    assert creds("anthropic/x", BOUND + "/", bound=BOUND).api_key is None  # trailing slash is the same base
    # openai/NAME with an API base sends OPENAI_API_KEY (it used to send nothing: 401)
    assert creds("openai/llama", BOUND, bound=BOUND).api_key == "sk-openai-secret-123"


def test_a_keyless_local_server_gets_a_placeholder() -> None:
    local = "http://127.0.0.1:8080/v1"
    assert credentials("openai/llama", local, bound_api_base=local, api_key_env=None, env={}).api_key == PLACEHOLDER_KEY


@pytest.mark.parametrize("base", ["http://127.0.0.1:9/v1", "http://localhost:1234", "http://[::1]:8000/v1"])
def test_an_editor_chosen_loopback_base_never_gets_a_real_key(base: str) -> None:
    for model in ("openai/x", "anthropic/x", "openrouter/openai/x"):
        assert creds(model, base, bound=BOUND, key_env="MY_PROXY_KEY") == Credentials(base, PLACEHOLDER_KEY)


@pytest.mark.parametrize(
    "base",
    [
        "https://evil.example.com/v1",
        "http://10.0.0.5/v1",
        "http://127.0.0.1.evil.example/v1",
        "http://0x7f.1/",
        "http://127.0.0.1@evil.example/v1",
        "http://localhost.evil.example/v1",
        "http://evil.localhost/v1",
        "file:///etc/passwd",
    ],
)
def test_an_editor_chosen_remote_base_is_refused_with_a_way_out(base: str) -> None:
    with pytest.raises(KeyRefused, match=r"--api-base .*--api-key-env"):
        creds("openai/x", base, bound=BOUND, key_env="MY_PROXY_KEY")


def test_a_bound_variable_that_is_not_set_is_a_clear_error() -> None:
    with pytest.raises(KeyRefused, match="NOPE_KEY"):
        creds("openai/x", BOUND, bound=BOUND, key_env="NOPE_KEY")


def test_redact_removes_every_secret_variable_and_key_shapes() -> None:
    env = {
        "GROQ_API_KEY": "gsk_live_abcdefghijklmnop",
        "SOME_SERVICE_TOKEN": "tok-1234567890",
        "DB_SECRET": "hunter2hunter2",
        "PATH": "/usr/bin",
        "SHORT_KEY": "abc",
    }
    text = (
        "401 from provider: key gsk_live_abcdefghijklmnop rejected; tok-1234567890 hunter2hunter2 "
        "sk-ant-api03-AAAAAAAAAAAAAAAA gsk_ZZZZZZZZZZZZZZZZZZZZ AIzaSyA1234567890abcdefghijkl "
        "ghp_abcdefghijklmnopqrstuvwxyz0123 AKIAABCDEFGHIJKLMNOP Authorization: Bearer abc.def-ghi "
        "https://x/v1?key=zzzzzzzz /usr/bin abc"
    )
    clean = redact(text, env)
    for secret in (
        "gsk_live_abcdefghijklmnop",
        "tok-1234567890",
        "hunter2hunter2",
        "sk-ant-api03",
        "gsk_ZZZZ",
        "AIzaSy",
        "ghp_abc",
        "AKIAABCD",
        "abc.def-ghi",
        "zzzzzzzz",
    ):
        assert secret not in clean, secret
    assert "/usr/bin" in clean and clean.endswith(" abc") and REDACTED in clean


def test_the_log_filter_redacts_messages_arguments_and_tracebacks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "gsk_from_env_0123456789")
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed with %s", ("gsk_from_env_0123456789",), None)
    try:
        raise RuntimeError("echo gsk_from_env_0123456789")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    assert RedactingFilter().filter(record)
    assert "gsk_from_env" not in record.getMessage()
    assert record.exc_text is not None and "gsk_from_env" not in record.exc_text
