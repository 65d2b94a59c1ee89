"""The `spl` command: subcommands are registered here, defined in their own modules.

Imports stay light: nothing here pulls in NumPy or TensorFlow, so `spl --help`
answers at once; each command imports the core when it runs.
"""

from __future__ import annotations

import sys

import typer
import typer.core

from .. import __version__
from . import batch, cache, config, info, models, separate, serve, stats

app = typer.Typer(
    name="spl",
    help="Split songs into stems with the official Spleeter models: fast, in bounded memory.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("separate", no_args_is_help=True)(separate.separate)
app.command("batch", no_args_is_help=True)(batch.batch)
app.command("info", no_args_is_help=True)(info.info)
app.command("stats")(stats.stats)
app.command("serve")(serve.serve)
app.add_typer(models.app, name="models")
app.add_typer(cache.app, name="cache")
app.add_typer(config.app, name="config")


def _version(value: bool) -> None:
    if value:
        print(f"spl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit.")) -> None:
    """Split songs into stems with the official Spleeter models: fast, in bounded memory."""


def main() -> None:
    # A file name that is not UTF-8 reaches Python as lone surrogates; written back as its own bytes it
    # names the same file for a script reading stdout, where a strict locale would stop the run instead.
    sys.stdout.reconfigure(errors="surrogateescape")  # type: ignore[union-attr]
    if not (sys.stdout.isatty() and sys.stderr.isatty()):
        typer.core.HAS_RICH = False  # logs and pipes get click's plain help and one-line usage errors, not boxes
    from .options import spell_flags

    spell_flags(sys.argv[1] if len(sys.argv) > 1 else "")
    app()
