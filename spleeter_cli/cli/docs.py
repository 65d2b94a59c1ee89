"""Shell completion scripts and the `spl(1)` man page, generated from the Typer app.

Why static scripts: Typer's own completion calls back into `spl` on every <Tab>, which
imports the package and Typer each time (a visible pause) and needs `add_completion=True`,
which clutters `spl --help`. Here the command tree is walked once, at generation time
(`python tools/generate_docs.py`), and written out as plain bash/zsh/fish code that knows
every command, option, fixed value and model name. A test compares the committed files
with freshly generated ones, so a new command or option cannot silently go missing.

The walk is dynamic: whatever is registered on `spleeter_cli.cli.app.app` when the
generator runs is documented. Only what Click cannot tell (values of options typed as
plain `int`/`str`, which arguments are model names or paths) lives in the small tables
below.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

PROG = "spl"

# Option values Click cannot see because the parameters are plain int/str (the core
# validates them, so the CLI keeps its simple types). Keyed by the option's long name.
KNOWN_VALUES: dict[str, tuple[str, ...]] = {
    "--stems": ("2", "4", "5"),
    "--codec": ("wav", "flac", "mp3", "ogg", "m4a"),
    "--bit-depth": ("16", "24", "32"),
    "--tier": ("memory", "disk", "redis"),
}
# Options whose value is a model name, completed from the catalog.
MODEL_OPTIONS: frozenset[str] = frozenset({"--model"})
# Path options that only make sense as directories (completion offers folders only).
DIRECTORY_OPTIONS: frozenset[str] = frozenset({"--output", "--cache-dir"})
# Arguments whose values are model names / paths although typed as str, keyed by the
# command path below `spl` and the parameter name.
MODEL_ARGUMENTS: frozenset[tuple[tuple[str, ...], str]] = frozenset({
    (("models", "download"), "names"),
    (("models", "info"), "names"),
    (("models", "remove"), "names"),
    (("models", "verify"), "names"),
})
PATH_ARGUMENTS: frozenset[tuple[tuple[str, ...], str]] = frozenset({
    (("batch",), "patterns"),  # files and folders, besides globs, @lists and -
})

# Kinds of values a completion can offer.
NONE, TEXT, FILE, DIRECTORY, CHOICE, MODEL = "none", "text", "file", "directory", "choice", "model"


@dataclass(frozen=True)
class OptionSpec:
    """One option as the generators need it, independent of Click's classes."""

    names: tuple[str, ...]  # e.g. ("-o", "--output")
    kind: str  # NONE for flags, else what its value is
    choices: tuple[str, ...]
    metavar: str
    help: str  # the option's own help, for completion descriptions
    help_record: str  # help with "[default: ...]", as `--help` shows it, for the man page
    multiple: bool

    @property
    def takes_value(self) -> bool:
        return self.kind != NONE

    @property
    def long(self) -> str:
        return next((n for n in self.names if n.startswith("--")), self.names[0])


@dataclass(frozen=True)
class ArgumentSpec:
    """One positional argument."""

    name: str
    metavar: str
    kind: str
    help: str
    required: bool
    variadic: bool


@dataclass(frozen=True)
class CommandSpec:
    """A command or group: its path below `spl`, help, options, arguments and subcommands."""

    path: tuple[str, ...]
    help: str
    options: tuple[OptionSpec, ...]
    arguments: tuple[ArgumentSpec, ...]
    subcommands: tuple[CommandSpec, ...]

    @property
    def key(self) -> str:
        """The path as one string ("" for `spl` itself, "models download"), used as a lookup key in scripts."""
        return " ".join(self.path)

    def walk(self) -> Iterator[CommandSpec]:
        """This command and every command below it, depth first, in registration order."""
        yield self
        for sub in self.subcommands:
            yield from sub.walk()


# --------------------------------------------------------------------------- the tree


def model_names() -> tuple[str, ...]:
    """Full names of the catalog's models (`spleeter:4stems-16kHz`), as `--model` accepts them."""
    from ..models.catalog import CATALOG

    return tuple(spec.full_name for spec in CATALOG.values())


def root_command() -> Any:
    """The Click command Typer builds from the `spl` app (imported here so tests can pass their own)."""
    import typer.main

    from .app import app

    return typer.main.get_command(app)


def command_tree(command: Any = None) -> CommandSpec:
    """Walk a Click command (default: the `spl` app) into CommandSpecs, skipping hidden parts."""
    command = root_command() if command is None else command
    context = command.context_class(command, info_name=PROG, **command.context_settings)
    return _spec(command, context, ())


