"""The architecture holds: `lint-imports` checks the contracts in pyproject.toml (ARCHITECTURE.md).

Layers (each module imports only from layers below its own), no import cycles between sibling
packages or modules, and only models/ imports an inference runtime.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept(tmp_path: Path) -> None:
    tool = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert tool is not None, "import-linter is a dev dependency"
    done = subprocess.run([tool, "--cache-dir", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 3 kept, 0 broken." in done.stdout


def test_a_broken_contract_is_caught(tmp_path: Path) -> None:
    """The check can fail: a copy of the package where the core imports the CLI breaks the layers."""
    package = tmp_path / "spleeter_cli"
    shutil.copytree(ROOT / "spleeter_cli", package, ignore=shutil.ignore_patterns("__pycache__"))
    (package / "separate" / "leak.py").write_text("from ..cli import ui  # noqa: F401\n")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    tool = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert tool is not None
    done = subprocess.run(
        [tool, "--no-cache"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode != 0
    assert "spleeter_cli.separate is not allowed to import spleeter_cli.cli" in done.stdout
