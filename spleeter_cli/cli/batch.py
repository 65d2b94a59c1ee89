"""`spl batch`: many inputs (files, folders, globs, @lists, stdin) through one engine, resumable."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import ValidationError
from ..separate import planning
from . import options as o
from .runs import choose_listener, execute, local_run, remote_run
from .ui import handles_errors

if TYPE_CHECKING:
    from ..inputs import InputFile


def default_jobs() -> int:
    """Files in flight at once: one per core, at least two so decoding overlaps the model."""
    return max(2, os.cpu_count() or 1)


@handles_errors
@o.with_run_flags
def batch(
    patterns: Annotated[
        list[str],
        typer.Argument(
            help="Files, folders, quoted globs ('lib/**/*.{mp3,flac}'), @list.txt, or - for paths on stdin.",
            show_default=False,
            metavar="PATTERN_OR_PATH...",
        ),
    ],
    flags: o.RunFlags,
    keep_tree: Annotated[bool, typer.Option("--keep-tree", help="Mirror the input folders' structure under the output directory.")] = False,
    jobs: Annotated[
        int | None, typer.Option("-j", "--jobs", help="Files processed at once (default: one per core, at least 2).", show_default=False)
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Redo inputs whose stems already exist, and replace files spl did not write there.")
    ] = False,
    overwrite: o.MistakenOverwrite = False,
    fail_fast: Annotated[bool, typer.Option("--fail-fast", help="Stop at the first failed input.")] = False,
    cache_dir: o.CacheDir = None,
    redis_url: o.RedisUrl = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="Run on Dask: local:N starts N worker processes here (at most 4 per core), tcp://HOST:8786 uses a running scheduler (inputs and -o must be paths every worker sees).",
            show_default=False,
        ),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Write a JSON report of every input to this file.", show_default=False, readable=False),
    ] = None,
) -> None:
    """Separate whole folders; rerunning the same command resumes where it stopped."""
    from ..inputs import expand_inputs

    if overwrite:
        raise ValidationError(
            "spl batch has no --overwrite", hint="--force redoes inputs and replaces existing files; spl separate takes --overwrite"
        )
    settings = flags.settings(jobs=jobs, cache_dir=cache_dir, redis_url=redis_url)
    options = flags.options(settings, "overwrite" if force else "skip")
    inputs, input_errors = expand_inputs(patterns, stdin=sys.stdin if "-" in patterns else None)
    if not inputs:
        if input_errors:  # the first error already carries its own fix
            raise ValidationError(f"no audio files to separate: {input_errors[0]}")
        raise ValidationError("no audio files to separate", hint="check the paths and quote glob patterns")
    listener = choose_listener(flags.json_output, flags.quiet, flags.verbose, live=True)
    if scheduler is not None and flags.server is not None:
        raise ValidationError("--scheduler and --server cannot be combined", hint="a server separates on its own machine; pick one")
    if flags.server is not None:  # the server opens the cache and the models; --jobs is the uploads in flight
        run = remote_run(flags.server, options, settings, listener, settings.performance.jobs or default_jobs(), fail_fast)
    elif scheduler is not None:  # the workers open the cache and the models; --jobs is the cluster's threads
        from ..distributed.run import DistributedRun

        run = DistributedRun.for_cli(scheduler, options, settings, listener, fail_fast)
    else:
        run = local_run(options, settings, listener, jobs=settings.performance.jobs or default_jobs(), fail_fast=fail_fast)
    output_dir = settings.audio.output_dir
    sources = [item.path for item in inputs]
    destinations = [output_dir / _inside(item.relative_parent) for item in inputs] if keep_tree else [output_dir] * len(inputs)
    stems = planning.written_by_run(sources, destinations, options.filename_format, run.spec.instruments, options.codec)
    stems |= {index for index, item in enumerate(inputs) if _in_output_folder(item, output_dir)}
    if stems:  # -o inside an input folder: earlier runs' stems are not new inputs
        why = f"{len(stems)} input(s) inside the output folder or written by this run as stems, e.g. {sources[min(stems)]}"
        if len(stems) == len(sources):
            raise ValidationError(
                f"no audio files to separate: left out all {why}",
                hint="choose an -o outside the input folders, or another --filename-format",
            )
        listener.warning(f"left out {why}")
        sources, destinations = ([item for index, item in enumerate(items) if index not in stems] for items in (sources, destinations))
    execute(run, sources, listener, settings, destinations, input_errors, report, uniform_exit=False)


def _in_output_folder(item: InputFile, output_dir: Path) -> bool:
    """Found by walking a folder that holds -o (not -o itself), and inside -o: a stem of an earlier run, whatever its codec."""
    if item.root is None:
        return False
    out, root = planning.real(output_dir), planning.real(item.root)
    return out != root and out.is_relative_to(root) and planning.real(item.path).is_relative_to(out)


def _inside(relative: Path) -> Path:
    """A mirrored folder never climbs out of the output directory (patterns may contain '..')."""
    return Path(".") if ".." in relative.parts or relative.is_absolute() else relative
