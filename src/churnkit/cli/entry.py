"""The console script: `churnkit = churnkit.cli:main` (and `python -m churnkit.cli`)."""

from __future__ import annotations

from churnkit.cli.app import app


def main() -> None:
    """Console-script entry point. SIGTERM exits through Python (143) so temp files are cleaned up."""
    import signal
    import sys

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    _interrupt_queries_on_signals()
    app()


def _interrupt_queries_on_signals() -> None:
    """Stop a running DuckDB statement at once on Ctrl-C or SIGTERM.

    Python runs its signal handlers between bytecodes, so during a long statement they wait (and DuckDB
    notices the interrupt only sometimes). The C-level handler also writes the signal number to a
    wake-up pipe; a helper thread reading it interrupts the statements, which then raise and unwind
    through the usual handlers (exit 130 or 143, temporary files removed).
    """
    import os
    import signal
    import threading

    from churnkit.data.load import interrupt_queries

    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    wanted = {int(signal.SIGINT), int(signal.SIGTERM)}

    def watch() -> None:
        while True:
            if wanted & set(os.read(read_end, 64)):
                interrupt_queries()

    threading.Thread(target=watch, name="churnkit-interrupt", daemon=True).start()
