"""The conference side of the loopback Twilio: rooms, who waits and who talks, what a leg heard,
and the webhooks Twilio would send (signed as Twilio signs them).

Behaviour, and where it comes from (Twilio's TwiML <Conference> and Calls resource docs, and the
support article "What are the possible call statuses"):
- A call whose TwiML is `<Dial><Conference>` joins the named room. With
  `startConferenceOnEnter="false"` it waits (hears the `waitUrl`) until a participant with
  `startConferenceOnEnter="true"` (the default) joins; then the conference starts for everyone.
- Updating a call with new TwiML or a URL takes it out of its room (the <Dial> is abandoned).
  A redirect to a URL makes Twilio POST to that URL (the call's fields, signed) for its TwiML.
- A created call (Calls create) rings the `To` number. When it is answered Twilio POSTs to its
  `Url` (CallStatus=in-progress, Direction=outbound-api) and runs the TwiML in order: each
  `<Say>` is heard, then `<Dial><Conference>` joins the room.
- When a created call ends, Twilio POSTs its final `CallStatus` to its `StatusCallback`:
  completed (it was answered), or busy, no-answer, failed, canceled (a decline reaches us as
  busy on most networks, or no-answer).
- A participant joined with `statusCallback` and `statusCallbackEvent="leave"` has its leaving
  POSTed there (`StatusCallbackEvent=participant-leave`, its `CallSid`, the room's
  `FriendlyName`). The fake sends it when the test hangs that call up (`hang_up`); Twilio sends
  it too when a redirect takes the call out of the room, which the fake does not model.
- Every webhook carries `X-Twilio-Signature` over the public URL Twilio was given.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from twilio.request_validator import SIGNATURE_HEADER, RequestValidator


@dataclass
class Room:
    name: str
    started: bool = False
    talking: list[str] = field(default_factory=list)  # call SIDs in the started conference
    waiting: list[str] = field(default_factory=list)  # call SIDs hearing the wait music


@dataclass
class Leg:
    """What one call did on the conference side, in order: ("said", text), ("joined", room),
    ("waiting", room), ("connected", room), ("left", room), ("redirected", url)."""

    timeline: list[tuple[str, str]] = field(default_factory=list)
    wait_url: str = ""
    events_url: str = ""  # the conference statusCallback it joined with
    events: tuple[str, ...] = ()  # ... and its statusCallbackEvent words ("leave", "join")

    def heard(self) -> list[str]:
        return [text for what, text in self.timeline if what == "said"]


class Conferences:
    def __init__(self) -> None:
        self.rooms: dict[str, Room] = {}
        self.legs: dict[str, Leg] = {}

    def leg(self, sid: str) -> Leg:
        return self.legs.setdefault(sid, Leg())

    def run(self, sid: str, twiml: str) -> None:
        """Run TwiML on call `sid`: its <Say>s are heard, its <Dial><Conference> joins a room."""
        self.leave(sid)
        root = ElementTree.fromstring(twiml)
        for verb in root:
            if verb.tag == "Say":
                self.leg(sid).timeline.append(("said", verb.text or ""))
            elif verb.tag == "Dial" and (conference := verb.find("Conference")) is not None:
                self._join(sid, conference)

    def _join(self, sid: str, conference: ElementTree.Element) -> None:
        room = self.rooms.setdefault(conference.text or "", Room(conference.text or ""))
        leg = self.leg(sid)
        leg.timeline.append(("joined", room.name))
        leg.events_url = conference.get("statusCallback", "")
        leg.events = tuple(conference.get("statusCallbackEvent", "").split())
        starts = conference.get("startConferenceOnEnter", "true") == "true"
        if room.started or starts:
            self._start(room)
            room.talking.append(sid)
            leg.timeline.append(("connected", room.name))
        else:
            room.waiting.append(sid)
            leg.wait_url = conference.get("waitUrl", "")
            leg.timeline.append(("waiting", room.name))

    def _start(self, room: Room) -> None:
        room.started = True
        for sid in room.waiting:
            room.talking.append(sid)
            self.leg(sid).timeline.append(("connected", room.name))
        room.waiting.clear()

    def leave(self, sid: str) -> None:
        for room in self.rooms.values():
            if sid in room.talking or sid in room.waiting:
                room.talking = [s for s in room.talking if s != sid]
                room.waiting = [s for s in room.waiting if s != sid]
                self.leg(sid).timeline.append(("left", room.name))

    def room_of(self, sid: str) -> Room | None:
        return next((r for r in self.rooms.values() if sid in r.talking + r.waiting), None)


class Webhooks:
    """Twilio's requests to the app: signed over the public URL, sent to where it really runs."""

    def __init__(self, auth_token: str) -> None:
        self._validator = RequestValidator(auth_token)
        self.routes: dict[str, str] = {}  # public base -> local base
        self.sent: list[tuple[str, dict[str, str], int]] = []  # (public url, form, status)

    async def post(self, url: str, form: dict[str, str]) -> tuple[int, str]:
        headers = {SIGNATURE_HEADER: self._validator.compute_signature(url, form)}
        async with aiohttp.ClientSession() as http, \
                http.post(self._local(url), data=form, headers=headers) as reply:
            text = await reply.text()
        self.sent.append((url, form, reply.status))
        return reply.status, text

    def _local(self, url: str) -> str:
        for public, local in self.routes.items():
            if url.startswith(public):
                return local + url[len(public):]
        return url


def leave_form(room: Room, sid: str, account_sid: str) -> dict[str, str]:
    """What Twilio POSTs to a conference statusCallback when a participant leaves."""
    return {"AccountSid": account_sid, "ConferenceSid": "CF" + "0" * 32,
            "FriendlyName": room.name, "StatusCallbackEvent": "participant-leave",
            "CallSid": sid, "EndConferenceOnExit": "true", "Muted": "false", "Hold": "false"}


def call_form(call: Any, account_sid: str, status: str) -> dict[str, str]:
    """The fields Twilio sends about a call it placed (PROTOCOLS.md 1.1)."""
    return {"CallSid": call.sid, "AccountSid": account_sid, "From": call.from_, "To": call.to,
            "CallStatus": status, "Direction": call.direction, "ApiVersion": "2010-04-01"}
