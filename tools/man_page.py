"""The roff source of spl(1), written from the command tree.

Why not click-man: version 0.6.0 looks for `click.Option` instances, and Typer (0.29 here)
builds its commands on its own copy of Click, so every page it wrote for `spl` listed no
options at all; it also documents no arguments, has no ENVIRONMENT or EXIT STATUS section,
dates each page (the committed file could not be compared) and truncates the NAME line.
The exit statuses come from `spleeter_cli.errors.ExitCode`, the single source the README's
table is generated from too.
"""

from __future__ import annotations

from typing import Any

from command_tree import HEADER, PROG, CommandSpec, OptionSpec, command_tree

from spleeter_cli import __version__
from spleeter_cli.errors import ExitCode

# --------------------------------------------------------------------------- man page

ENVIRONMENT: tuple[tuple[str, str], ...] = (
    ("SPLEETER_MODELS_DIR", "Where models are installed. Default: ~/.cache/spl/models."),
    ("SPLEETER_AUTO_DOWNLOAD", "Set to false to never download models; a missing model is then an error. Default: true."),
    ("SPLEETER_CACHE_DIR", "Folder of the disk cache of separated stems. Default: ~/.cache/spl/cache."),
    (
        "SPLEETER_REDIS_URL",
        "Shared Redis cache, e.g. redis://:password@host:6379/0 (passwords are never printed). Same as --redis-url. Default: unset.",
    ),
    ("SPLEETER_GITHUB_HOST", "Host of a mirror of the official model release. Default: https://github.com."),
    ("SPLEETER_GITHUB_REPOSITORY", "Repository of the model release. Default: deezer/spleeter."),
    ("SPLEETER_GITHUB_RELEASE", "Release tag of the model archives. Default: v1.4.0."),
    ("SPLEETER_ENABLE_GPU", "false keeps the model on the CPU even when TensorFlow sees a GPU. Default: true."),
    ("SPLEETER_GPU_MEMORY_GROWTH", "true lets TensorFlow take GPU memory as it needs it instead of nearly all at start. Default: false."),
    ("SPLEETER_BATCH_SIZE", "512-frame segments per model call, across the files in flight. Default: 4."),
    ("SPLEETER_WORKER_THREADS", "Inference threads of the model. Default: one per core."),
    ("SPLEETER_MEMORY_LIMIT_MB", "An input does not start while spl's resident memory is above this many MB (exit 3). Default: unset."),
    ("SPLEETER_SAMPLE_RATE", "Sample rate of the written stems, resampled from the model's 44100. Default: 44100."),
    ("SPLEETER_SUPPORTED_FORMATS", "Comma-separated input file extensions accepted; others are refused (exit 3). Default: unset (all)."),
    ("SPLEETER_ENABLE_PREPROCESSING", "false forbids --normalize, --highpass and --denoise. Default: true."),
    ("SPLEETER_NORMALIZE_LOUDNESS", "true brings inputs to -14 LUFS unless --normalize gives another target. Default: false."),
    ("SPLEETER_ENABLE_MONITORING", "true adds the run's peak RSS, CPU time and GPU memory to the summary and the report. Default: false."),
    ("SPL_HISTORY", "off stops recording run history (history.db in the cache folder). Default: on."),
    ("SPLEETER_METRICS_PORT", "Serve Prometheus metrics on 127.0.0.1 at this port during a run, like --metrics-port. Default: unset."),
    ("SPLEETER_METRICS_LINGER", "Seconds the metrics endpoint stays up after the run. Default: 0."),
    ("SPLEETER_HEALTH_CHECK_INTERVAL", "Also check the alert thresholds this often during a run, in seconds. Default: unset."),
    ("SPLEETER_ALERT_MEMORY_MB", "Warn once when the process RSS exceeds this many MB (below 1: this share of memory). Default: unset."),
    ("SPLEETER_ALERT_ERROR_RATE", "Warn once when failed / finished inputs exceeds this (0..1, from 5 inputs). Default: unset."),
    ("SPLEETER_ALERT_GPU_MEMORY_MB", "Warn once when GPU memory use exceeds this many MB (needs pynvml). Default: unset."),
    ("SPLEETER_MAX_FILE_MB", "Refuse inputs larger than this many MB (exit 3). Default: unset."),
    ("SPLEETER_MAX_DURATION", "Refuse inputs whose separated length exceeds this many seconds (exit 3). Default: unset."),
    (
        "SPLEETER_ALLOWED_ROOTS",
        "Colon-separated folders; inputs (after following symlinks) outside them are refused (exit 3). Default: unset.",
    ),
    ("SPL_DEBUG", "1 shows the traceback of an internal error. Default: unset."),
)

FILES: tuple[tuple[str, str], ...] = (
    ("~/.cache/spl/models", "Installed models, one folder each (see SPLEETER_MODELS_DIR)."),
    ("~/.cache/spl/cache", "Disk tier of the stem cache (see SPLEETER_CACHE_DIR)."),
)

EXAMPLES: tuple[tuple[str, str], ...] = (
    ("spl separate song.mp3", "Write separated/song/vocals.wav and accompaniment.wav."),
    ("spl separate a.flac b.m4a -s 5 --hq -o stems/", "Five stems with the 16 kHz-band model."),
    ("spl separate live.wav --offset 60 --duration 30 -c mp3 --bitrate 320k", "Separate one minute in, for 30 seconds, to MP3."),
    (
        "spl batch 'library/**/*.{mp3,flac}' -o stems/ --keep-tree --report run.json",
        "Separate a whole library, mirroring its folders; rerun to resume.",
    ),
    ("spl models download spleeter:4stems", "Install a model ahead of time."),
    ("spl cache prune --max-size 2GB --older-than 30d", "Trim the stem cache."),
)


def roff_escape(text: str) -> str:
    """Escape text for roff: backslashes, every hyphen as `\\-` (so options copy and search
    as ASCII minus, not a typographic hyphen), and a leading `.` or `'` that would read as a request."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join("\\&" + line if line[:1] in (".", "'") else line for line in text.split("\n"))


def _sentence(markdown: str) -> str:
    """A README table cell as a man page sentence: no code marks, a capital (not on a command) and a full stop."""
    text = markdown if markdown.startswith("`") else markdown[:1].upper() + markdown[1:]
    return text.replace("`", "") + "."


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
        roff_escape(
            "spl splits audio files into stems (vocals, drums, bass, piano, other or accompaniment) with the "
            "official Deezer Spleeter models, producing the same output as spleeter, in bounded memory for any "
            "file length. Models download themselves on first use; separated stems are cached by content."
        ),
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
    out += [f".TP\n{_bold(str(code.value))}\n{roff_escape(_sentence(code.meaning))}" for code in ExitCode]
    out.append(
        ".PP\n"
        + roff_escape(
            "A second signal ends a stopping run at once, still removing its unfinished outputs. "
            "Every error is one line on standard error: spl: error: <file>: <cause> (<fix>)."
        )
    )
    out.append(".SH FILES")
    out += [f".TP\n{_italic(path)}\n{roff_escape(text)}" for path, text in FILES]
    out.append(".SH EXAMPLES")
    for example, text in EXAMPLES:
        out.append(f".PP\n{roff_escape(text)}\n.PP\n.RS\n.nf\n{roff_escape(example)}\n.fi\n.RE")
    out.append(".SH SEE ALSO")
    out.append(roff_escape("spl COMMAND --help; the README of the project."))
    return "\n".join(out) + "\n"
