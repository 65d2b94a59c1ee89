"""Static bash, zsh and fish completion scripts for `spl`, written from the command tree.

Why static scripts rather than Click's own completion (in Typer 0.29, its copy of Click:
`_SPL_COMPLETE=complete_bash spl`): that one runs `spl` on every <Tab> (fish: twice, for the
condition and for the values) to import the package and walk the tree again. Measured with the
installed `spl` (Python 3.11, a shared 2-core machine): 0.2-0.3 s of CPU and 0.4-0.9 s of
waiting per <Tab> in bash (`spl --version` alone costs 0.15 s of CPU), against 1-2 ms per <Tab>
for the static bash script and 1-26 ms for the static fish one. It would also offer no value
for options typed as plain str (`--codec`, `--backend`, model names) unless the CLI grew
callbacks, and it needs `add_completion=True`, which adds two options to `spl --help`.

So the tree is walked once, by `python tools/generate_docs.py`, and written out as plain shell
code that knows every command, option, fixed value and model name; tests/test_docs.py runs the
scripts in real bash, zsh and fish and fails when the committed files are out of date.
"""

from __future__ import annotations

import re
from typing import Any

from command_tree import (
    CHOICE,
    DIRECTORY,
    FILE,
    HEADER,
    MODEL,
    NONE,
    TEXT,
    ArgumentSpec,
    CommandSpec,
    OptionSpec,
    command_tree,
    model_names,
)

# --------------------------------------------------------------------------- bash


def _sh_words(words: tuple[str, ...] | list[str]) -> str:
    """Words for a double-quoted shell string (`compgen -W "..."`); values here never hold quotes or $."""
    for word in words:
        if re.search(r"[\"'$`\\\s]", word):
            raise ValueError(f"cannot put {word!r} in a completion word list")
    return " ".join(words)


def bash_completion(command: Any = None) -> str:
    """A bash script: `source` it (or drop it in bash-completion's directory) to complete `spl`.

    Plain bash, no bash-completion helpers, so it also works where that package is absent.
    The command path is found by walking the words before the cursor, skipping the values
    of options that take one, so `spl separate -o models <Tab>` is not mistaken for `spl models`.
    """
    tree = command_tree(command)
    models = _sh_words(model_names())
    spec_cases = []
    value_cases = []
    for cmd in tree.walk():
        value_options = [n for o in cmd.options if o.takes_value for n in o.names]
        arg_kind = next((a.kind for a in cmd.arguments), NONE)
        spec_cases.append(
            f'        "{cmd.key}")\n'
            f'            subcommands="{_sh_words([s.path[-1] for s in cmd.subcommands])}"\n'
            f'            options="{_sh_words([n for o in cmd.options for n in o.names])}"\n'
            f'            value_options="{_sh_words(value_options)}"\n'
            f"            argument={arg_kind} ;;"
        )
        for option in cmd.options:
            if not option.takes_value:
                continue
            patterns = "|".join(f'"{cmd.key}|{n}"' for n in option.names)
            if option.kind == CHOICE:
                action = f'COMPREPLY=($(compgen -W "{_sh_words(option.choices)}" -- "$cur"))'
            elif option.kind == MODEL:
                action = f'COMPREPLY=($(compgen -W "{models}" -- "$cur"))'
            elif option.kind == DIRECTORY:
                action = "_spl_paths -d"
            elif option.kind == FILE:
                action = "_spl_paths -f"
            else:
                action = "COMPREPLY=()"
            value_cases.append(f"        {patterns})\n            {action} ;;")
    return f"""\
# bash completion for spl -- {HEADER}.
# Install: source this file from ~/.bashrc, or copy it to
# ~/.local/share/bash-completion/completions/spl (bash-completion loads it on demand).

# Sets subcommands, options, value_options and argument (kind of positional values) for a command path.
_spl_spec() {{
    subcommands="" options="" value_options="" argument=none
    case "$1" in
{chr(10).join(spec_cases)}
    esac
}}

# File or directory names; -o filenames makes bash add / to folders and quote specials.
_spl_paths() {{
    compopt -o filenames 2>/dev/null
    local IFS=$'\\n'
    COMPREPLY=($(compgen "$1" -- "$cur"))
}}

_spl_value() {{
    case "$1|$2" in
{chr(10).join(value_cases)}
        *) COMPREPLY=() ;;
    esac
}}

_spl() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="" path="" word i skip=0 value_prefix=""
    local subcommands options value_options argument
    # --opt=value: bash splits at '=' (COMP_WORDBREAKS), so the option is two words back.
    if [[ $cur == "=" ]]; then
        prev="${{COMP_WORDS[COMP_CWORD-1]}}" cur=""
    elif (( COMP_CWORD >= 2 )) && [[ ${{COMP_WORDS[COMP_CWORD-1]}} == "=" ]]; then
        prev="${{COMP_WORDS[COMP_CWORD-2]}}"
    elif [[ $cur == --*=* ]]; then
        prev="${{cur%%=*}}" cur="${{cur#*=}}" value_prefix="${{prev}}="
    elif (( COMP_CWORD >= 1 )); then
        prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    fi
    for ((i = 1; i < COMP_CWORD; i++)); do
        word="${{COMP_WORDS[i]}}"
        if (( skip )); then skip=0; continue; fi
        [[ $word == "=" ]] && continue
        _spl_spec "$path"
        case "$word" in
            --*=*) ;;
            -*) [[ " $value_options " == *" $word "* ]] && skip=1 ;;
            *) [[ " $subcommands " == *" $word "* ]] && path="${{path:+$path }}$word" ;;
        esac
    done
    _spl_spec "$path"
    if [[ $prev == -* && " $value_options " == *" $prev "* ]]; then
        _spl_value "$path" "$prev"
        # '=' not a word break: the word being replaced is the whole --opt=value.
        [[ -n $value_prefix ]] && COMPREPLY=("${{COMPREPLY[@]/#/$value_prefix}}")
        return 0
    fi
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$options" -- "$cur"))
    elif [[ -n $subcommands ]]; then
        COMPREPLY=($(compgen -W "$subcommands" -- "$cur"))
    elif [[ $argument == file ]]; then
        _spl_paths -f
    elif [[ $argument == model ]]; then
        COMPREPLY=($(compgen -W "{models}" -- "$cur"))
    else
        COMPREPLY=()
    fi
    return 0
}}

complete -F _spl spl
"""


