"""Conversations, one module each. A flow is a set of named steps; each step reads the producer's answer
to the question it is named after and returns the next step's name, or END.

    FLOWS["stock"].step(turn, "ASK_QUANTITY") -> "ASK_QUANTITY" | END
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

StepFunction = Callable[["Turn"], "str | None"]  # noqa: F821 (bot.engine.Turn)


@dataclass(frozen=True)
class Flow:
    name: str
    steps: dict[str, StepFunction]

    def step(self, turn, step_name: str) -> str | None:
        """Run step `step_name` on this turn's message; an unknown step (after a release) ends the flow."""
        function = self.steps.get(step_name)
        if function is None:
            return None
        return function(turn)


def _registry() -> dict[str, Flow]:
    from flows import language, menu, stock
    return {flow.name: flow for flow in (menu.FLOW, language.FLOW, stock.FLOW)}


class _Flows(dict):
    """Flows by name, imported on first use so flow modules may import each other freely."""

    def _load(self):
        if not self:
            self.update(_registry())

    def __contains__(self, name):
        self._load()
        return super().__contains__(name)

    def __getitem__(self, name):
        self._load()
        return super().__getitem__(name)


FLOWS = _Flows()