def _spec(command: Any, context: Any, path: tuple[str, ...]) -> CommandSpec:
    options: list[OptionSpec] = []
    arguments: list[ArgumentSpec] = []
    # get_params adds the help option the context settings define (-h/--help).
    for param in command.get_params(context):
        if getattr(param, "hidden", False):
            continue
        if param.param_type_name == "option":
            options.append(_option(param, context))
        else:
            arguments.append(_argument(param, path))
    subcommands = []
    for name, sub in getattr(command, "commands", {}).items():
        if getattr(sub, "hidden", False):
            continue
        sub_context = sub.context_class(sub, info_name=name, parent=context, **sub.context_settings)
        subcommands.append(_spec(sub, sub_context, (*path, name)))
    return CommandSpec(path, _first_paragraph(command.help or ""), tuple(options), tuple(arguments), tuple(subcommands))


def _first_paragraph(text: str) -> str:
    return " ".join(text.strip().split("\n\n")[0].split())


def _choices(param: Any) -> tuple[str, ...]:
    """Fixed values: Typer's descriptor (enums, Literal), a Click Choice, or the KNOWN_VALUES table."""
    descriptor = getattr(param, "type_descriptor", None)
    found = getattr(descriptor, "choices", None) if descriptor is not None else None
    if found is None:
        found = getattr(getattr(param, "type", None), "choices", None)
    if found:
        return tuple(str(getattr(c, "value", c)) for c in found)
    for name in param.opts:
        if name in KNOWN_VALUES:
            return KNOWN_VALUES[name]
    return ()


def _is_path(param: Any) -> bool:
    """Path-typed, including `list[Path]` (Typer's descriptor only says so for a bare Path)."""
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is not None:
        if descriptor.is_path or descriptor.is_file:
            return True
        annotations = (descriptor.annotation, *typing.get_args(descriptor.annotation))
        return any(isinstance(a, type) and issubclass(a, PurePath) for a in annotations)
    return type(getattr(param, "type", None)).__name__ in ("Path", "File")


def _option(param: Any, context: Any) -> OptionSpec:
    names = tuple(param.opts) + tuple(param.secondary_opts)
    names = tuple(sorted(names, key=lambda n: (n.startswith("--"), n)))  # short before long
    choices = _choices(param)
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        kind = NONE
    elif choices:
        kind = CHOICE
    elif MODEL_OPTIONS.intersection(names):
        kind = MODEL
    elif _is_path(param):
        kind = DIRECTORY if DIRECTORY_OPTIONS.intersection(names) else FILE
    else:
        kind = TEXT
    record = param.get_help_record(context)
    help_record = " ".join((record[1] if record else "").split())
    return OptionSpec(names, kind, choices, _metavar(param, context, kind, choices), " ".join((param.help or "").split()),
                      help_record, bool(getattr(param, "multiple", False)))


def _metavar(param: Any, context: Any, kind: str, choices: tuple[str, ...]) -> str:
    if kind == NONE:
        return ""
    if param.metavar:
        return str(param.metavar)
    if choices:
        return "{" + "|".join(choices) + "}"
    if kind == MODEL:
        return "NAME"
    if kind == DIRECTORY:
        return "DIR"
    shown = str(param.display_type(context)) if hasattr(param, "display_type") else ""
    shown = shown.strip("<>").split("[")[-1].rstrip("]").upper()
    return {"STR": "TEXT", "INT": "N", "FLOAT": "SECONDS" if "seconds" in (param.help or "") else "NUMBER",
            "PATH": "PATH"}.get(shown, shown or "VALUE")


def _argument(param: Any, path: tuple[str, ...]) -> ArgumentSpec:
    variadic = param.nargs == -1
    if (path, param.name) in MODEL_ARGUMENTS:
        kind = MODEL
    elif (path, param.name) in PATH_ARGUMENTS or _is_path(param):
        kind = FILE
    else:
        kind = TEXT
    metavar = str(param.metavar) if param.metavar else param.name.upper() + ("..." if variadic else "")
    return ArgumentSpec(param.name, metavar, kind, " ".join((getattr(param, "help", None) or "").split()),
                        bool(param.required), variadic)


HEADER = "generated by tools/generate_docs.py from the spl command tree; do not edit, regenerate"


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
            f'            argument={arg_kind} ;;'
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
        {(' ' + chr(92) + chr(10) + '        ').join(specs)} && ret=0
    case $state in
        command)
            _describe -t commands 'spl {cmd.key + ' ' if cmd.key else ''}command' commands && ret=0 ;;
        argument)
            curcontext="${{curcontext%:*:*}}:{name.lstrip('_')}-$words[1]:"
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


# --------------------------------------------------------------------------- man page