# --------------------------------------------------------------------------- zsh


def _zsh_quote(text: str) -> str:
    """Single-quote for zsh."""
    return "'" + text.replace("'", "'\\''") + "'"


def _zsh_description(text: str) -> str:
    """Text inside an _arguments `[...]` description: brackets (and backslashes) need a backslash;
    colons do not, since the description ends at the first unescaped `]`."""
    return re.sub(r"([\\\[\]])", r"\\\1", text)


def _zsh_function(cmd: CommandSpec) -> str:
    return "_spl" + "".join("_" + re.sub(r"\W", "_", part) for part in cmd.path)


def _zsh_action(kind: str, choices: tuple[str, ...] = ()) -> str:
    return {
        CHOICE: "(" + " ".join(choices) + ")",
        MODEL: "_spl_model_names",
        FILE: "_files",
        DIRECTORY: "_files -/",
    }.get(kind, " ")


def _zsh_option(option: OptionSpec) -> str:
    description = _zsh_description(option.help)
    value = ""
    if option.takes_value:
        message = _zsh_description(option.metavar.lower().strip("{}") if option.kind != CHOICE else option.long.lstrip("-"))
        value = f":{message}:{_zsh_action(option.kind, option.choices)}"
    if option.multiple:
        return " ".join(_zsh_quote(f"*{name}[{description}]{value}") for name in option.names)
    if len(option.names) == 1:
        return _zsh_quote(f"{option.names[0]}[{description}]{value}")
    exclusive = "(" + " ".join(option.names) + ")"
    return _zsh_quote(exclusive) + "{" + ",".join(option.names) + "}" + _zsh_quote(f"[{description}]{value}")


def _zsh_argument(argument: ArgumentSpec) -> str:
    message = _zsh_description(argument.metavar.rstrip(".").lower())
    action = _zsh_action(argument.kind)
    if argument.variadic:
        prefix = "*"
    else:
        prefix = "" if argument.required else ":"
    return _zsh_quote(f"{prefix}:{message}:{action}")


