"""Warm transfer on the wire: the TwiML and URLs of Twilio's conference flow (pure, table-tested).

The flow (Twilio's "warm transfer" pattern, docs: TwiML <Conference>, Calls resource):
1. The caller's live call is updated with `caller_hold_twiml`: it joins a conference named after
   the call with `startConferenceOnEnter="false"`, so it hears the `waitUrl` (our hold line) until
   somebody who starts the conference joins. Twilio ends the media stream at that moment.
2. The target is called (Calls create) with `url=` our answer URL and `statusCallback=` our status
   URL. When they pick up, Twilio fetches the answer URL: `target_brief_twiml` says the brief and
   then joins them (`startConferenceOnEnter="true"`): the caller's hold music stops, they talk.
3. The target's final status (busy, no-answer, failed, canceled: Twilio's call statuses) comes to
   the status URL; the caller is then redirected (Calls update `url=`) back to /voice: a new media
   stream to our server.

Every URL names the caller's call in `?call=`: it is part of what Twilio signs, so it cannot be
altered, and a route answers only for a transfer of that call in progress.
"""

from __future__ import annotations

from urllib.parse import urlencode

from twilio.twiml.voice_response import Dial, VoiceResponse

ANSWER_PATH = "/warm/answer"  # the target picked up: what they hear
STATUS_PATH = "/warm/status"  # the target's call ended (or never started): its final status
HOLD_PATH = "/warm/hold"  # the conference's waitUrl: what the caller hears meanwhile
CONFERENCE_PATH = "/warm/conference"  # the caller's conference events: they left (hung up)
# Twilio's final statuses of a call that never connected (support article "What are the possible
# call statuses"): `completed` means somebody (or a voicemail) answered.
NOT_CONNECTED = frozenset({"busy", "no-answer", "failed", "canceled"})
HOLD_PAUSE_S = 2  # between two hold lines; Twilio loops the waitUrl's TwiML until the start


def room(call_sid: str) -> str:
    """The conference's name. Twilio advises against personal data in it: the call SID is none."""
    return f"warm-{call_sid}"


def warm_url(public_url: str, path: str, call_sid: str) -> str:
    return f"{public_url.rstrip('/')}{path}?{urlencode({'call': call_sid})}"


def caller_hold_twiml(call_sid: str, hold_url: str, events_url: str) -> str:
    """The caller waits in the conference, hearing `hold_url`'s TwiML, until the target joins.
    `endConferenceOnExit`: a caller who hangs up takes the conference (and the target) down, and
    their leaving is POSTed to `events_url` (`participant-leave`), so a target still ringing is
    called off."""
    response = VoiceResponse()
    dial = Dial()
    dial.conference(room(call_sid), start_conference_on_enter=False, end_conference_on_exit=True,
                    beep=False, wait_url=hold_url, wait_method="POST",
                    status_callback=events_url, status_callback_event="leave",
                    status_callback_method="POST")
    response.append(dial)
    return str(response)


def target_brief_twiml(call_sid: str, brief: str) -> str:
    """What the target hears on answering: the brief, then the caller. Their joining starts the
    conference; their leaving ends it (the caller's <Dial> then ends and so does the call)."""
    response = VoiceResponse()
    response.say(brief)
    dial = Dial()
    dial.conference(room(call_sid), start_conference_on_enter=True, end_conference_on_exit=True,
                    beep=False)
    response.append(dial)
    return str(response)


def hold_twiml(line: str, music_url: str = "") -> str:
    """The waitUrl's answer: the hold line, then the music (if any), then a short pause."""
    response = VoiceResponse()
    response.say(line)
    if music_url:
        response.play(music_url)
    response.pause(length=HOLD_PAUSE_S)
    return str(response)


def empty_twiml() -> str:
    """For a target who answered after the transfer was over (the caller left, or went back to the
    agent): hang up on them rather than join an empty room."""
    response = VoiceResponse()
    response.hangup()
    return str(response)
