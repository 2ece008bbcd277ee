"""A message that may mean "stop writing to me" is asked about, never ignored.

| step         | question                                                        | answers                          |
|--------------|-----------------------------------------------------------------|----------------------------------|
| CONFIRM_STOP | Voulez-vous ne plus recevoir nos messages ? 1) Oui, STOP 2) Non  | yes → opted out; no → kept, END  |
"""
from __future__ import annotations

from ovop.conversation import handoff
from ovop.language import understand
from ovop.conversation.steps import END, REROUTE, Flow


def ask(turn):
    """A doubtful opt-out ('trop de messages'): ask, showing how to stop."""
    turn.say("optout.ask")
    return "optout", "CONFIRM_STOP"


def confirm_stop(turn):
    """'1', 'oui', 'waaw' or STOP opts out; '2', 'non' keeps the messages coming; anything else is routed."""
    answer = understand.yes_no(turn.text)
    if answer == "yes":
        return opt_out(turn)
    if answer == "no":
        turn.say("optout.kept")
        return END
    return REROUTE


def opt_out(turn):
    """Confirm once; a second STOP is answered with nothing more than the same confirmation."""
    if not turn.producer.opted_out:
        turn.producer.opted_out, turn.producer.opted_out_at = True, turn.now
    handoff.leave(turn, "stop")  # staff may no longer write to them: their conversation closes
    turn.say("optout.confirmed")
    return END


FLOW = Flow("optout", {"CONFIRM_STOP": confirm_stop})
