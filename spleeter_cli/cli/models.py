"""`spl models`: see, fetch, check and import the Spleeter checkpoints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from .ui import handles_errors

app = typer.Typer(help="List, download, verify, inspect and import models.", no_args_is_help=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]
Names = Annotated[list[str], typer.Argument(help="Model names, e.g. 2stems or spleeter:4stems-16kHz.", metavar="NAME...")]


def _store():  # type: ignore[no-untyped-def]
    from ..models.store import ModelManager

    return ModelManager()


def _describe(store: Any, name: str) -> dict[str, Any]:
    """Catalog facts plus what the store recorded at install (source, version, checksums)."""
    from ..models.catalog import get_spec

    spec = get_spec(name)
    manifest = store.manifest(spec.name) or {}
    return {
        "name": spec.full_name,
        "instruments": list(spec.instruments),
        "bandwidth_khz": 16 if spec.bins == 1536 else 11,
        "frequency_bins": spec.bins,
        "masks": "softmax" if spec.softmax_masks else "sigmoid ratio",
        "size_mb": spec.size_mb,
        "installed": store.is_installed(spec.name),
        "path": str(store.path(spec.name)),
        "source": manifest.get("source"),
        "version": manifest.get("version"),
        "installed_at": manifest.get("installed_at"),
        "files": manifest.get("files", {}),
    }


def _emit(rows: list[dict[str, Any]], json_output: bool, line: Any) -> None:
    if json_output:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            print(line(row))


@app.command("list")
@handles_errors
def list_models(json_output: JsonFlag = False) -> None:
    """Every model of the catalog, and whether it is installed."""
    from ..models.catalog import CATALOG

    store = _store()
    rows = [_describe(store, name) for name in CATALOG]
    for row in rows:
        del row["files"]
    _emit(rows, json_output, lambda r: f"{r['name']:<24} {', '.join(r['instruments']):<38} {'installed' if r['installed'] else '-'}")


@app.command("info")
@handles_errors
def info(names: Names, json_output: JsonFlag = False) -> None:
    """Instruments, band, install source, version and checksums of models."""
    store = _store()
    rows = [_describe(store, name) for name in names]

    def block(row: dict[str, Any]) -> str:
        lines = [row["name"], f"  instruments  {', '.join(row['instruments'])}", f"  band         up to {row['bandwidth_khz']} kHz ({row['frequency_bins']} bins), {row['masks']} masks"]
        if row["installed"]:
            lines += [f"  installed    {row['path']} ({row['installed_at']})", f"  source       {row['source']} {row['version']}"]
            lines += [f"  {file:<28} sha256 {entry['sha256'][:16]}…  {entry['size']} bytes" for file, entry in row["files"].items()]
        else:
            lines.append(f"  not installed (spl models download {row['name']})")
        return "\n".join(lines)

    _emit(rows, json_output, block)


@app.command("download")
@handles_errors
def download(
    names: Names,
    force: Annotated[bool, typer.Option("--force", help="Download again even if installed.")] = False,
    json_output: JsonFlag = False,
) -> None:
    """Install models from the official release (or its fallback source)."""
    store = _store()
    status = (lambda m: None) if json_output else (lambda m: print(f"spl: {m}"))
    rows = [{"name": name, "path": str(store.download_model(name, force=force, on_status=status))} for name in names]
    _emit(rows, json_output, lambda r: f"{r['name']}: installed in {r['path']}")


@app.command("import")
@handles_errors
def import_model(
    source: Annotated[Path, typer.Argument(help="An official <model>.tar.gz or a folder with its checkpoint files.")],
    name: Annotated[Optional[str], typer.Option("--name", help="Model name, when it cannot be read from the file name.")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Install a model offline from a release archive or folder (its variable layout is checked)."""
    path = _store().import_model(source, name)
    _emit([{"source": str(source), "path": str(path)}], json_output, lambda r: f"imported {r['source']} into {r['path']}")


@app.command("verify")
@handles_errors
def verify(names: Annotated[Optional[list[str]], typer.Argument(help="Models to check (default: all installed).", metavar="[NAME]...")] = None, json_output: JsonFlag = False) -> None:
    """Re-check installed files against their recorded checksums and the checkpoint's variables."""
    store = _store()
    rows = []
    for name in names or store.list_local_models():
        store.validate_model(name)
        rows.append({"name": name, "ok": True})
    _emit(rows, json_output, lambda r: f"{r['name']}: ok")


@app.command("remove")
@handles_errors
def remove(names: Names, json_output: JsonFlag = False) -> None:
    """Delete installed models."""
    store = _store()
    rows = [{"name": name, "removed": store.remove(name)} for name in names]
    _emit(rows, json_output, lambda r: f"{r['name']}: {'removed' if r['removed'] else 'not installed'}")
