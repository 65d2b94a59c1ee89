"""A finished job's stems as HTTP answers: one stem, or all of them in a zip, with ETag and ranges.

Files are served by Starlette's ``FileResponse`` (Content-Length, ``Range`` requests); the ETag is
the stem's sha256, so it names the content itself and a client can check what it received.
The zip is built once, on first request, beside the stems (written under a temporary name and
renamed, like every file spl writes), and goes with the job's other files.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import zipfile
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response

MEDIA_TYPES = {"wav": "audio/wav", "flac": "audio/flac", "mp3": "audio/mpeg", "ogg": "audio/ogg", "m4a": "audio/mp4"}
ZIP_NAME = "stems.zip"


def stem_response(request: Request, path: Path, codec: str, instrument: str, sha256: str) -> Response:
    return _file(request, path, MEDIA_TYPES.get(codec, "application/octet-stream"), f"{instrument}.{codec}", f'"{sha256}"')


def zip_response(request: Request, folder: Path, stems: dict[str, dict[str, Any]], download_name: str) -> Response:
    """All stems in one zip (stored, not deflated: audio barely shrinks), named by instrument."""
    path = folder / ZIP_NAME
    if not path.exists():
        temporary = folder / f".{ZIP_NAME}.part-{secrets.token_hex(4)}"  # two first requests at once each build their own
        with zipfile.ZipFile(temporary, "w", zipfile.ZIP_STORED) as archive:
            for stem in stems.values():
                archive.write(folder / stem["file"], stem["file"])
        os.replace(temporary, path)
    digest = hashlib.sha256("".join(stem["sha256"] for stem in stems.values()).encode()).hexdigest()
    return _file(request, path, "application/zip", download_name, f'"{digest}"')


def _file(request: Request, path: Path, media_type: str, download_name: str, etag: str) -> Response:
    if etag in (tag.strip() for tag in request.headers.get("if-none-match", "").split(",")):
        return Response(status_code=304, headers={"etag": etag})
    return FileResponse(path, media_type=media_type, filename=download_name, headers={"etag": etag})
