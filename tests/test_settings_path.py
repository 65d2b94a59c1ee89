"""One settings path: only ``config.py`` reads the environment; the rest of spl takes plain values from it.

Writing a variable stays allowed where it is needed (``CUDA_VISIBLE_DEVICES=-1`` or
``TF_CPP_MIN_LOG_LEVEL`` before TensorFlow is imported): that configures a library, it
does not read a setting behind the config layer's back.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "spleeter_cli"
READERS = {"getenv", "getenvb"}
MAPPINGS = {"environ", "environb"}


def environment_reads(source: str) -> list[int]:
    """Lines of ``source`` that read the environment: ``os.environ`` used other than as an assignment target
    or through ``setdefault``, ``os.getenv``, or those names imported from ``os``."""
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "os" and any(alias.name in READERS | MAPPINGS for alias in node.names):
            lines.append(node.lineno)
        elif isinstance(node, ast.Attribute) and node.attr in READERS:
            lines.append(node.lineno)
        elif isinstance(node, ast.Attribute) and node.attr in MAPPINGS:
            parent = parents.get(node)
            written = isinstance(parent, ast.Subscript) and isinstance(parent.ctx, (ast.Store, ast.Del))
            defaulted = isinstance(parent, ast.Attribute) and parent.attr == "setdefault"
            if not (written or defaulted):
                lines.append(node.lineno)
    return sorted(lines)


def test_the_scan_sees_every_way_of_reading() -> None:
    source = "\n".join(
        [
            "import os",
            "os.environ['A'] = '1'",  # writes: allowed
            "os.environ.setdefault('B', '2')",
            "del os.environ['C']",
            "os.environ.get('D')",  # reads: line 5 on
            "os.environ['E']",
            "os.getenv('F')",
            "dict(os.environ)",
            "from os import environ",
            "'G' in os.environ",
        ]
    )
    assert environment_reads(source) == [5, 6, 7, 8, 9, 10]


def test_only_config_reads_the_environment() -> None:
    found = {
        f"{path.relative_to(PACKAGE.parent)}:{line}"
        for path in PACKAGE.rglob("*.py")
        if path != PACKAGE / "config.py"
        for line in environment_reads(path.read_text(encoding="utf-8"))
    }
    assert not found, f"environment read outside spleeter_cli/config.py (add a setting there instead): {sorted(found)}"
    assert environment_reads((PACKAGE / "config.py").read_text(encoding="utf-8"))  # the scan does look at the right code
