"""What ``GET /v1/jobs/{id}`` answers: a job's state as JSON, from its row and, while it runs, its progress."""

from __future__ import annotations

import time
from typing import Any

from ..distributed.wire import decode_result
from .jobs import Job
from .runner import JobRunner

API = "/v1"


def job_url(job_id: str) -> str:
    return f"{API}/jobs/{job_id}"


def describe(job: Job, runner: JobRunner) -> dict[str, Any]:
    """``id``, ``status`` and timings always; queue position, stage and progress, result and stems, or error, by status."""
    view: dict[str, Any] = {
        "id": job.id,
        "url": job_url(job.id),
        "status": job.status,
        "filename": job.filename,
        "model": job.options["model"],
        "options": {name: value for name, value in job.options.items() if name not in ("filename_format", "existing")},
        "created_at": _iso(job.created),
        "started_at": _iso(job.started),
        "finished_at": _iso(job.finished),
    }
    if job.status == "queued":
        view["queue_position"] = runner.queue_position(job.id)
    elif job.status == "running":
        progress = runner.progress(job.id)
        stage, seconds, duration = (progress.stage, progress.seconds, progress.duration) if progress else ("writing", 0.0, None)
        view.update(
            stage=stage, seconds=round(seconds, 3), duration=duration, progress=round(min(1.0, seconds / duration), 4) if duration else 0.0
        )
    elif job.status == "done" and job.result is not None:
        view["result"] = job.result["file"]  # the FileResult as distributed.wire encodes it: `--server` clients rebuild it
        shown = decode_result(job.result["file"]).to_json()  # what `spl separate --json` would print
        view["stems"] = [
            {
                "instrument": name,
                "url": f"{job_url(job.id)}/stems/{name}",
                "size": stem["size"],
                "sha256": stem["sha256"],
                "peak_dbfs": shown["peak_dbfs"].get(name),
                "silent": name in shown["silent"],
            }
            for name, stem in job.result["stems"].items()
        ]
        view["zip_url"] = f"{job_url(job.id)}/stems.zip"
    elif job.status == "failed" and job.error is not None:
        view["error"] = job.error
    return view


def _iso(moment: float | None) -> str | None:
    if moment is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(moment)) + f".{int(moment % 1 * 1000):03d}Z"
