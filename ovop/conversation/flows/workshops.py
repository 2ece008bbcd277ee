"""Signing up for a workshop, and cancelling, by message.

| step         | question                                            | answers                                      |
|--------------|-----------------------------------------------------|----------------------------------------------|
| (route)      | "atelier" or menu 3                                 | the numbered list of open workshops → CHOOSE |
| CHOOSE       | 1) Vendre en boutique - lun. 7 déc. 10:00 - 5 places | a number → registered or waitlisted, END     |
| (global)     | "annuler atelier"                                   | one registration → cancelled, END            |
| CANCEL_WHICH | Which one? 1) … 2) …                                 | a number → cancelled, END                    |
| (list)       | the open workshops as a WhatsApp list picker        | payload workshop:<id> → registered, END      |

On WhatsApp the list may leave as a list-picker template of kind "workshop_list", one per number of workshops
listed (TWILIO_TEMPLATES keys "fr:1" … "fr:5"); item i is filled by the variables {{3i-2}} (the title, 24
characters at most), {{3i-1}} (its id, the payload `workshop:<id>`) and {{3i}} (date, time and seats, 72 at
most). A tapped item registers the producer as typing its number does (ovop.conversation.buttons).

Any other answer is understood as if no question were open, so "yaourt 40" still records stock.
"""
from __future__ import annotations

from ovop.domain import workshops
from ovop.language.i18n import mark, t, tn
from ovop.models import Registration
from ovop.conversation.steps import END, REROUTE, Flow
from ovop.conversation.flows.common import choice, numbered
from ovop.conversation.pickers import DESCRIPTION_MAX, ITEM_MAX, ListPicker, shorten

# What a sign-up answers, by its outcome (every text may use {title}, {when}, {location}, {position}).
OUTCOME_KEYS = {
    "registered": mark("workshop.registered"),
    "waitlisted": mark("workshop.waitlisted"),
    "already_registered": mark("workshop.already_registered"),
    "already_waitlisted": mark("workshop.already_waitlisted"),
    "closed": mark("workshop.closed"),
}
MAX_LISTED = 5  # beyond this the list is too long for a phone screen; the soonest come first


def show(turn):
    """List the open workshops with date, time and seats, and wait for a number."""
    now, lang = turn.now, turn.lang
    listed = [item for item in workshops.workshops(turn.session, upcoming_after=now)
              if workshops.is_open(item, now)][:MAX_LISTED]
    if not listed:
        turn.say("workshop.none")
        return END
    counted = workshops.counts(turn.session, [item.id for item in listed])
    mine = {registration.workshop_id: registration.status
            for registration in workshops.registrations_of(turn.session, turn.producer, now)}
    seats = [_seats(turn, item, counted[item.id], mine.get(item.id)) for item in listed]
    labels = [t("workshop.item", lang, **_details(turn, item), seats=seat) for item, seat in zip(listed, seats)]
    turn.data = {"workshops": [item.id for item in listed]}
    text = t("workshop.list", lang, items="\n".join(f"{n}) {label}" for n, label in enumerate(labels, start=1)))
    turn.replies.append(ListPicker(text, "workshop_list", _list_variables(turn, listed, seats), size=len(listed)))
    return "workshops", "CHOOSE"


def _list_variables(turn, listed, seats: list[str]) -> dict[str, str]:
    """The list picker's variables: for item i, {{3i-2}} title, {{3i-1}} payload, {{3i}} date and seats."""
    variables: dict[str, str] = {}
    for number, (item, seat) in enumerate(zip(listed, seats)):
        details = _details(turn, item)
        variables[str(3 * number + 1)] = shorten(details["title"], ITEM_MAX)
        variables[str(3 * number + 2)] = payload(item.id)
        variables[str(3 * number + 3)] = shorten(f"{details['when']} - {seat}", DESCRIPTION_MAX)
    return variables


def payload(workshop_id: int) -> str:
    """The id of a workshop's item in the list picker: what its tap carries (ButtonPayload)."""
    return f"workshop:{workshop_id}"


def tap(turn, workshop_id: int):
    """A workshop tapped in the list picker: registered (or waitlisted) as if its number had been typed."""
    try:
        signup = workshops.register(turn.session, workshop_id, turn.producer, turn.now, turn.message_id)
    except LookupError:  # removed since the list was sent, or no such workshop
        turn.say("button.unknown_item")
        return turn.state.flow, turn.state.step
    turn.say(OUTCOME_KEYS[signup.outcome], position=signup.position, **_details(turn, signup.workshop))
    return END


def choose(turn):
    """Register the producer for the workshop whose number they typed."""
    ids = turn.data.get("workshops") or []
    index = choice(turn.text, len(ids))
    if index is None:
        return _not_a_choice(turn, len(ids), "CHOOSE")
    try:
        signup = workshops.register(turn.session, ids[index], turn.producer, turn.now, turn.message_id)
    except LookupError:  # removed since the list was sent
        return show(turn)
    turn.say(OUTCOME_KEYS[signup.outcome], position=signup.position, **_details(turn, signup.workshop))
    return END


def cancel(turn):
    """"annuler atelier": cancel the producer's registration, asking which when there are several."""
    active = workshops.registrations_of(turn.session, turn.producer, turn.now)
    if not active:
        turn.say("workshop.nothing_to_cancel")
        return END
    if len(active) == 1:
        return _cancel(turn, active[0])
    turn.data = {"registrations": [registration.id for registration in active]}
    labels = [t("workshop.cancel_item", turn.lang, **_details(turn, registration.workshop))
              for registration in active]
    turn.say("workshop.cancel_which", items=numbered(labels))
    return "workshops", "CANCEL_WHICH"


def cancel_which(turn):
    """Cancel the registration whose number the producer typed."""
    ids = turn.data.get("registrations") or []
    index = choice(turn.text, len(ids))
    if index is None:
        return _not_a_choice(turn, len(ids), "CANCEL_WHICH")
    registration = turn.session.get(Registration, ids[index])
    if registration is None or registration.status not in workshops.ACTIVE:
        turn.say("workshop.nothing_to_cancel")
        return END
    return _cancel(turn, registration)


def _cancel(turn, registration: Registration):
    workshops.cancel(turn.session, registration, turn.now, turn.config)
    turn.say("workshop.cancelled", **_details(turn, registration.workshop))
    return END


def _not_a_choice(turn, count: int, step: str):
    """A number out of range is asked again; any other text is understood on its own."""
    if turn.text.strip().rstrip(".)").strip().isdigit():
        turn.say("workshop.bad_choice", count=count)
        return "workshops", step
    return REROUTE


def _details(turn, item) -> dict[str, str]:
    return workshops.details(item, turn.lang, turn.config)


def _seats(turn, item, status_counts: dict[str, int], mine: str | None) -> str:
    """What the list says about seats: the producer's own place, full, or how many are left."""
    if mine == workshops.REGISTERED:
        return t("workshop.seat_yours", turn.lang)
    if mine == workshops.WAITLISTED:
        return t("workshop.seat_waiting", turn.lang)
    left = workshops.seats_left(item, status_counts)
    return tn("workshop.seats_left", left, turn.lang) if left else t("workshop.seat_full", turn.lang)


FLOW = Flow("workshops", {"CHOOSE": choose, "CANCEL_WHICH": cancel_which})
