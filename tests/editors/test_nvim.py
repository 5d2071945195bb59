"""The Neovim plugin's specs (editors/nvim/tests): headless Neovim against the real
sidecar with the demo model. One test per spec file; each runs in its own Neovim
through the plugin's runner. Needs the `nvim` of this venv (a dev dependency)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "editors" / "nvim"
RUNNER = PLUGIN / "tests" / "run.lua"
BIN = Path(sys.executable).parent
NVIM = next((str(p) for p in (BIN / "nvim", BIN / "nvim.exe") if p.exists()), None) or shutil.which("nvim")
SPECS = sorted(p.name for p in (PLUGIN / "tests" / "spec").glob("*_spec.lua"))
SPEC_TIMEOUT = 60


def _env() -> dict[str, str]:
    """No provider keys (the demo model answers), and this venv's `codelab-agent` first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["PATH"] = os.pathsep.join([str(BIN), env.get("PATH", "")])
    env["CODELAB_AGENT_MODEL"] = "demo"
    env["CODELAB_SPEC_TIMEOUT"] = str(SPEC_TIMEOUT)
    env.pop("CODELAB_SIDECAR", None)
    return env


@pytest.mark.skipif(NVIM is None, reason="nvim is not installed (pip install -e '.[dev]' provides it)")
@pytest.mark.parametrize("spec", SPECS)
def test_nvim_spec(spec: str, tmp_path: Path) -> None:
    assert NVIM is not None
    try:
        done = subprocess.run(
            [NVIM, "--headless", "-u", "NONE", "--noplugin", "-i", "NONE", "-l", str(RUNNER), spec],
            cwd=tmp_path,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=SPEC_TIMEOUT + 30,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{spec} timed out:\n{exc.stdout or ''}{exc.stderr or ''}")
    output = done.stdout + done.stderr
    sys.stdout.write(output)
    assert done.returncode == 0, f"{spec} failed:\n{output}"
    assert "1 spec file(s), 0 failed" in done.stdout, output


def test_every_spec_file_is_collected() -> None:
    assert {"atomic_edit_spec.lua", "cancel_spec.lua", "keys_spec.lua", "plan_spec.lua"} <= set(SPECS)
