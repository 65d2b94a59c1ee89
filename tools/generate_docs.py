"""Write spl's shell completions and man page from the command tree.

Run from the repository root after changing any command or option:

    python tools/generate_docs.py

tests/test_docs.py fails until the committed files match what this writes.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the checkout's package, even if another copy is installed

from spleeter_cli.cli.docs import generate_all  # noqa: E402


def main() -> int:
    for relative, content in generate_all().items():
        path = ROOT / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        changed = not path.exists() or path.read_text(encoding="utf-8") != content
        path.write_text(content, encoding="utf-8")
        print(f"{'wrote' if changed else 'unchanged'} {relative}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
