"""Progress for long CLI steps (rich), on stderr so stdout stays clean for `--json`."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def progress(*, quiet: bool = False) -> Iterator[Callable[[str], None]]:
    """Yield a `step(message)` callback: a live spinner on a terminal, timestamped lines elsewhere."""
    if quiet:
        yield lambda _msg: None
        return
    from rich.console import Console

    console = Console(stderr=True)
    start = time.perf_counter()

    def line(msg: str) -> str:
        return f"[dim]{time.perf_counter() - start:6.1f}s[/dim] {msg}"

    if not console.is_terminal:

        def step(msg: str) -> None:
            console.print(line(msg), highlight=False)

        yield step
        return
    with console.status("starting", spinner="dots") as status:

        def live_step(msg: str) -> None:
            console.print(line(msg), highlight=False)
            status.update(msg)

        yield live_step
    console.print(line("done"), highlight=False)
