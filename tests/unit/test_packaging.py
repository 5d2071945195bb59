"""Every package of the product is in the distribution: a folder left out of
`[tool.setuptools] packages` works from a checkout and is missing from an install.
And `tests/run`, the README's test command, reports a passing run as passing."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_folder_is_listed_in_pyproject() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("server", "protocol", "storage")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    assert listed - found == set(), "these listed packages do not exist"


def test_the_test_commands_exit_trap_keeps_a_passing_runs_status() -> None:
    """`tests/run` stops its background pyright on exit; under `set -e` a kill of a
    pyright that has already ended must not turn a passing run's status into 1 (it did:
    CI failed with every test passed). Its own trap line, run as it runs there."""
    trap = next(line for line in (ROOT / "tests" / "run").read_text().splitlines() if line.startswith("trap "))
    script = f"set -euo pipefail\npyright_out=$(mktemp)\ntrue & pyright_pid=$!\nwait $pyright_pid\n{trap}\ntrue\n"
    assert subprocess.run(["bash", "-c", script], check=False).returncode == 0
    failing = script.replace("\ntrue\n", "\nexit 3\n")
    assert subprocess.run(["bash", "-c", failing], check=False).returncode == 3
