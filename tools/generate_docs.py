"""Write spl's shell completions, man page and README exit-code table from the command tree.

Run from the repository root after changing any command, option or exit code:

    python tools/generate_docs.py

tests/test_docs.py fails until the committed files match what this writes. The generators
live here, beside this script, and not in the `spleeter_cli` package: `spl` never needs them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the checkout's package, even if another copy is installed

from man_page import man_page  # noqa: E402

from completions import bash_completion, fish_completion, zsh_completion  # noqa: E402
from spleeter_cli.errors import ExitCode  # noqa: E402

EXIT_CODES_HEADING = "## Exit codes\n\n| code | meaning |\n|---|---|\n"


def exit_code_table() -> str:
    """The rows of README's exit-code table, one per `ExitCode`."""
    return "".join(f"| {code.value} | {code.meaning.replace('|', chr(92) + '|')} |\n" for code in ExitCode)


def readme_with_exit_codes(readme: str) -> str:
    """README with the rows under its "Exit codes" heading replaced by `exit_code_table()`."""
    start = readme.index(EXIT_CODES_HEADING) + len(EXIT_CODES_HEADING)
    end = readme.index("\n\n", start) + 1
    return readme[:start] + exit_code_table() + readme[end:]


# Files written here, relative to the repository root: each from the file's current text.
OUTPUTS: dict[str, Callable[[str], str]] = {
    "completions/spl.bash": lambda _: bash_completion(),
    "completions/_spl": lambda _: zsh_completion(),
    "completions/spl.fish": lambda _: fish_completion(),
    "man/spl.1": lambda _: man_page(),
    "README.md": readme_with_exit_codes,
}


def generate_all() -> dict[str, str]:
    """Every generated file's relative path and what it should contain."""
    current = {relative: (ROOT / relative).read_text(encoding="utf-8") if (ROOT / relative).exists() else "" for relative in OUTPUTS}
    return {relative: generate(current[relative]) for relative, generate in OUTPUTS.items()}


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
