"""`spl models`: see, fetch, check and import the Spleeter checkpoints.

Every subcommand reads the settings like `spl separate` does (defaults < config file <
environment < flags), so `spl models remove` acts on the very folder a run would use.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import ExitCode, ModelError
from . import options as o
from .ui import handles_errors, print_error

if TYPE_CHECKING:
    from ..models.store import ModelManager

app = typer.Typer(help="List, download, verify, inspect and import models.", no_args_is_help=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]
Names = Annotated[list[str], typer.Argument(help="Model names, e.g. 2stems or spleeter:4stems-16kHz.", metavar="NAME...")]


def _store(config_file: Path | None) -> ModelManager:
    """The store `spl separate` would use with the same config file and environment."""
    return o.model_store(o.load_settings(config_file))


def _state_text(row: dict[str, Any]) -> str:
    """Installed, or what to run to make it so; damaged needs --force to be said."""
    if row["state"] == "installed":
        return "installed"
    if row["state"] == "damaged":
        return f"damaged (spl models download {row['name']} --force)"
    return f"not installed (spl models download {row['name']})"


def _describe(store: Any, name: str) -> dict[str, Any]:
    """Catalog facts plus what the store recorded at install (source, version, checksums, the OpenVINO IR)."""
    from ..models.catalog import get_spec

    spec = get_spec(name)
    manifest = store.manifest(spec.name) or {}
    state = store.state(spec.name)
    ir = manifest.get("openvino") or {}
    return {
        "name": spec.full_name,
        "instruments": list(spec.instruments),
        "bandwidth_khz": 16 if spec.bins == 1536 else 11,
        "frequency_bins": spec.bins,
        "masks": "softmax" if spec.softmax_masks else "sigmoid ratio",
        "size_mb": spec.size_mb,
        "installed": state == "installed",
        "state": state,
        "path": str(store.path(spec.name)),
        "source": manifest.get("source"),
        "version": manifest.get("version"),
        "installed_at": manifest.get("installed_at"),
        "files": manifest.get("files", {}),
        "openvino_ir": None
        if state != "installed"
        else {
            "usable": (problem := store.ir_problem(spec.name)) is None,
            "problem": problem,
            "openvino_version": ir.get("version"),
            "files": ir.get("files", {}),
        },
    }


def _emit(rows: list[dict[str, Any]], json_output: bool, line: Any) -> None:
    if json_output:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            print(line(row))


@app.command("list")
@handles_errors
def list_models(json_output: JsonFlag = False, config_file: o.ConfigFile = None) -> None:
    """Every model of the catalog: installed, damaged or not installed."""
    from ..models.catalog import CATALOG

    store = _store(config_file)
    rows = [_describe(store, name) for name in CATALOG]
    for row in rows:
        del row["files"]
    _emit(
        rows,
        json_output,
        lambda r: f"{r['name']:<24} {', '.join(r['instruments']):<38} {'-' if r['state'] == 'missing' else _state_text(r)}",
    )


@app.command("info")
@handles_errors
def info(names: Names, json_output: JsonFlag = False, config_file: o.ConfigFile = None) -> None:
    """Instruments, band, install source, version, checksums and backend of models."""
    from ..models.backend import resolve_backend

    settings = o.load_settings(config_file)
    store = o.model_store(settings)
    backend = resolve_backend(settings.performance.backend, settings.performance.enable_gpu)
    rows = [{**_describe(store, name), "backend": backend} for name in names]

    def block(row: dict[str, Any]) -> str:
        lines = [
            row["name"],
            f"  instruments  {', '.join(row['instruments'])}",
            f"  band         up to {row['bandwidth_khz']} kHz ({row['frequency_bins']} bins), {row['masks']} masks",
        ]
        if row["installed"]:
            lines += [f"  installed    {row['path']} ({row['installed_at']})", f"  source       {row['source']} {row['version']}"]
            lines += [f"  {file:<28} sha256 {entry['sha256'][:16]}…  {entry['size']} bytes" for file, entry in row["files"].items()]
            lines.append(f"  backend      {row['backend']} ({settings.source('performance.backend')}: {settings.performance.backend})")
            ir = row["openvino_ir"]
            if ir["usable"]:
                lines.append(f"  openvino IR  built by OpenVINO {ir['openvino_version']}")
                lines += [f"  {file:<28} sha256 {entry['sha256'][:16]}…  {entry['size']} bytes" for file, entry in ir["files"].items()]
            else:
                lines.append(f"  openvino IR  rebuilt on first use: {ir['problem']}")
        else:
            lines.append(f"  {_state_text(row)}")
        return "\n".join(lines)

    _emit(rows, json_output, block)


@app.command("download")
@handles_errors
def download(
    names: Names,
    force: Annotated[bool, typer.Option("--force", help="Download again even if installed.")] = False,
    json_output: JsonFlag = False,
    config_file: o.ConfigFile = None,
) -> None:
    """Install models from the official release (or its fallback source)."""
    store = _store(config_file)
    status = (lambda m: None) if json_output else (lambda m: print(f"spl: {m}"))
    rows = [{"name": name, "path": str(store.install(name, force=force, on_status=status))} for name in names]
    _emit(rows, json_output, lambda r: f"{r['name']}: installed in {r['path']}")


@app.command("import")
@handles_errors
def import_model(
    source: Annotated[Path, typer.Argument(help="An official <model>.tar.gz or a folder with its checkpoint files.", readable=False)],
    name: Annotated[str | None, typer.Option("--name", help="Model name, when it cannot be read from the file name.")] = None,
    json_output: JsonFlag = False,
    config_file: o.ConfigFile = None,
) -> None:
    """Install a model offline from a release archive or folder (its variable layout is checked)."""
    path = _store(config_file).import_model(source, name)
    _emit([{"source": str(source), "path": str(path)}], json_output, lambda r: f"imported {r['source']} into {r['path']}")


def _verify_one(store: Any, name: str, on_status: Any) -> dict[str, Any]:
    """One model's verdict; a damaged one is reported on stderr at once and the others still checked.

    A damaged OpenVINO IR is not a damaged model: it is rebuilt from the (verified) checkpoint, with one line saying so.
    """
    try:
        store.validate_model(name, on_status)
    except ModelError as error:
        print_error(error)
        return {"name": name, "ok": False, "error": str(error)}
    return {"name": name, "ok": True}


@app.command("verify")
@handles_errors
def verify(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Models to check (default: every model in the models dir, damaged ones too).", metavar="[NAME]..."),
    ] = None,
    json_output: JsonFlag = False,
    config_file: o.ConfigFile = None,
) -> None:
    """Re-check models' files against their recorded checksums and the checkpoint's variables; exit 4 if any is damaged."""
    from ..models.catalog import get_spec

    for name in names or []:
        get_spec(name)  # an unknown name fails (exit 2) before any hashing
    store = _store(config_file)
    targets = names or store.present_models()
    if not targets and not json_output:
        print(f"no models installed in {store.models_dir}")
        return
    rows = []
    status = (lambda m: None) if json_output else (lambda m: print(f"spl: {m}", flush=True))
    for name in targets:
        rows.append(_verify_one(store, name, status))
        if rows[-1]["ok"] and not json_output:
            print(f"{name}: ok", flush=True)
    if json_output:
        print(json.dumps(rows, indent=2))
    if not all(row["ok"] for row in rows):
        raise typer.Exit(int(ExitCode.MODEL))


@app.command("remove")
@handles_errors
def remove(names: Names, json_output: JsonFlag = False, config_file: o.ConfigFile = None) -> None:
    """Delete installed (or damaged) models."""
    store = _store(config_file)
    rows = [{"name": name, "removed": store.remove(name)} for name in names]
    _emit(rows, json_output, lambda r: f"{r['name']}: {'removed' if r['removed'] else 'not installed'}")