def zsh_completion(command: Any = None) -> str:
    """A zsh `#compdef` script: one `_arguments` function per command, dispatching down the tree."""
    tree = command_tree(command)
    functions = []
    for cmd in tree.walk():
        name = _zsh_function(cmd)
        specs = [_zsh_option(o) for o in cmd.options]
        if cmd.subcommands:
            specs += ["'1: :->command'", "'*:: :->argument'"]
            entries = "\n".join(f"        {_zsh_quote(s.path[-1] + ':' + s.help)}" for s in cmd.subcommands)
            dispatch = "\n".join(f"                {s.path[-1]}) {_zsh_function(s)} ;;" for s in cmd.subcommands)
            body = f"""\
    local curcontext="$curcontext" state line ret=1
    typeset -A opt_args
    local -a commands
    commands=(
{entries}
    )
    _arguments -C -s \\
        {(" " + chr(92) + chr(10) + "        ").join(specs)} && ret=0
    case $state in
        command)
            _describe -t commands 'spl {cmd.key + " " if cmd.key else ""}command' commands && ret=0 ;;
        argument)
            curcontext="${{curcontext%:*:*}}:{name.lstrip("_")}-$words[1]:"
            case $words[1] in
{dispatch}
            esac ;;
    esac
    return ret"""
        else:
            specs += [_zsh_argument(a) for a in cmd.arguments]
            body = "    _arguments -s \\\n        " + " \\\n        ".join(specs)
        functions.append(f"# spl {cmd.key}".rstrip() + f"\n{name}() {{\n{body}\n}}\n")
    models = " ".join(model_names())
    return f"""\
#compdef spl
# zsh completion for spl -- {HEADER}.
# Install: copy to a folder on $fpath as _spl (e.g. ~/.zfunc/_spl with fpath+=(~/.zfunc)
# before compinit in ~/.zshrc).

_spl_model_names() {{
    local -a models
    models=({models})
    compadd -a models
}}

{chr(10).join(functions)}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
    _spl "$@"
else
    compdef _spl spl
fi
"""


# --------------------------------------------------------------------------- fish


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def fish_completion(command: Any = None) -> str:
    """A fish script: `complete` lines guarded by the command path found before the cursor."""
    tree = command_tree(command)
    models = " ".join(model_names())
    sub_cases = []
    value_cases = []
    lines = []
    for cmd in tree.walk():
        key = _fish_quote(cmd.key)
        if cmd.subcommands:
            sub_cases.append(f"        case {key}\n            printf '%s\\n' {' '.join(s.path[-1] for s in cmd.subcommands)}")
        value_options = [n for o in cmd.options if o.takes_value for n in o.names]
        if value_options:
            value_cases.append(f"        case {key}\n            printf '%s\\n' {' '.join(value_options)}")
        condition = f"\"__spl_at '{cmd.key}'\""  # keys are plain words: nothing to escape
        lines.append(f"\n# spl {cmd.key}".rstrip())
        for sub in cmd.subcommands:
            lines.append(f"complete -c spl -n {condition} -a {sub.path[-1]} -d {_fish_quote(sub.help)}")
        for argument in cmd.arguments:
            if argument.kind == FILE:
                lines.append(f"complete -c spl -n {condition} -F")
            elif argument.kind == MODEL:
                lines.append(f"complete -c spl -n {condition} -a {_fish_quote(models)}")
        for option in cmd.options:
            flags = " ".join(f"-s {n[1:]}" if not n.startswith("--") else f"-l {n[2:]}" for n in option.names)
            value = {
                NONE: "",
                TEXT: " -x",
                CHOICE: f" -x -a {_fish_quote(' '.join(option.choices))}",
                MODEL: f" -x -a {_fish_quote(models)}",
                FILE: " -r -F",
                DIRECTORY: " -x -a '(__fish_complete_directories)'",
            }[option.kind]
            lines.append(f"complete -c spl -n {condition} {flags}{value} -d {_fish_quote(option.help)}")
    return f"""\
# fish completion for spl -- {HEADER}.
# Install: copy to ~/.config/fish/completions/spl.fish

# Subcommands of a command path ('' for spl itself).
function __spl_subcommands
    switch $argv[1]
{chr(10).join(sub_cases)}
    end
end

# Options of a command path that take a value (their value is not a subcommand).
function __spl_value_options
    switch $argv[1]
{chr(10).join(value_cases)}
    end
end

# The command path before the cursor, e.g. 'models download'.
function __spl_path
    set -l path
    set -l skip 0
    for token in (commandline -opc)[2..-1]
        if test $skip -eq 1
            set skip 0
            continue
        end
        switch $token
            case '--*=*'
            case '-*'
                if contains -- $token (__spl_value_options "$path")
                    set skip 1
                end
            case '*'
                if contains -- $token (__spl_subcommands "$path")
                    set -a path $token
                end
        end
    end
    echo "$path"
end

function __spl_at
    set -l path (__spl_path)
    test "$path" = "$argv[1]"
end

complete -c spl -f
{chr(10).join(lines)}
"""
