"""Deadline: the per-request time budget (settings.request_budget), checked between a search's stages.

Python threads cannot be stopped from outside, so the budget is cooperative: the search and the quote
check call `Deadline.check(stage)` before each costly stage (ranking, hits and highlights, facets; the
quote check's retrieval, alignment and paraphrase steps) and a request past its budget ends there with
TimeBudgetExceeded (503 `time_budget`), freeing its thread for the next request. A stage that started
in time runs to its end, so a request can overrun the budget by one stage. gunicorn's worker timeout is
the hard backstop for a worker that stops responding altogether (docs/reliability.md).
"""
from __future__ import annotations

import time
from collections.abc import Callable

from .errors import TimeBudgetExceeded


class Deadline:
    """A point in time after which `check` raises TimeBudgetExceeded; `budget` 0 (or less) never expires."""

    def __init__(self, budget: float, started: float | None = None,
                 clock: Callable[[], float] = time.perf_counter):
        self.budget, self._clock = budget, clock
        self.started = clock() if started is None else started

    @classmethod
    def never(cls) -> Deadline:
        return cls(0.0)

    @property
    def elapsed(self) -> float:
        return self._clock() - self.started

    def check(self, stage: str) -> None:
        """Raise TimeBudgetExceeded when the budget is spent, naming the stage that was about to start."""
        if self.budget > 0 and self.elapsed > self.budget:
            raise TimeBudgetExceeded(
                f"the request took longer than the server's time budget of {self.budget:g} s "
                f"(stopped before {stage}, after {self.elapsed * 1000:.1f} ms); try a shorter question, "
                "a filter, or again later")
