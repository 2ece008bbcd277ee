"""What a flow is made of. A flow is a set of named steps; each step reads the producer's answer to the question
it is named after and returns where the conversation goes next: (flow, step), END, or REROUTE when the message
is not an answer to that question (the engine then routes it afresh, as if no flow were open).

    FLOWS["stock"].step(turn, "ASK_QUANTITY") -> ("stock", "ASK_QUANTITY") | END | REROUTE
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

Next = tuple["str | None", "str | None"]  # (flow, step); END = (None, None) closes the conversation
END: Next = (None, None)
REROUTE: Next = ("<reroute>", "<reroute>")  # the message is not an answer to this step: route it afresh
StepFunction = Callable[..., Next]  # takes the Turn (ovop.conversation.engine.Turn) and returns where to go


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
