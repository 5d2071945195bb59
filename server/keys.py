"""Where provider keys may go, and keeping them out of everything we write.

A key is bound to an API base by the user, in a place a workspace cannot write: the
sidecar's command line (`--api-base`, `--api-key-env`) or its environment
(`CODELAB_AGENT_API_BASE`, `CODELAB_AGENT_API_KEY_ENV`). Editor settings
(`initializationOptions`, `workspace/didChangeConfiguration`) can be written by a
workspace (`.vscode/settings.json`, `.dir-locals.el`, `.nvim.lua`), so an API base that
comes only from them gets no key of the user's:

- no API base: the provider's own host with the provider's own key (litellm's default);
- the bound API base: the bound key (`--api-key-env`), else the provider's key
  (`openai/NAME` sends `OPENAI_API_KEY`; a keyless local server gets a placeholder);
- another API base on this machine (loopback): a placeholder key, never a real one;
- any other API base: refused, with an error that says how to bind it.

`redact` removes the value of every environment variable that looks like a secret
(name ending in `_KEY`, `_TOKEN`, `_SECRET`, `_PASSWORD`) and the common key shapes.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

PLACEHOLDER_KEY = "not-needed"
"""Sent where a key is required by the client library but none of the user's may go."""

_SECRET_NAME = re.compile(r"(_KEY|_TOKEN|_SECRET|_PASSWORD|_PASS|_CREDENTIALS|APIKEY)$", re.IGNORECASE)
_SHAPES = re.compile(
    r"(?:sk-(?:ant-|proj-|or-v1-)?[A-Za-z0-9_\-]{6,}"  # OpenAI, Anthropic, OpenRouter
    r"|gsk_[A-Za-z0-9]{10,}"  # Groq
    r"|xai-[A-Za-z0-9]{10,}"  # xAI
    r"|AIza[0-9A-Za-z_\-]{20,}"  # Google
    r"|(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"  # GitHub
    r"|hf_[A-Za-z0-9]{20,}"  # Hugging Face
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}"  # AWS access key ids
    r"|xox[abprs]-[A-Za-z0-9\-]{10,}"  # Slack
    r"|eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}"  # JWTs
    r"|(?<=Bearer )[A-Za-z0-9._~+/\-]+=*"
    r"|(?<=[?&]key=)[A-Za-z0-9._\-]+"
    r"|(?i:(?<=x-api-key: )|(?<=api[_-]key['\"]: ['\"])|(?<=api[_-]key=))[A-Za-z0-9._\-]{6,})"
)
_MIN_SECRET = 6
_PROVIDER_KEY = re.compile(r"_API_KEY$", re.IGNORECASE)
REDACTED = "[redacted]"


def secret_values(env: Mapping[str, str] = os.environ) -> list[str]:
    """Values of the environment variables whose names say they hold a secret, longest first."""
    values = {v for k, v in env.items() if _SECRET_NAME.search(k) and len(v) >= _MIN_SECRET}
    return sorted(values, key=len, reverse=True)


def redact(text: str, env: Mapping[str, str] = os.environ) -> str:
    """`text` without any secret of the environment or anything shaped like a key."""
    for value in secret_values(env):
        text = text.replace(value, REDACTED)
    return _SHAPES.sub(REDACTED, text)


class RedactingFilter(logging.Filter):
    """Redacts every log record's message (arguments and traceback included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if clean != message:
            record.msg, record.args = clean, None
        return True


class KeyRefused(Exception):
    """An API base no key of the user's may be sent to; the message says how to bind one."""


@dataclass(frozen=True)
class Credentials:
    api_base: str | None
    api_key: str | None
    """None: the provider's own key, as its client library finds it."""


def _normal(url: str | None) -> str:
    return (url or "").strip().rstrip("/").lower()


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":  # not `*.localhost`: a resolver may send those anywhere
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def credentials(
    model: str,
    api_base: str | None,
    *,
    bound_api_base: str | None,
    api_key_env: str | None,
    env: Mapping[str, str] = os.environ,
) -> Credentials:
    """The API base and key to call `model` with (see the module docstring)."""
    if not api_base:
        if api_key_env:
            return Credentials(None, _bound_key(api_key_env, env))
        return Credentials(None, None)
    if _normal(api_base) == _normal(bound_api_base):
        if api_key_env:
            return Credentials(api_base, _bound_key(api_key_env, env))
        if model.startswith("openai/"):
            return Credentials(api_base, env.get("OPENAI_API_KEY") or PLACEHOLDER_KEY)
        return Credentials(api_base, None)
    if is_loopback(api_base):
        return Credentials(api_base, PLACEHOLDER_KEY)
    raise KeyRefused(
        f"the API base {api_base} comes from the editor's settings, which a workspace can set, so no key of yours "
        "is sent there. If you chose it, start the sidecar with --api-base (or CODELAB_AGENT_API_BASE) set to it, "
        "and --api-key-env (or CODELAB_AGENT_API_KEY_ENV) naming the variable that holds its key"
    )


def _bound_key(variable: str, env: Mapping[str, str]) -> str:
    value = env.get(variable)
    if not value:
        raise KeyRefused(f"the variable {variable} named by --api-key-env (CODELAB_AGENT_API_KEY_ENV) is not set")
    return value


def protected_variables(parent: Mapping[str, str], also: Iterable[str] = ()) -> set[str]:
    """Names of the parent's variables no child process may be handed: provider keys
    (`*_API_KEY`) and the variable bound to the API base (`--api-key-env`). MCP servers
    and the commands a client runs for the model get an environment without them."""
    names = {name for name in parent if _PROVIDER_KEY.search(name)}
    names.update(name for name in also if name)
    bound = parent.get("CODELAB_AGENT_API_KEY_ENV")
    if bound:
        names.add(bound)
    return names


def without_keys(env: Mapping[str, str]) -> dict[str, str]:
    """`env` without the variables `protected_variables` names."""
    protected = protected_variables(env)
    return {name: value for name, value in env.items() if name not in protected}
