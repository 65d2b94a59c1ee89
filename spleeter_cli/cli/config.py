"""`spl config`: which settings are in effect, and where each one came from.

Light on purpose (PyYAML and platformdirs only, no NumPy or TensorFlow) so it
answers at once; it is the first thing to run when a setting "does not work".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ..config import FIELDS, Settings, find_config, load_config, plain
from .ui import handles_errors

app = typer.Typer(help="Show the effective configuration and where it comes from.", no_args_is_help=True)
ConfigFile = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="Config file to read (default: $SPLEETER_CONFIG, else the user config file if present).",
        show_default=False,
        readable=False,
    ),
]


def _display(key: str, value: Any) -> Any:
    """A JSON-ready value; Redis passwords and the server token are redacted because this output ends up in bug reports."""
    if value is None:
        return None
    if key == "server.token":
        return "****"
    if key == "cache.redis_url":
        from ..cache.tiers import redact

        return redact(str(value))
    return plain(value)


def rows(settings: Settings) -> list[dict[str, Any]]:
    """One row per key, in the documented order: key, displayable value, source."""
    return [{"key": f.key, "value": _display(f.key, settings[f.key]), "source": settings.source(f.key)} for f in FIELDS]


@app.command("show")
@handles_errors
def show(
    config: ConfigFile = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """Print every effective setting, its value and its source (default, file, env or flag)."""
    settings = load_config(config)
    table = rows(settings)
    if json_output:
        print(
            json.dumps(
                {
                    "file": str(settings.file) if settings.file else None,
                    "settings": {r["key"]: {"value": r["value"], "source": r["source"]} for r in table},
                    "notes": settings.notes,
                },
                indent=2,
            )
        )
        return
    print(f"# config file: {settings.file or 'none'}")
    width = max(len(r["key"]) for r in table)
    for r in table:
        value = "null" if r["value"] is None else json.dumps(r["value"]) if isinstance(r["value"], (bool, str)) else str(r["value"])
        print(f"{r['key']:<{width}}  {value}  ({r['source']})")
    for note in settings.notes:  # keys that are set but change nothing here
        print(f"# note: {note}")


@app.command("path")
@handles_errors
def path(config: ConfigFile = None) -> None:
    """Print the config file that would be read, or 'none'."""
    found = find_config(config)
    print(found if found is not None else "none")
