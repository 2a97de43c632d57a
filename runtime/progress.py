"""Progress of a build: a rich live display with one row per node on a terminal, plain lines
otherwise (CI logs, pipes), nothing at all when quiet."""

from __future__ import annotations

import sys
from typing import TextIO


class Progress:
    """Plain lines: one per node run, and a summary per variant."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stderr

    def start(self, plan) -> None:
        print(f"{plan.variant.name}: {plan.summary()}", file=self.stream, flush=True)

    def node_started(self, key: str, node: dict) -> None:
        pass

    def node_done(self, key: str, node: dict, seconds: float) -> None:
        print(f"  {node['op']:<13} {node['label']:<32} {seconds * 1000:8.0f} ms", file=self.stream, flush=True)

    def finish(self, plan, run) -> None:
        pass


class Quiet(Progress):
    def start(self, plan) -> None:
        pass

    def node_done(self, key: str, node: dict, seconds: float) -> None:
        pass


class RichProgress(Progress):
    """A live table: a row per node to run, a spinner while it runs, its time when done."""

    def __init__(self, stream: TextIO | None = None):
        from rich.console import Console

        super().__init__(stream)
        self.console = Console(file=self.stream)
        self.progress = None
        self.tasks: dict[str, int] = {}

    def start(self, plan) -> None:
        from rich.progress import BarColumn, Progress as RichBar, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.console.print(f"[bold]{plan.variant.name}[/]: {plan.summary()}")
        self.progress = RichBar(SpinnerColumn(finished_text="[green]✓[/]"), TextColumn("{task.fields[op]:<13}"),
                                TextColumn("{task.description:<32}"), BarColumn(bar_width=12),
                                TimeElapsedColumn(), console=self.console, transient=False)
        self.progress.start()
        for step in plan.steps:
            self.tasks[step.key] = self.progress.add_task(step.label, total=1, op=step.op, start=False)

    def node_started(self, key: str, node: dict) -> None:
        if self.progress and key in self.tasks:
            self.progress.start_task(self.tasks[key])

    def node_done(self, key: str, node: dict, seconds: float) -> None:
        if self.progress and key in self.tasks:
            self.progress.update(self.tasks[key], completed=1)

    def finish(self, plan, run) -> None:
        if self.progress:
            self.progress.stop()
            self.progress = None
        self.tasks.clear()


def for_stream(stream: TextIO | None = None, quiet: bool = False) -> Progress:
    stream = stream or sys.stderr
    if quiet:
        return Quiet(stream)
    return RichProgress(stream) if stream.isatty() else Progress(stream)
