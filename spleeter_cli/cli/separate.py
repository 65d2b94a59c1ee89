"""`spl separate`: the options, and nothing but handing them to a run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import ValidationError
from ..separate import planning
from . import options as o
from .runs import choose_listener, execute, local_run, remote_run
from .ui import handles_errors


@handles_errors
@o.with_run_flags
def separate(
    files: Annotated[list[Path], typer.Argument(help="Audio files to separate.", show_default=False, metavar="FILE...", readable=False)],
    flags: o.RunFlags,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing output files.")] = False,
    force: o.MistakenForce = False,
) -> None:
    """Split songs into stems (vocals, drums, bass, piano, other or accompaniment)."""
    if force:
        raise ValidationError("spl separate has no --force", hint="--overwrite replaces existing stems; spl batch takes --force")
    settings = flags.settings()
    options = flags.options(settings, "overwrite" if overwrite else "refuse")
    listener = choose_listener(flags.json_output, flags.quiet, flags.verbose)
    run = remote_run(flags.server, options, settings, listener) if flags.server is not None else local_run(options, settings, listener)
    unique = list({planning.real(file): file for file in reversed(files)}.values())[::-1]  # a file named twice is separated once
    execute(run, unique, listener, settings)
