"""The progress bar of a search: candidates (trials) done of the budget, the generation (batch) and
the best fitness so far."""

from collections.abc import Callable

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn


class SearchProgress:
    """``with SearchProgress(console, total, done, "searching", "candidates", "generation", fields) as
    advance:`` yields a callback for the search loop; ``fields(*args) -> (done, generation, best)``."""

    def __init__(self, console, total: int, done: int, label: str, unit: str, step: str, fields: Callable):
        self.fields = fields
        self.bar = Progress(
            TextColumn(f"[bold]{label}[/]"),
            BarColumn(),
            TextColumn(f"{{task.completed:,}}/{{task.total:,}} {unit}, {step} {{task.fields[gen]}}"),
            TextColumn("best {task.fields[best]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=console is None,
        )
        self.task = self.bar.add_task(label, total=total, completed=done, gen=0, best="-")

    def __enter__(self) -> Callable:
        self.bar.__enter__()

        def advance(*args) -> None:
            done, gen, best = self.fields(*args)
            self.bar.update(self.task, completed=done, gen=gen, best=f"{best:.4g}")

        return advance

    def __exit__(self, *exc):
        return self.bar.__exit__(*exc)
