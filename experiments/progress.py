"""Rich progress display for bake-offs: one bar over cells, live rounds/s, skipped cells counted.

Used as a context manager; its ``on_cell`` / ``on_rounds`` methods are the callbacks of
:func:`experiments.bakeoff.run_bakeoff`. With ``enabled=False`` (``quiet=true``) it prints nothing.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class BakeoffProgress:
    """Progress over bake-off cells with the simulated rounds per second (compile time excluded)."""

    def __init__(self, console: Console, enabled: bool = True, description: str = "bake-off") -> None:
        self.enabled = enabled
        self.description = description
        self.rounds = 0
        self.seconds = 0.0
        self._task = None
        self._progress = (
            Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("cells"),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=False,
            )
            if enabled
            else None
        )

    def __enter__(self) -> BakeoffProgress:
        if self._progress is not None:
            self._progress.__enter__()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)

    @property
    def rounds_per_second(self) -> float:
        """Member-rounds per second of simulation (excluding compile and cells skipped)."""
        return self.rounds / self.seconds if self.seconds > 0 else 0.0

    def start(self, total_cells: int) -> None:
        """Show the bar before the first cell finishes (``total_cells`` cells planned)."""
        if self._progress is not None and self._task is None:
            self._task = self._progress.add_task(self.description, total=int(total_cells), rate="")

    def on_rounds(self, rounds: int, seconds: float) -> None:
        """Called after each compiled call: ``rounds`` member-rounds took ``seconds``."""
        self.rounds += int(rounds)
        self.seconds += float(seconds)
        self._refresh()

    def on_cell(self, event) -> None:
        """Called after each cell (:class:`experiments.bakeoff.CellEvent`)."""
        if self._progress is None:
            return
        if self._task is None:
            self._task = self._progress.add_task(self.description, total=event.total, rate="")
        self._progress.update(self._task, completed=event.done)
        self._refresh()

    def _refresh(self) -> None:
        if self._progress is None or self._task is None:
            return
        rate = self.rounds_per_second
        text = f"{rate / 1e6:.2f}M rounds/s" if rate >= 1e6 else f"{rate / 1e3:.1f}k rounds/s"
        self._progress.update(self._task, rate=text if self.rounds else "")