ENVIRONMENT: tuple[tuple[str, str], ...] = (
    ("SPLEETER_MODELS_DIR", "Where models are installed. Default: ~/.cache/spl/models."),
    ("SPLEETER_AUTO_DOWNLOAD", "Set to false to never download models; a missing model is then an error. Default: true."),
    ("SPLEETER_CACHE_DIR", "Folder of the disk cache of separated stems. Default: ~/.cache/spl/cache."),
    ("SPLEETER_REDIS_URL", "Shared Redis cache, e.g. redis://:password@host:6379/0 (passwords are never printed). "
                           "Same as --redis-url. Default: unset."),
    ("SPLEETER_GITHUB_HOST", "Host of a mirror of the official model release. Default: https://github.com."),
    ("SPLEETER_GITHUB_REPOSITORY", "Repository of the model release. Default: deezer/spleeter."),
    ("SPLEETER_GITHUB_RELEASE", "Release tag of the model archives. Default: v1.4.0."),
    ("SPLEETER_ENABLE_GPU", "false keeps the model on the CPU even when TensorFlow sees a GPU. Default: true."),
    ("SPLEETER_ENABLE_MONITORING", "true adds the run's peak RSS, CPU time and GPU memory to the summary and the report. Default: false."),
    ("SPL_HISTORY", "off stops recording run history (history.db in the cache folder). Default: on."),
    ("SPLEETER_METRICS_PORT", "Serve Prometheus metrics on 127.0.0.1 at this port during a run, like --metrics-port. Default: unset."),
    ("SPLEETER_METRICS_LINGER", "Seconds the metrics endpoint stays up after the run. Default: 0."),
    ("SPLEETER_ALERT_MEMORY_MB", "Warn once when the process RSS exceeds this many MB. Default: unset."),
    ("SPLEETER_ALERT_ERROR_RATE", "Warn once when failed / finished inputs exceeds this (0..1, from 5 inputs). Default: unset."),
    ("SPLEETER_ALERT_GPU_MEMORY_MB", "Warn once when GPU memory use exceeds this many MB (needs pynvml). Default: unset."),
    ("SPLEETER_MAX_FILE_MB", "Refuse inputs larger than this many MB (exit 3). Default: unset."),
    ("SPLEETER_MAX_DURATION", "Refuse inputs whose separated length exceeds this many seconds (exit 3). Default: unset."),
    ("SPLEETER_ALLOWED_ROOTS", "Colon-separated folders; inputs (after following symlinks) outside them are refused (exit 3). Default: unset."),
    ("SPL_DEBUG", "1 shows the traceback of an internal error. Default: unset."),
)

EXIT_STATUS: tuple[tuple[str, str], ...] = (
    ("0", "Every input succeeded."),
    ("1", "spl batch: one or more inputs failed (the others completed); spl separate: inputs failed for "
          "different reasons; spl cache clear/prune: a tier it was asked to change cannot be reached; a file or folder "
          "spl keeps its state in (models, history) cannot be used; or an internal error."),
    ("2", "Usage error: invalid option or config file (including --jobs over 1024), unknown model, bad --filename-format "
          "(e.g. one that leaves the output directory)."),
    ("3", "Input error: missing, unreadable (permission, symlink loop, name too long), a directory, empty, not audio, "
          "truncated (shorter than its header declares) or corrupt, --offset past the end, "
          "or beyond a configured limit (size, duration, allowed folders)."),
    ("4", "Model error: cannot be downloaded or imported, or is damaged."),
    ("5", "Output error: output directory or --report not writable (permission, symlink loop, name too long, no space), "
          "or stems exist without --overwrite."),
    ("129", "Hung up (SIGHUP: the terminal was closed, an ssh session dropped); the same clean-up as Ctrl-C."),
    ("130", "Interrupted (Ctrl-C); unfinished outputs are removed. A second signal stops at once."),
    ("141", "Standard output was closed early (spl ... | head); unfinished outputs are removed."),
    ("143", "Terminated (SIGTERM); the same clean-up as Ctrl-C."),
)

FILES: tuple[tuple[str, str], ...] = (
    ("~/.cache/spl/models", "Installed models, one folder each (see SPLEETER_MODELS_DIR)."),
    ("~/.cache/spl/cache", "Disk tier of the stem cache (see SPLEETER_CACHE_DIR)."),
)

EXAMPLES: tuple[tuple[str, str], ...] = (
    ("spl separate song.mp3", "Write separated/song/vocals.wav and accompaniment.wav."),
    ("spl separate a.flac b.m4a -s 5 --hq -o stems/", "Five stems with the 16 kHz-band model."),
    ("spl separate live.wav --offset 60 --duration 30 -c mp3 --bitrate 320k", "Separate one minute in, for 30 seconds, to MP3."),
    ("spl batch 'library/**/*.{mp3,flac}' -o stems/ --keep-tree --report run.json",
     "Separate a whole library, mirroring its folders; rerun to resume."),
    ("spl models download spleeter:4stems", "Install a model ahead of time."),
    ("spl cache prune --max-size 2GB --older-than 30d", "Trim the stem cache."),
)


