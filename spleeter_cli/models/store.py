"""The local model store: install, find, verify and remove checkpoints.

Layout: ``<models_dir>/<name>/`` holds the checkpoint files and ``manifest.json``
(source, version, per-file sha256 and size). A model is installed exactly when its
manifest exists and the files have their recorded sizes; a folder that is there but
fails that check is damaged. Installs are built in a ``.tmp-<name>.*`` folder and
renamed into place under a per-model file lock, so a crash never leaves a folder that
looks installed and concurrent processes download once.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import filelock

from ..config import Settings, default_models_dir, load_config
from ..errors import ModelError, ValidationError
from .backend import openvino_version
from .catalog import CATALOG, ModelSpec, get_spec
from .ir import IR_FILES, IR_XML
from .ir import RECIPE as IR_RECIPE
from .sources import (
    CHECKPOINT_FILES,
    Source,
    SourceRecord,
    SourceUnavailable,
    default_sources,
    extract_release_archive,
    require_checkpoint_files,
    sha256_file,
)

MANIFEST = "manifest.json"
Status = Callable[[str], None]
State = Literal["installed", "damaged", "missing"]


def _quiet(_: str) -> None:
    """Default status callback: callers that do not draw progress ignore it."""


class ModelManager:
    """Installs the official checkpoints under ``models_dir`` and answers where they are.

    What is left as None comes from ``config.load_config()`` (file and environment), as for
    `spl`; ``from_settings`` takes it all from settings already loaded.
    """

    def __init__(self, models_dir: Path | None = None, sources: Sequence[Source] | None = None, auto_download: bool | None = None) -> None:
        if models_dir is None or sources is None or auto_download is None:
            settings = load_config()
            models_dir = models_dir if models_dir is not None else settings.models.dir or default_models_dir()
            sources = sources if sources is not None else default_sources(settings)
            auto_download = settings.models.auto_download if auto_download is None else auto_download
        self.models_dir = Path(models_dir)
        self.sources = list(sources)
        self.auto_download = auto_download

    @classmethod
    def from_settings(cls, settings: Settings) -> ModelManager:
        models = settings.models
        return cls(models.dir or default_models_dir(), default_sources(settings), models.auto_download)

    # Cheap queries: no hashing, no TensorFlow.

    def path(self, name: str) -> Path:
        return self.models_dir / get_spec(name).name

    def manifest(self, name: str) -> dict[str, Any] | None:
        """The installed model's manifest, or None when absent or unreadable (not installed)."""
        try:
            data = json.loads((self.path(name) / MANIFEST).read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and isinstance(data.get("files"), dict) else None

    def weights_digest(self, name: str) -> str:
        """A checksum of the installed weights (from the manifest: no hashing, no TensorFlow)."""
        manifest = self.manifest(name)
        if manifest is None:
            raise ModelError(f"model {name} is not installed", hint=f"run `spl models download {name}`")
        return hashlib.sha256(json.dumps(manifest["files"], sort_keys=True).encode()).hexdigest()

    def is_installed(self, name: str) -> bool:
        manifest = self.manifest(name)
        if manifest is None:
            return False
        directory = self.path(name)
        try:
            return all((directory / file).stat().st_size == entry["size"] for file, entry in manifest["files"].items())
        except (OSError, KeyError, TypeError):
            return False

    def state(self, name: str) -> State:
        """Installed, damaged (its folder is there but fails the cheap check) or missing.

        Telling damaged from missing matters: the fix differs (``--force``), and a damaged
        folder is still something `spl models verify` and `remove` must see.
        """
        if self.is_installed(name):
            return "installed"
        return "damaged" if os.path.isdir(self.path(name)) else "missing"  # False, not an error, for a models dir that cannot be read

    def list_local_models(self) -> list[str]:
        return [spec.name for spec in CATALOG.values() if self.is_installed(spec.name)]

    def present_models(self) -> list[str]:
        """Every model with a folder in the store, installed or damaged: what verify must check."""
        return [spec.name for spec in CATALOG.values() if os.path.isdir(self.path(spec.name))]

    # Installing.

    def ensure(self, name: str, on_status: Status | None = None) -> Path:
        """The installed model's folder, downloading it first when allowed."""
        spec = get_spec(name)
        state = self.state(spec.name)
        if state == "installed":
            return self.path(spec.name)
        if not self.auto_download:
            if state == "damaged":
                raise _damaged(spec, "its files do not match its manifest", self.path(spec.name))
            raise ModelError(
                f"model {spec.full_name} is not installed in {self.models_dir}",
                hint=f"run `spl models download {spec.name}` or set SPLEETER_AUTO_DOWNLOAD=true",
                model=spec.full_name,
            )
        return self.install(spec.name, on_status=on_status)

    def install(self, name: str, force: bool = False, on_status: Status | None = None) -> Path:
        """Download and install ``name`` (again with ``force``); returns its folder. Blocks: the CLI's path."""
        spec = get_spec(name)
        status = on_status or _quiet
        return self._install(spec, lambda dest: self._fetch(spec, dest, status), force=force, on_status=status)

    async def download_model(self, model_name: str, force: bool = False, on_status: Status | None = None) -> Path:
        """``install`` on a worker thread, so an event loop keeps running while the archive downloads."""
        return await asyncio.to_thread(self.install, model_name, force, on_status)

    def import_model(self, source: Path, name: str | None = None) -> Path:
        """Install from an official ``<name>.tar.gz`` or a folder of checkpoint files, offline.

        Replaces an installed copy. The variable layout is checked first because, unlike a
        release asset, nothing else vouches for what the files are. Errors name ``source``,
        never the temporary folder the files are checked in.
        """
        source = Path(source).expanduser()
        _check_importable(source)
        spec = get_spec(name) if name else _infer_spec(source)

        def copy(dest: Path) -> SourceRecord:
            try:
                if source.is_dir():
                    _copy_folder(source, dest)
                    record = SourceRecord("import", str(source.resolve()), None)
                else:
                    extract_release_archive(source, dest)
                    record = SourceRecord("import", str(source.resolve()), sha256_file(source))
            except SourceUnavailable as error:
                raise ModelError(f"cannot import: {error.reason}", hint=IMPORT_HINT, path=source) from error
            except OSError as error:
                raise ModelError(f"cannot import: {error.strerror or error}", path=source) from error
            from .checkpoint import check_layout

            check_layout(spec, dest, shown_as=source)
            return record

        return self._install(spec, copy, force=True, on_status=_quiet)

    # The OpenVINO IR: derived from the checkpoint, so it can always be rebuilt from it.

    def ir_problem(self, name: str) -> str | None:
        """Why the installed model's IR cannot be used as it is, or None.

        Cheap enough for every run: versions, sizes, and the hash of the small graph file (a damaged
        graph would send OpenVINO through every frontend it has, each printing its own complaint).
        The 80-190 MB of weights are re-hashed only by ``verify``, as the checkpoint's are.
        """
        section = (self.manifest(name) or {}).get("openvino")
        if not isinstance(section, dict) or not isinstance(section.get("files"), dict):
            return "it was never built"
        if section.get("version") != openvino_version():
            return f"it was built by OpenVINO {section.get('version')}, this is {openvino_version()}"
        if section.get("recipe") != IR_RECIPE:
            return "it was built by an older spl"
        directory = self.path(name)
        try:
            sizes_match = all((directory / file).stat().st_size == entry["size"] for file, entry in section["files"].items())
        except (OSError, KeyError, TypeError):
            sizes_match = False
        if not sizes_match or set(section["files"]) != set(IR_FILES) or not _matches(directory / IR_XML, section["files"][IR_XML]):
            return "its files are missing or damaged"
        return None

    def ensure_ir(self, name: str, on_status: Status | None = None, *, verify: bool = False, damaged: str | None = None) -> Path:
        """The model's folder with a usable IR, rebuilding it (with one status line saying why) when needed.

        ``verify`` re-hashes the IR files instead of comparing sizes; ``damaged`` says the caller
        found the IR unusable although it looked fine (OpenVINO could not read it).
        """
        spec = get_spec(name)
        problem = damaged or self.ir_problem(spec.name) or (self._ir_hash_problem(spec.name) if verify else None)
        if problem is None:
            return self.path(spec.name)
        installed = self.path(spec.name)
        manifest = self.manifest(spec.name) or {}

        def relink(dest: Path) -> SourceRecord:
            (on_status or _quiet)(f"rebuilding the OpenVINO model of {spec.full_name}: {problem}")  # said only by the process that builds
            for file in manifest.get("files", {}):
                _link_or_copy(installed / file, dest / file)
            return SourceRecord(manifest.get("source", "unknown"), manifest.get("version", "unknown"), manifest.get("archive_sha256"))

        def still_broken() -> bool:  # another process may have rebuilt it while we waited for the lock
            return (
                damaged is not None or self.ir_problem(spec.name) is not None or (verify and self._ir_hash_problem(spec.name) is not None)
            )

        return self._install(spec, relink, force=False, on_status=_quiet, needed=still_broken)

    def _ir_hash_problem(self, name: str) -> str | None:
        section = (self.manifest(name) or {}).get("openvino") or {}
        changed = [file for file, entry in section.get("files", {}).items() if not _matches(self.path(name) / file, entry)]
        return f"{', '.join(changed)} changed since it was built" if changed else None

    def _install(
        self,
        spec: ModelSpec,
        fetch: Callable[[Path], SourceRecord],
        *,
        force: bool,
        on_status: Status,
        needed: Callable[[], bool] | None = None,
    ) -> Path:
        """Fetch into a private folder, build the IR, write the manifest, rename into place: all under the model's lock.

        ``needed`` decides, once the lock is held, whether there is still work to do (default: the model is not installed).
        """
        final = self.models_dir / spec.name
        try:
            self.models_dir.mkdir(parents=True, exist_ok=True)
            with self._locked(spec, on_status):
                if not force and not (needed or (lambda: not self.is_installed(spec.name)))():
                    return final  # another process finished it while we waited
                self._clean_stale(spec)
                work = _work_folder(self.models_dir, spec)
                try:
                    record = fetch(work)
                    if openvino_version() is not None:
                        on_status(f"building the OpenVINO model of {spec.full_name}")
                        from .ir import build_ir

                        build_ir(spec, work)
                    _write_manifest(spec, work, record)
                    if final.exists():
                        aside = Path(tempfile.mkdtemp(prefix=_temp_prefix(spec), dir=self.models_dir))
                        os.replace(final, aside / spec.name)
                    os.replace(work, final)
                finally:
                    self._clean_stale(spec)
        except OSError as error:
            raise ModelError(
                f"cannot install {spec.full_name} in {self.models_dir}: {error.strerror or error}",
                hint="set SPLEETER_MODELS_DIR to a writable folder with enough free space",
            ) from error
        on_status(f"{spec.full_name} installed in {final}")
        return final

    def _fetch(self, spec: ModelSpec, dest: Path, on_status: Status) -> SourceRecord:
        """Try each source in turn; a failing one falls through at once to the next."""
        failures: list[str] = []
        for source in self.sources:
            on_status(f"downloading {spec.full_name} from {source.name}")
            try:
                record = source.fetch(spec, dest)
                require_checkpoint_files(dest)
                return record
            except SourceUnavailable as error:
                failures.append(f"{source.name}: {error.reason}")
                on_status(f"{source.name} failed: {error.reason}")
                shutil.rmtree(dest)
                dest.mkdir()
        raise ModelError(
            f"cannot download {spec.full_name}; tried " + "; ".join(failures or ["no sources configured"]),
            hint=(
                f"on a connected machine, download {spec.archive_name}.tar.gz from the v1.4.0 release of "
                f"github.com/deezer/spleeter, copy it here and run `spl models import {spec.archive_name}.tar.gz`; "
                "a folder with its checkpoint files works too"
            ),
        )

    @contextmanager
    def _locked(self, spec: ModelSpec, on_status: Status) -> Iterator[None]:
        lock = filelock.FileLock(str(self.models_dir / f".{spec.name}.lock"))
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            on_status(f"waiting for another process installing {spec.full_name}")
            lock.acquire()
        try:
            yield
        finally:
            lock.release()

    def _clean_stale(self, spec: ModelSpec) -> None:
        """Remove this model's temporary folders; only safe while holding its lock."""
        for leftover in self.models_dir.glob(_temp_prefix(spec) + "*"):
            shutil.rmtree(leftover, ignore_errors=True)

    # Checking and removing.

    def validate_model(self, name: str, on_status: Status | None = None) -> None:
        """Re-hash every file against the manifest, then check the variable layout; a bad IR is rebuilt."""
        spec = get_spec(name)
        directory = self.path(name)
        manifest = self.manifest(name)
        if manifest is None and directory.is_dir():
            raise _damaged(spec, f"{MANIFEST} is missing or unreadable", directory)
        if manifest is None:
            raise ModelError(
                f"model {spec.full_name} is not installed",
                hint=f"run `spl models download {spec.name}`",
                path=directory,
                model=spec.full_name,
            )
        damaged = [file for file, entry in manifest["files"].items() if not _matches(directory / file, entry)]
        if damaged:
            raise _damaged(spec, f"{', '.join(damaged)} changed since install", directory)
        from .checkpoint import check_layout

        check_layout(spec, directory)
        if openvino_version() is not None:
            self.ensure_ir(spec.name, on_status, verify=True)

    def remove(self, name: str) -> bool:
        spec = get_spec(name)
        final = self.models_dir / spec.name
        if not self.models_dir.is_dir():
            return False
        with self._locked(spec, _quiet):
            if not final.exists():
                return False
            aside = Path(tempfile.mkdtemp(prefix=_temp_prefix(spec), dir=self.models_dir))
            os.replace(final, aside / spec.name)  # vanish at once; deleting 100+ MB is not atomic
            self._clean_stale(spec)
        return True


IMPORT_HINT = "give an official <model>.tar.gz from the Spleeter v1.4.0 release, or a folder with its checkpoint files"


def _damaged(spec: ModelSpec, cause: str, directory: Path) -> ModelError:
    return ModelError(
        f"{spec.full_name} is damaged: {cause}", hint=f"run `spl models download {spec.name} --force`", path=directory, model=spec.full_name
    )


def _work_folder(models_dir: Path, spec: ModelSpec) -> Path:
    """An empty folder to build an install in, inside a private ``.tmp-<name>.*`` folder.

    mkdtemp's own folder is mode 0700; renamed into place, it would hide the model from
    the other users of a shared models dir. The inner folder gets the umask's mode, as
    any folder the user creates does.
    """
    work = Path(tempfile.mkdtemp(prefix=_temp_prefix(spec), dir=models_dir)) / spec.name
    work.mkdir()
    return work


def _check_importable(source: Path) -> None:
    """Fail before touching the store when ``source`` cannot hold a model.

    tarfile's own answer for a file that is no archive is a list of every method it tried,
    one per line; the user needs one line saying what was expected.
    """
    if not source.exists():
        raise ModelError("no such file or folder", hint=IMPORT_HINT, path=source)
    if source.is_dir():
        return
    try:
        archive = source.is_file() and tarfile.is_tarfile(source)
    except OSError as error:
        raise ModelError(f"cannot import: {error.strerror or error}", path=source) from error
    if not archive:
        raise ModelError("not a model folder or .tar.gz archive", hint=IMPORT_HINT, path=source)


def _temp_prefix(spec: ModelSpec) -> str:
    # The dot keeps "2stems" from matching the temporary folders of "2stems-16kHz".
    return f".tmp-{spec.name}."


def _infer_spec(source: Path) -> ModelSpec:
    stem = source.name.removesuffix(".tar.gz").removesuffix(".tgz")
    try:
        return get_spec(stem)
    except ValidationError:
        raise ValidationError(
            f"cannot tell which model '{source.name}' holds", hint=f"name it, e.g. `spl models import {source} --name 4stems`"
        ) from None


def _copy_folder(source: Path, dest: Path) -> None:
    require_checkpoint_files(source)
    for name in CHECKPOINT_FILES:
        if (source / name).is_file():
            shutil.copyfile(source / name, dest / name)


def _write_manifest(spec: ModelSpec, directory: Path, record: SourceRecord) -> None:
    """The install's record. The IR is listed apart from the checkpoint: the weights' digest (part of
    every cache key) covers the checkpoint only, so building an IR never invalidates the cache."""
    files = {path.name: _file_entry(path) for path in sorted(directory.iterdir()) if path.is_file() and path.name not in IR_FILES}
    manifest: dict[str, Any] = {
        "model": spec.name,
        "source": record.source,
        "version": record.version,
        "archive_sha256": record.archive_sha256,
        "installed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": files,
    }
    if all((directory / name).is_file() for name in IR_FILES):
        manifest["openvino"] = {
            "version": openvino_version(),
            "recipe": IR_RECIPE,
            "files": {name: _file_entry(directory / name) for name in IR_FILES},
        }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def _file_entry(path: Path) -> dict[str, Any]:
    return {"sha256": sha256_file(path), "size": path.stat().st_size}


def _link_or_copy(source: Path, dest: Path) -> None:
    """A hard link costs nothing and keeps the 80-190 MB checkpoint once on disk; other file systems get a copy."""
    try:
        os.link(source, dest)
    except OSError:
        shutil.copyfile(source, dest)


def _matches(path: Path, entry: dict[str, Any]) -> bool:
    try:
        return bool(path.stat().st_size == entry["size"] and sha256_file(path) == entry["sha256"])
    except OSError:
        return False
