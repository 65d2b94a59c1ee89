"""What `spl separate` and `spl batch` share after parsing: run, summary, report, history, exit code."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer

from .. import __version__
from ..errors import ExitCode, Interrupted, OutputError, SplError, Unfinished, ValidationError, user_path
from .ui import JsonListener, PlainListener, RichListener


def choose_listener(json_output: bool, quiet: bool, verbose: bool, live: bool = False) -> PlainListener:
    """JSON for scripts, Rich on a terminal, plain lines otherwise (CI logs, pipes)."""
    if quiet and verbose:
        raise ValidationError("--quiet and --verbose cannot be combined")
    if json_output:
        return JsonListener()
    if sys.stdout.isatty() and not quiet:
        if live:
            from .live import LiveListener

            return LiveListener(verbose=verbose)
        return RichListener(verbose=verbose)
    return PlainListener(verbose=verbose, quiet=quiet)


def local_run(options: Any, settings: Any, listener: PlainListener, jobs: int = 1, fail_fast: bool = False) -> Any:
    """A run in this process as the settings describe it: models, cache, limits, backend."""
    from ..cache.manager import CacheManager
    from ..limits import InputLimits
    from ..separate.run import SeparationRun
    from .options import model_store

    for note in settings.notes:  # a key set in the config that changes nothing here says so, once per run
        listener.warning(note)
    return SeparationRun(
        options,
        settings.audio.output_dir,
        model_store(settings),
        listener,
        cache=CacheManager.for_run(settings, listener.warning),
        limits=InputLimits.from_settings(settings),
        settings=settings,  # the model pool's backend, threads, batch size and GPU memory growth
        jobs=jobs,
        fail_fast=fail_fast,
    )


def remote_run(server: str, options: Any, settings: Any, listener: PlainListener, jobs: int = 1, fail_fast: bool = False) -> Any:
    """`--server URL`: a run that separates on a `spl serve` and writes the stems here, as a local run would."""
    from ..config import server_token
    from ..server.client import RemoteRun

    return RemoteRun.for_cli(server, server_token(settings), options, settings, listener, jobs, fail_fast)


def execute(
    run: Any,
    inputs: Sequence[Path],
    listener: PlainListener,
    settings: Any,
    destinations: Sequence[Path] | None = None,
    input_errors: Sequence[SplError] = (),
    report: Path | None = None,
    uniform_exit: bool = True,
) -> None:
    """Run, print the summary, write the report, record the history, and exit with the documented code.

    With ``uniform_exit`` (spl separate) failures that share a cause exit with its code;
    otherwise (spl batch) any failed input exits 1. ``settings`` (the effective
    configuration) give the alert thresholds, the Prometheus port (a taken port fails
    here, before any input is touched) and whether the run is recorded in the history.
    A report that cannot be written exits 5 (output error) even when every input succeeded.
    """
    from ..separate.tally import Tally
    from ..separate.vocabulary import FileResult
    from ..telemetry.metrics import start_monitoring

    if report is not None:
        check_report_path(report)
    monitor = start_monitoring(listener, settings)
    run.listener = monitor  # the pipeline's events pass through the monitor on their way to the view
    try:
        started = time.time()
        clock = time.perf_counter()
        early = [FileResult(Path(str(e.context.get("path", "?"))), run.spec.full_name, status="failed", error=e) for e in input_errors]
        monitor.begin(len(inputs) + len(early))
        with monitor:
            for result in early:
                monitor.file_finished(result)
            try:
                results = early + run.run(inputs, destinations)
            except (KeyboardInterrupt, BrokenPipeError) as interrupt:  # Ctrl-C, SIGTERM, SIGHUP, `| head`: still say what was done
                partial = _with_unfinished(monitor.tally.results, inputs, run, interrupt)
                summary = {**Tally.of(partial).summary(time.perf_counter() - clock), "interrupted": True}
                if report is not None:
                    write_report(report, partial, summary, run, started)
                if settings.monitoring.history:  # so `spl stats` counts the run, and its inputs' outcomes
                    record_history(
                        settings, run, partial, summary, _command(uniform_exit), started, int(_interrupt_code(interrupt)), listener
                    )
                raise
        summary = monitor.tally.summary(time.perf_counter() - clock)
        summary["model_loaded"] = run.model_loaded
        summary["alerts"] = monitor.alerts
        if settings.monitoring.enabled:
            from ..telemetry.metrics import resource_usage

            summary["resources"] = resource_usage(summary["wall_time"])
        listener.summary(summary)
        codes = {int(r.error.exit_code) for r in results if r.error is not None}
        exit_code = (codes.pop() if uniform_exit and len(codes) == 1 else int(ExitCode.FAILED)) if codes else 0
        if report is not None and not write_report(report, results, summary, run, started):
            exit_code = exit_code or int(ExitCode.OUTPUT)
        if settings.monitoring.history:
            record_history(settings, run, results, summary, _command(uniform_exit), started, exit_code, listener)
    finally:
        monitor.close()
    if exit_code:
        raise typer.Exit(exit_code)


def _with_unfinished(finished: Sequence[Any], inputs: Sequence[Path], run: Any, interrupt: BaseException) -> list[Any]:
    """The finished results, then a failed one for every input the interruption left unfinished."""
    from ..separate.vocabulary import FileResult

    code = _interrupt_code(interrupt)
    finished = [r for r in finished if not isinstance(r.error, Unfinished)]  # stopped by this interruption: its code, not 1
    done = {Path(r.input) for r in finished}
    unfinished = [
        FileResult(path, run.spec.full_name, status="failed", error=Interrupted(code, path)) for path in inputs if path not in done
    ]
    return [*finished, *unfinished]


def _interrupt_code(interrupt: BaseException) -> ExitCode:
    from .stopping import Stopped

    if isinstance(interrupt, BrokenPipeError):
        return ExitCode.BROKEN_PIPE
    return interrupt.exit_code if isinstance(interrupt, Stopped) else ExitCode.INTERRUPTED


def _command(uniform_exit: bool) -> str:
    return "separate" if uniform_exit else "batch"


def record_history(
    settings: Any,
    run: Any,
    results: Sequence[Any],
    summary: dict[str, Any],
    command: str,
    started: float,
    exit_code: int,
    listener: PlainListener,
) -> None:
    """Append the run to the history `spl stats` reads: in the ``cache.dir`` folder, cached run or not; a failure only warns."""
    from ..telemetry import history

    path = history.history_path(settings.cache.dir)
    try:
        history.record_run(
            path, results, summary, command=command, model=run.spec.full_name, jobs=run.jobs, started_at=started, exit_code=exit_code
        )
    except history.HistoryError as error:
        listener.warning(f"cannot record this run: {error} (SPL_HISTORY=off turns recording off)")


def check_report_path(path: Path) -> None:
    """Refuse a report that could not be written before any input is separated, not after.

    The report replaces a regular file only: a device, pipe or folder of that name is
    refused rather than swapped for a file (a symlink is followed to its target).
    """
    if str(path) == "-":
        raise OutputError(
            "--report - is not supported: standard output carries the progress", hint="name a file, e.g. --report report.json"
        )
    path = Path(os.path.realpath(path))  # Path.resolve() raises RuntimeError on a link loop; stat() below names it
    with user_path(OutputError, path, "cannot write report", "choose a writable --report path"):
        problem = _report_problem(path)
    if problem:
        raise OutputError(f"cannot write report {path}: {problem}", hint="choose a writable --report path")


def _report_problem(path: Path) -> str | None:
    """Why the report cannot go to ``path``, or None; an OSError is for the caller to word."""
    folder = path.parent
    while not os.path.lexists(folder) and folder != folder.parent:
        folder = folder.parent
    if path.is_dir():
        return "it is a folder"
    if os.path.lexists(path) and not path.is_file():
        return "it is not a regular file"
    if not _replaceable(path):
        return "it exists and is not a JSON report (an audio file or a stem?)"
    if not folder.is_dir():
        return f"{folder} is not a folder"
    return _unwritable(folder)


def _replaceable(path: Path) -> bool:
    """A file the report may replace: none yet, empty, or JSON (an earlier report). `--report *.wav` must not eat a song."""
    try:
        with path.open("rb") as file:
            start = file.read(64).lstrip()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return not start or start.startswith(b"{")


def _unwritable(folder: Path) -> str | None:
    """Why a file cannot be created in ``folder``, or None."""
    from ..separate.staging import try_create_file

    try:
        try_create_file(folder)
    except OSError as error:
        return f"cannot create files in {folder} ({error.strerror or error})"
    return None


def write_report(path: Path, results: Sequence[Any], summary: dict[str, Any], run: Any, started: float) -> bool:
    """The machine-readable record of the run, written atomically; False (after saying why) if it cannot be."""
    document = {
        "spl_version": __version__,
        "model": run.spec.full_name,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "jobs": run.jobs,
        "summary": summary,
        "inputs": [r.to_json() for r in results],
    }
    from ..separate.staging import unfinished

    path = Path(os.path.realpath(path))  # through a symlink to its target, which the link keeps pointing at
    temporary = path.with_name(f".{path.name}.part-{os.getpid()}")
    if not _replaceable(path):  # the run itself wrote a stem there
        print(f"spl: error: cannot write report {path}: it exists and is not a JSON report (choose another --report path)", file=sys.stderr)
        return False
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with unfinished([temporary]):
            temporary.write_text(json.dumps(document, indent=2))
            os.replace(temporary, path)
    except OSError as error:
        print(f"spl: error: cannot write report {path}: {error.strerror or error} (choose a writable --report path)", file=sys.stderr)
        return False
    return True