def roff_escape(text: str) -> str:
    """Escape text for roff: backslashes, every hyphen as `\\-` (so options copy and search
    as ASCII minus, not a typographic hyphen), and a leading `.` or `'` that would read as a request."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join("\\&" + line if line[:1] in (".", "'") else line for line in text.split("\n"))


def _bold(text: str) -> str:
    return f"\\fB{roff_escape(text)}\\fR"


def _italic(text: str) -> str:
    return f"\\fI{roff_escape(text)}\\fR"


def _usage(cmd: CommandSpec) -> str:
    parts = [_bold(" ".join((PROG, *cmd.path)))]
    if cmd.options:
        parts.append("[" + _italic("options") + "]")
    if cmd.subcommands:
        parts.append(_italic("command") + " ...")
    for argument in cmd.arguments:
        shown = _italic(argument.metavar)
        parts.append(shown if argument.required else f"[{shown}]")
    return " ".join(parts)


def _option_item(option: OptionSpec) -> str:
    names = ", ".join(_bold(n) for n in option.names)
    if option.takes_value:
        names += " " + _italic(option.metavar)
    return f".TP\n{names}\n{roff_escape(option.help_record)}"


def man_page(command: Any = None) -> str:
    """The roff source of spl(1); deterministic (no date) so the committed file can be compared."""
    from .. import __version__

    tree = command_tree(command)
    out = [
        f'.\\" Man page for spl(1), {HEADER}.',
        f'.TH SPL 1 "" "spl {roff_escape(__version__)}" "User Commands"',
        ".nh",  # never hyphenate: a broken --filename-format would read as two options
        ".SH NAME",
        f"spl \\- {roff_escape(tree.help[:1].lower() + tree.help[1:])}",
        ".SH SYNOPSIS",
    ]
    leaves = [cmd for cmd in tree.walk() if not cmd.subcommands]
    out.append(".nf")
    out.append(_usage(tree))
    out += [_usage(cmd) for cmd in leaves]
    out.append(".fi")
    out += [
        ".SH DESCRIPTION",
        roff_escape(tree.help),
        ".PP",
        roff_escape("spl splits audio files into stems (vocals, drums, bass, piano, other or accompaniment) with the "
                    "official Deezer Spleeter models, producing the same output as spleeter, in bounded memory for any "
                    "file length. Models download themselves on first use; separated stems are cached by content."),
        ".SH OPTIONS",
    ]
    out += [_option_item(o) for o in tree.options]
    out.append(".SH COMMANDS")
    for cmd in tree.walk():
        if not cmd.path:
            continue
        out.append(f".SS {_usage(cmd)}")
        if cmd.help:
            out.append(roff_escape(cmd.help))
        if cmd.subcommands:
            out.append(".PP\nCommands: " + ", ".join(_bold(s.path[-1]) for s in cmd.subcommands) + ".")
        for argument in cmd.arguments:
            out.append(f".TP\n{_italic(argument.metavar)}\n{roff_escape(argument.help)}")
        out += [_option_item(o) for o in cmd.options]
    out.append(".SH ENVIRONMENT")
    out += [f".TP\n{_bold(name)}\n{roff_escape(text)}" for name, text in ENVIRONMENT]
    out.append(".SH EXIT STATUS")
    out += [f".TP\n{_bold(code)}\n{roff_escape(text)}" for code, text in EXIT_STATUS]
    out.append(".PP\n" + roff_escape("Every error is one line on standard error: spl: error: <file>: <cause> (<fix>)."))
    out.append(".SH FILES")
    out += [f".TP\n{_italic(path)}\n{roff_escape(text)}" for path, text in FILES]
    out.append(".SH EXAMPLES")
    for example, text in EXAMPLES:
        out.append(f".PP\n{roff_escape(text)}\n.PP\n.RS\n.nf\n{roff_escape(example)}\n.fi\n.RE")
    out.append(".SH SEE ALSO")
    out.append(roff_escape("spl COMMAND --help; the README of the project."))
    return "\n".join(out) + "\n"


# Files written by tools/generate_docs.py, relative to the repository root.
OUTPUTS: dict[str, Any] = {
    "completions/spl.bash": bash_completion,
    "completions/_spl": zsh_completion,
    "completions/spl.fish": fish_completion,
    "man/spl.1": man_page,
}


def generate_all(command: Any = None) -> dict[str, str]:
    """Every generated file's relative path and content, from one walk of the app."""
    command = root_command() if command is None else command
    return {path: generate(command) for path, generate in OUTPUTS.items()}
