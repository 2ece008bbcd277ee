"""Conversations, one module each. A flow is a set of named steps; each step reads the producer's answer
to the question it is named after and returns where the conversation goes next: (flow, step), or END.

    FLOWS["stock"].step(turn, "ASK_QUANTITY") -> ("stock", "ASK_QUANTITY") | END
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

Next = tuple["str | None", "str | None"]  # (flow, step); END = (None, None) closes the conversation
END: Next = (None, None)
REROUTE: Next = ("<reroute>", "<reroute>")  # the message is not an answer to this step: route it afresh
StepFunction = Callable[["Turn"], Next]  # noqa: F821 (ovop.conversation.engine.Turn)


@dataclass(frozen=True)
class Flow:
    name: str
    steps: dict[str, StepFunction]

    def step(self, turn, step_name: str) -> Next:
        """Run step `step_name` on this turn's message; an unknown step (after a release) ends the flow."""
        function = self.steps.get(step_name)
        if function is None:
            return END
        return function(turn)


def _registry() -> dict[str, Flow]:
    from ovop.conversation.flows import language, menu, optout, orders, stock, workshops
    return {flow.name: flow for flow in (menu.FLOW, language.FLOW, stock.FLOW, orders.FLOW, workshops.FLOW,
                                        optout.FLOW)}


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
