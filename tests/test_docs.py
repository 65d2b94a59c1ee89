"""The committed completions and man page: up to date, complete, and accepted by their tools.

The files are generated from the live command tree (spleeter_cli/cli/docs.py); these tests
make a new command or option without regenerated docs fail, and check the scripts really
work in bash and parse in zsh, fish and groff (CI installs them: .ci/run).
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main

from spleeter_cli.cli.app import app
from spleeter_cli.cli.docs import generate_all, model_names

ROOT = Path(__file__).resolve().parent.parent
BASH = ROOT / "completions" / "spl.bash"
ZSH = ROOT / "completions" / "_spl"
FISH = ROOT / "completions" / "spl.fish"
MAN = ROOT / "man" / "spl.1"


def commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every (path, command) of the Click tree, walked here independently of docs.py."""
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        if not getattr(sub, "hidden", False):
            yield from commands(sub, (*path, name))


def option_names(command: Any) -> list[str]:
    return [name for p in command.params if p.param_type_name == "option" and not getattr(p, "hidden", False)
            for name in (*p.opts, *p.secondary_opts)]


TREE = list(commands(typer.main.get_command(app)))


def test_committed_files_are_up_to_date() -> None:
    for relative, expected in generate_all().items():
        path = ROOT / relative
        assert path.exists(), f"{relative} is missing: run `python tools/generate_docs.py`"
        assert path.read_text(encoding="utf-8") == expected, (
            f"{relative} is out of date with the commands: run `python tools/generate_docs.py`")


@pytest.mark.parametrize("script", [BASH, ZSH, FISH], ids=lambda p: p.name)
def test_every_command_and_option_is_completed(script: Path) -> None:
    text = script.read_text(encoding="utf-8")
    for path, command in TREE:
        if path:
            assert path[-1] in text, f"{script.name} lacks command {' '.join(path)}"
        for name in option_names(command):
            if script is FISH:  # fish declares -s o / -l output
                name = f"-s {name[1:]}" if not name.startswith("--") else f"-l {name[2:]}"
            assert name in text, f"{script.name} lacks {name} of spl {' '.join(path)}"
    for model in model_names():
        assert model in text


def test_man_page_documents_every_command_and_option() -> None:
    text = MAN.read_text(encoding="utf-8")
    for path, command in TREE:
        assert r"\fB" + r"\-".join(" ".join(("spl", *path)).split("-")) + r"\fR" in text, f"man page lacks spl {' '.join(path)}"
        for name in option_names(command):
            assert r"\fB" + name.replace("-", r"\-") + r"\fR" in text, f"man page lacks {name} of spl {' '.join(path)}"
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "ENVIRONMENT", "EXIT STATUS", "FILES", "EXAMPLES"):
        assert f".SH {section}\n" in text
    for variable in ("SPLEETER_MODELS_DIR", "SPLEETER_AUTO_DOWNLOAD", "SPLEETER_CACHE_DIR", "SPLEETER_REDIS_URL",
                     "SPLEETER_GITHUB_HOST", "SPLEETER_GITHUB_REPOSITORY", "SPLEETER_GITHUB_RELEASE", "SPL_DEBUG"):
        assert variable in text
    assert "\n.TP\n\\fB130\\fR\n" in text


def test_bash_script_parses() -> None:
    subprocess.run(["bash", "-n", str(BASH)], check=True)


def complete_bash(line: str) -> list[str]:
    """COMPREPLY for the command line typed so far (the cursor at its end), in a fresh bash."""
    words = line.split(" ")  # a trailing space leaves an empty current word, as in bash
    script = f"""
        source {shlex.quote(str(BASH))}
        function=$(complete -p spl | sed -E 's/.*-F ([^ ]+).*/\\1/')
        COMP_WORDS=({' '.join(shlex.quote(w) for w in words)})
        COMP_CWORD={len(words) - 1}
        COMP_LINE={shlex.quote(line)}
        COMP_POINT=${{#COMP_LINE}}
        "$function" spl {shlex.quote(words[-1])} {shlex.quote(words[-2] if len(words) > 1 else "")}
        printf '%s\\n' "${{COMPREPLY[@]}}"
    """
    result = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True, text=True, check=True, cwd=ROOT)
    return [w for w in result.stdout.splitlines() if w]


@pytest.mark.parametrize(("line", "expected", "absent"), [
    ("spl sep", {"separate"}, set()),
    ("spl ", {"separate", "batch", "models", "cache"}, set()),
    ("spl separate --co", {"--codec"}, set()),
    ("spl separate --codec ", {"wav", "flac", "mp3", "ogg", "m4a"}, set()),
    ("spl batch -s ", {"2", "4", "5"}, set()),
    ("spl separate --bit-depth ", {"16", "24", "32"}, set()),
    ("spl separate -m spleeter:4", {"spleeter:4stems", "spleeter:4stems-16kHz"}, set()),
    ("spl models ", {"list", "download", "import", "verify", "remove"}, set()),
    ("spl models download ", set(model_names()), set()),
    ("spl models download --f", {"--force"}, set()),
    ("spl cache ", {"stats", "clear", "prune", "info"}, set()),
    ("spl cache clear --tier ", {"memory", "disk", "redis"}, set()),
    ("spl separate -o models ", {"README.md", "spleeter_cli/"} , {"download"}),  # "models" is -o's value, not the group
    ("spl separate READ", {"README.md"}, set()),
])
def test_bash_completes(line: str, expected: set[str], absent: set[str]) -> None:
    replies = complete_bash(line)
    # compgen -f gives names without the trailing slash; directories are marked by -o filenames at runtime.
    normalized = {r.rstrip("/") for r in replies}
    assert {e.rstrip("/") for e in expected} <= normalized, f"{line!r} completed to {replies}"
    assert not absent & normalized


def test_zsh_script_parses() -> None:
    subprocess.run(["zsh", "-n", str(ZSH)], check=True)


def test_fish_script_parses() -> None:
    subprocess.run(["fish", "--no-execute", str(FISH)], check=True)


def test_man_page_renders() -> None:
    result = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-P", "-cbou", str(MAN)],
                            capture_output=True, text=True, check=True)
    assert not result.stderr.strip(), result.stderr
    for path, _ in TREE:
        assert " ".join(("spl", *path)) in result.stdout
    assert "EXIT STATUS" in result.stdout and "--filename-format" in result.stdout.replace("\u2010", "-").replace("\u2212", "-")
