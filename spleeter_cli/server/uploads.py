"""A multipart upload, streamed to disk as it arrives: never whole in memory, never past the size limit.

Frameworks spool uploads to a temporary file of their own before the handler sees them, with no
limit on its size; here the body is parsed as it arrives (``python_multipart``), the ``file``
part goes straight to a file of the server's naming, and the other parts, small text fields,
are kept as strings. Past ``max_bytes`` nothing more is written; the rest of the body is read
and dropped (up to ``DRAIN_BYTES``) so the client gets the 413 instead of a reset connection.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from ..inputs import AUDIO_EXTENSIONS

FILE_FIELD = "file"
MAX_FIELD_BYTES = 1024  # an option's value; anything longer is not one
MAX_FIELDS = 64
DRAIN_BYTES = 64 * 2**20  # read and dropped past the limit, so the client sees the 413; beyond, the connection is cut
MAX_NAME_CHARACTERS = 200


class BadUpload(Exception):
    """The request is not a well-formed upload (400), or too large (413)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Upload:
    """The arrived upload: the file on disk, the client's name for it, and the form fields."""

    path: Path
    filename: str  # for messages and answers; shown, never used as a path
    suffix: str  # ".flac" when the name ends in a known audio extension, else ""
    size: int = 0
    fields: dict[str, str] = field(default_factory=dict)


def shown_name(raw: str) -> str:
    """The client's file name as answers show it: its last component, printable, bounded; "upload" when nothing is left."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")[:MAX_NAME_CHARACTERS].strip()
    return name if name not in ("", ".", "..") else "upload"


def audio_suffix(name: str) -> str:
    extension = os.path.splitext(name)[1].lower()
    return extension if extension[1:] in AUDIO_EXTENSIONS else ""


async def receive(content_type: str | None, declared: int | None, body: AsyncIterator[bytes], target: Path, max_bytes: int) -> Upload:
    """Parse the multipart ``body`` into ``target`` (with the upload's audio extension added) and the fields; raises BadUpload.

    The extension is kept because decoders and taggers sniff by it: the file must be read as
    `spl separate` would read the client's own file, or a corrupt file gets another message.
    """
    mime, parameters = parse_options_header(content_type)
    boundary = parameters.get(b"boundary")
    if mime != b"multipart/form-data" or not boundary:
        raise BadUpload(f"send the audio as multipart/form-data, in the field `{FILE_FIELD}`")
    if declared is not None and declared > max_bytes + DRAIN_BYTES:
        raise BadUpload(_too_large(max_bytes), 413)
    parts = _Parts(target, max_bytes)
    parser = MultipartParser(boundary, parts.callbacks())
    try:
        async for chunk in body:
            if parts.too_large:
                parts.drained += len(chunk)
                if parts.drained > DRAIN_BYTES:
                    break
                continue
            parser.write(chunk)
            if parts.problem:
                raise BadUpload(parts.problem)
        if parts.too_large:
            raise BadUpload(_too_large(max_bytes), 413)
        parser.finalize()
        if parts.problem:
            raise BadUpload(parts.problem)
        if parts.upload is None:
            raise BadUpload(f"no audio: send it in the multipart field `{FILE_FIELD}`, with a file name")
    except FormParserError as error:
        parts.discard()
        raise BadUpload(f"malformed multipart body: {error}") from None
    except BaseException:
        parts.discard()
        raise
    finally:
        parts.close()
    parts.upload.fields = parts.fields
    return parts.upload


def _too_large(max_bytes: int) -> str:
    return f"the upload is larger than this server's limit of {max_bytes / 2**20:g} MB"


class _Parts:
    """Callbacks of the multipart parser: where each part's bytes go."""

    def __init__(self, target: Path, max_bytes: int) -> None:
        self.target = target
        self.max_bytes = max_bytes
        self.upload: Upload | None = None
        self.fields: dict[str, str] = {}
        self.problem: str | None = None
        self.too_large = False
        self.drained = 0
        self._headers: dict[bytes, bytes] = {}
        self._name = b""
        self._value = b""
        self._text: bytearray | None = None  # the field being read
        self._field = ""
        self._file: IO[bytes] | None = None

    def callbacks(self) -> Any:
        return {
            "on_part_begin": self._begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
            "on_part_end": self._end,
        }

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def discard(self) -> None:
        self.close()
        if self.upload is not None:
            self.upload.path.unlink(missing_ok=True)

    def _begin(self) -> None:
        self._headers, self._name, self._value = {}, b"", b""

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._name += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._name.lower()] = self._value
        self._name, self._value = b"", b""

    def _headers_finished(self) -> None:
        disposition, parameters = parse_options_header(self._headers.get(b"content-disposition"))
        name = parameters.get(b"name", b"").decode("utf-8", "replace")
        if disposition != b"form-data" or not name:
            self.problem = "every multipart part needs Content-Disposition: form-data with a name"
        elif name == FILE_FIELD:
            if self.upload is not None:
                self.problem = f"one file per job: the field `{FILE_FIELD}` came twice"
                return
            raw = parameters.get(b"filename", b"").decode("utf-8", "replace")
            filename = shown_name(raw)
            suffix = audio_suffix(filename)
            self.upload = Upload(self.target.with_name(self.target.name + suffix), filename, suffix)
            self._file = open(self.upload.path, "wb")
        elif name in self.fields or len(self.fields) >= MAX_FIELDS:
            self.problem = f"the field `{name}` came twice" if name in self.fields else f"more than {MAX_FIELDS} fields"
        else:
            self.fields[name] = ""
            self._text = bytearray()
            self._field = name

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self.problem:
            return
        if self._file is not None and self.upload is not None:
            self.upload.size += end - start
            if self.upload.size > self.max_bytes:
                self.too_large = True
                self.discard()
                return
            self._file.write(data[start:end])
        elif self._text is not None:
            self._text += data[start:end]
            if len(self._text) > MAX_FIELD_BYTES:
                self.problem = f"the field `{self._field}` is longer than {MAX_FIELD_BYTES} bytes: not an option's value"

    def _end(self) -> None:
        if self._file is not None:
            self.close()
        elif self._text is not None:
            try:
                self.fields[self._field] = self._text.decode("utf-8")
            except UnicodeDecodeError:
                self.problem = f"the field `{self._field}` is not UTF-8 text"
            self._text = None
