"""The VS Code extension's own checks (editors/vscode): the generated protocol types are
current, strict typecheck, unit tests and integration tests against this sidecar, and
the .vsix package. Needs Node and npm; skipped only when npm is absent."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXTENSION = ROOT / "editors" / "vscode"
NPM = shutil.which("npm")
STAMP = EXTENSION / "node_modules" / ".codelab-lockfile-sha256"


def _env() -> dict[str, str]:
    """No provider keys (the demo model answers), and this venv's `codelab-agent` first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.pop("CODELAB_AGENT_SERVER", None)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["NO_COLOR"] = "1"
    return env


def _npm(*args: str, timeout: float) -> str:
    assert NPM is not None
    started = time.monotonic()
    try:
        done = subprocess.run(
            [NPM, *args],
            cwd=EXTENSION,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"npm {' '.join(args)} timed out after {timeout}s:\n{exc.stdout or ''}{exc.stderr or ''}")
    output = done.stdout + done.stderr
    if done.returncode != 0:
        pytest.fail(f"npm {' '.join(args)} failed (exit {done.returncode}):\n{output}")
    sys.stderr.write(f"npm {' '.join(args)}: {time.monotonic() - started:.1f}s\n")
    return output


def _install() -> None:
    """`npm ci`, only when node_modules is missing or was installed from another lockfile."""
    digest = hashlib.sha256((EXTENSION / "package-lock.json").read_bytes()).hexdigest()
    if STAMP.is_file() and STAMP.read_text().strip() == digest:
        return
    _npm("ci", "--no-audit", "--no-fund", timeout=240)
    STAMP.write_text(digest + "\n")


@pytest.mark.skipif(NPM is None, reason="npm is not installed")
@pytest.mark.timeout(420)
def test_vscode_extension() -> None:
    # One test, steps in order: they share node_modules, which parallel workers must not install twice.
    _install()
    _npm("run", "check:types", timeout=60)
    _npm("run", "typecheck", timeout=120)
    output = _npm("test", timeout=240)
    # Both runs (unit, integration) report their counts; none may be skipped (the sidecar must be found).
    counts = {
        name: [int(n) for n in re.findall(rf"^\S* ?{name} (\d+)$", output, re.MULTILINE)]
        for name in ("pass", "fail", "skipped")
    }
    assert len(counts["pass"]) == 2 and all(counts["pass"]), output
    assert counts["fail"] == [0, 0] and counts["skipped"] == [0, 0], output

    version = json.loads((EXTENSION / "package.json").read_text())["version"]
    vsix = EXTENSION / f"codelab-agent-{version}.vsix"
    vsix.unlink(missing_ok=True)
    _npm("run", "package", timeout=120)
    assert vsix.is_file(), f"npm run package made no {vsix.name}"
    assert vsix.stat().st_size > 10_000
