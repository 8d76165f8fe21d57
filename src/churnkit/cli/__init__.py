"""The `churnkit` command line (typer): `app` holds the commands, `main` is the console script.

- `churnkit.cli.app`: one thin command per job (parse, build the Config, call the job, print);
- `churnkit.cli.options`: the options several commands share, declared once;
- `churnkit.cli.output`: the output modes (-q, --json) every command prints through.
"""

from churnkit.cli.app import app
from churnkit.cli.entry import main

__all__ = ["app", "main"]
