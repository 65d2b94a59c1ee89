"""`spl models`: see, fetch, check and import the Spleeter checkpoints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from .ui import handles_errors

app = typer.Typer(help="List, download, verify and import models.", no_args_is_help=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]


def _store():  # type: ignore[no-untyped-def]
    from ..models.store import ModelManager

    return ModelManager()


@app.command("list")
@handles_errors
def list_models(json_output: JsonFlag = False) -> None:
    """Every model of the catalog, and whether it is installed."""
    from ..models.catalog import CATALOG

    store = _store()
    rows = [
        {
            "name": spec.full_name,
            "instruments": list(spec.instruments),
            "bandwidth_khz": 16 if spec.bins == 1536 else 11,
            "size_mb": spec.size_mb,
            "installed": store.is_installed(spec.name),
            "path": str(store.path(spec.name)),
        }
        for spec in CATALOG.values()
    ]
    if json_output:
        print(json.dumps(rows, indent=2))
        return
    for row in rows:
        mark = "installed" if row["installed"] else "-"
        print(f"{row['name']:<24} {', '.join(row['instruments']):<38} {mark}")


@app.command("download")
@handles_errors
def download(
    names: Annotated[list[str], typer.Argument(help="Model names, e.g. 2stems spleeter:4stems.")],
    force: Annotated[bool, typer.Option("--force", help="Download again even if installed.")] = False,
) -> None:
    """Install models from the official release (or its fallback source)."""
    store = _store()
    for name in names:
        path = store.download_model(name, force=force, on_status=lambda m: print(f"spl: {m}"))
        print(f"{name}: installed in {path}")


@app.command("import")
@handles_errors
def import_model(
    source: Annotated[Path, typer.Argument(help="An official <model>.tar.gz or a folder with its checkpoint files.")],
    name: Annotated[Optional[str], typer.Option("--name", help="Model name, when it cannot be read from the file name.")] = None,
) -> None:
    """Install a model offline from a release archive or folder."""
    path = _store().import_model(source, name)
    print(f"imported {source} into {path}")


@app.command("verify")
@handles_errors
def verify(names: Annotated[Optional[list[str]], typer.Argument(help="Models to check (default: all installed).")] = None) -> None:
    """Re-check installed files against their recorded checksums and variable layout."""
    store = _store()
    for name in names or store.list_local_models():
        store.validate_model(name)
        print(f"{name}: ok")


@app.command("remove")
@handles_errors
def remove(names: Annotated[list[str], typer.Argument(help="Models to delete.")]) -> None:
    """Delete installed models."""
    store = _store()
    for name in names:
        print(f"{name}: {'removed' if store.remove(name) else 'not installed'}")
