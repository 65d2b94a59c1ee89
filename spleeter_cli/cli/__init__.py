"""The `spl` command line; ``main`` is its entry point."""

from __future__ import annotations


def main() -> None:
    """Run `spl`, handling the stop signals before anything heavy is imported: a Ctrl-C at start-up exits cleanly too."""
    from . import stopping

    stopping.install()
    try:
        from .app import main as run

        run()
    except BaseException as error:
        stopping.exit_if_stopping(error)
        raise
