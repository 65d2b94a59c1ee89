"""The committed completions, man page and README exit-code table: up to date, complete, and working.

The files are generated from the live command tree by tools/generate_docs.py (the generators
live in tools/, outside the package); these tests make a new command, option or exit code
without regenerated docs fail, and run the completion scripts in real bash, zsh and fish.
"""

from __future__ import annotations

import functools
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main

from spleeter_cli.cli.app import app
from spleeter_cli.errors import ExitCode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from command_tree import model_names  # noqa: E402
from generate_docs import generate_all  # noqa: E402

BASH = ROOT / "completions" / "spl.bash"
ZSH = ROOT / "completions" / "_spl"
FISH = ROOT / "completions" / "spl.fish"
MAN = ROOT / "man" / "spl.1"


def commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every (path, command) of the Click tree, walked here independently of tools/command_tree.py."""
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        if not getattr(sub, "hidden", False):
            yield from commands(sub, (*path, name))


def option_names(command: Any) -> list[str]:
    return [
        name
        for p in command.params
        if p.param_type_name == "option" and not getattr(p, "hidden", False)
        for name in (*p.opts, *p.secondary_opts)
    ]


TREE = list(commands(typer.main.get_command(app)))


def test_committed_files_are_up_to_date() -> None:
    for relative, expected in generate_all().items():
        path = ROOT / relative
        assert path.exists(), f"{relative} is missing: run `python tools/generate_docs.py`"
        assert path.read_text(encoding="utf-8") == expected, (
            f"{relative} is out of date with the commands: run `python tools/generate_docs.py`"
        )


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
    for variable in (
        "SPLEETER_MODELS_DIR",
        "SPLEETER_AUTO_DOWNLOAD",
        "SPLEETER_CACHE_DIR",
        "SPLEETER_REDIS_URL",
        "SPLEETER_GITHUB_HOST",
        "SPLEETER_GITHUB_REPOSITORY",
        "SPLEETER_GITHUB_RELEASE",
        "SPL_DEBUG",
    ):
        assert variable in text
    for code in ExitCode:
        assert f"\n.TP\n\\fB{code.value}\\fR\n" in text, f"man page lacks exit status {code.value}"


def test_bash_script_parses() -> None:
    subprocess.run(["bash", "-n", str(BASH)], check=True)


# (command line typed so far, with the cursor at its end; what must be offered; what must not)
COMPLETIONS: list[tuple[str, set[str], set[str]]] = [
    ("spl sep", {"separate"}, set()),
    ("spl ", {"separate", "batch", "models", "cache"}, set()),
    ("spl separate --co", {"--codec"}, set()),
    ("spl separate --codec ", {"wav", "flac", "mp3", "ogg", "m4a"}, set()),
    ("spl separate --backend ", {"auto", "openvino", "tensorflow"}, set()),
    ("spl batch --precision ", {"fp32", "bf16"}, set()),
    ("spl batch -s ", {"2", "4", "5"}, set()),
    ("spl separate --bit-depth ", {"16", "24", "32"}, set()),
    ("spl separate -m spleeter:4", {"spleeter:4stems", "spleeter:4stems-16kHz"}, set()),
    ("spl models ", {"list", "download", "import", "verify", "remove"}, set()),
    ("spl models download ", set(model_names()), set()),
    ("spl models download --f", {"--force"}, set()),
    ("spl cache ", {"stats", "clear", "prune", "info"}, set()),
    ("spl cache clear --tier ", {"memory", "disk", "redis"}, set()),
    ("spl separate -o models ", {"README.md", "spleeter_cli/"}, {"download"}),  # "models" is -o's value, not the group
    ("spl separate READ", {"README.md"}, set()),
]


def complete_bash(line: str) -> list[str]:
    """COMPREPLY for the command line typed so far (the cursor at its end), in a fresh bash."""
    words = line.split(" ")  # a trailing space leaves an empty current word, as in bash
    script = f"""
        source {shlex.quote(str(BASH))}
        function=$(complete -p spl | sed -E 's/.*-F ([^ ]+).*/\\1/')
        COMP_WORDS=({" ".join(shlex.quote(w) for w in words)})
        COMP_CWORD={len(words) - 1}
        COMP_LINE={shlex.quote(line)}
        COMP_POINT=${{#COMP_LINE}}
        "$function" spl {shlex.quote(words[-1])} {shlex.quote(words[-2] if len(words) > 1 else "")}
        printf '%s\\n' "${{COMPREPLY[@]}}"
    """
    result = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True, text=True, check=True, cwd=ROOT)
    return [w for w in result.stdout.splitlines() if w]


# Types each line, then <Tab>, into an interactive zsh on a pseudo-terminal (zpty) with compinit
# and the committed _spl on $fpath; a compadd wrapper writes down every candidate offered.
ZSH_CAPTURE = r"""
zmodload zsh/zpty
local dir=$1 out=$2 line junk i
shift 2
zpty z zsh -f -i
zpty -w z "bindkey -e; unsetopt autolist beep; fpath=(${(q)dir} \$fpath); autoload -U compinit; compinit -u -D"
zpty -w z "compadd() { local -a m; builtin compadd -O m \"\$@\"; print -rl -- \$m >> ${(q)out}; builtin compadd \"\$@\"; }"
zpty -w z "_capture_tab() { zle complete-word; print -r -- __END__ >> ${(q)out} }; zle -N _capture_tab; bindkey '^I' _capture_tab"
for line in "$@"; do
  : >| $out
  zpty -w -n z "$line"$'\t'
  for i in {1..500}; do
    while zpty -rt z junk; do :; done
    grep -q __END__ $out && break
    sleep 0.02
  done
  cat $out
  zpty -w -n z $'\C-u'
done
zpty -d z
"""
FISH_CAPTURE = 'source $argv[1]; for line in $argv[2..-1]; complete -C"$line"; echo __END__; end'


def split_replies(output: str) -> list[list[str]]:
    """Per command line, the candidates a capture script printed (one a line, `__END__` after each line's)."""
    return [[w.split("\t")[0] for w in block.splitlines() if w] for block in output.split("__END__\n")[:-1]]


@functools.cache
def zsh_replies(tmp: Path) -> dict[str, list[str]]:
    lines = [line for line, _, _ in COMPLETIONS]
    result = subprocess.run(
        ["zsh", "-f", "-c", ZSH_CAPTURE, "zsh", str(ZSH.parent), str(tmp / "offered"), *lines],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    return dict(zip(lines, split_replies(result.stdout), strict=True))


@functools.cache
def fish_replies() -> dict[str, list[str]]:
    lines = [line for line, _, _ in COMPLETIONS]
    result = subprocess.run(
        ["fish", "--no-config", "-c", FISH_CAPTURE, str(FISH), *lines],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    return dict(zip(lines, split_replies(result.stdout), strict=True))


def check_offered(line: str, replies: list[str], expected: set[str], absent: set[str]) -> None:
    # Shells differ in marking folders (bash's compgen -f, zsh's compadd -O leave the slash off).
    offered = {r.rstrip("/") for r in replies}
    assert {e.rstrip("/") for e in expected} <= offered, f"{line!r} completed to {replies}"
    assert not absent & offered, f"{line!r} completed to {replies}"


@pytest.mark.parametrize(("line", "expected", "absent"), COMPLETIONS)
def test_bash_completes(line: str, expected: set[str], absent: set[str]) -> None:
    check_offered(line, complete_bash(line), expected, absent)


@pytest.mark.parametrize(("line", "expected", "absent"), COMPLETIONS)
def test_zsh_completes(line: str, expected: set[str], absent: set[str], tmp_path_factory: pytest.TempPathFactory) -> None:
    check_offered(line, zsh_replies(tmp_path_factory.getbasetemp())[line], expected, absent)


@pytest.mark.parametrize(("line", "expected", "absent"), COMPLETIONS)
def test_fish_completes(line: str, expected: set[str], absent: set[str]) -> None:
    check_offered(line, fish_replies()[line], expected, absent)


def test_readme_exit_codes_are_the_exit_code_enum() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Exit codes\n\n", 1)[1].split("\n\n", 1)[0]
    rows = [re.fullmatch(r"\| (\d+) \| (.*) \|", row) for row in section.splitlines()[2:]]
    assert all(rows), section
    assert [(int(r[1]), r[2].replace("\\|", "|")) for r in rows] == [(c.value, c.meaning) for c in ExitCode]


def test_zsh_script_parses() -> None:
    subprocess.run(["zsh", "-n", str(ZSH)], check=True)


def test_fish_script_parses() -> None:
    subprocess.run(["fish", "--no-execute", str(FISH)], check=True)


def test_man_page_renders() -> None:
    result = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-P", "-cbou", str(MAN)], capture_output=True, text=True, check=True)
    assert not result.stderr.strip(), result.stderr
    for path, _ in TREE:
        assert " ".join(("spl", *path)) in result.stdout
    assert "EXIT STATUS" in result.stdout and "--filename-format" in result.stdout.replace("\u2010", "-").replace("\u2212", "-")
