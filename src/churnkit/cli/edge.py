"""Where exceptions become exit codes, for every command: a `ChurnkitError` (a user mistake) exits 2 with one
`Error:` line on stderr; DuckDB's interrupted statement exits like Ctrl-C (130); anything else is a bug and
exits 1 with a traceback."""

from __future__ import annotations

import typer
from typer.core import TyperGroup

from churnkit.cli.output import set_modes
from churnkit.errors import ChurnkitError


class ErrorsToExitCodes(TyperGroup):
    """Turns library errors into exit code 2 and a one-line message, for every command."""

    def invoke(self, ctx):  # type: ignore[no-untyped-def]
        set_modes()  # each command starts in the default output modes
        try:
            return super().invoke(ctx)
        except ChurnkitError as e:
            typer.echo(f"Error: {_one_line(str(e))}", err=True)
            raise typer.Exit(2) from None
        except Exception as e:
            if _interrupted(e):  # DuckDB took the Ctrl-C inside a statement: exit 130 like any Ctrl-C
                raise KeyboardInterrupt from None
            raise


def _one_line(message: str) -> str:
    """The message on one line: line breaks inside quoted names (a CSV header, a YAML key) shown as \\n."""
    return message.strip().replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\r")


def _interrupted(e: BaseException) -> bool:
    """Whether an exception is DuckDB reporting an interrupted statement (it swallows the SIGINT itself)."""
    import duckdb

    if isinstance(e, duckdb.InterruptException):
        return True
    return isinstance(e, RuntimeError) and str(e).strip().rstrip(".!").lower() in {
        "query interrupted",
        "interrupted",
    }
