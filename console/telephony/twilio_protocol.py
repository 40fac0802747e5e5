"""Twilio Media Streams messages as a pure codec: text in, frozen dataclasses out, and back.

No sockets, no clocks, no I/O. Both directions are here because the simulated caller speaks
Twilio's side: `parse_inbound` / `build_*` inbound for Twilio -> us, `parse_outbound` /
`build_media` / `build_mark` / `build_clear` for us -> Twilio. The shapes follow
PROTOCOLS.md 1.3: numeric-looking fields (sequenceNumber, chunk, timestamp) travel as strings.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

MAX_MESSAGE_CHARS = 64 * 1024  # a 160-byte frame is ~300 chars of JSON; 64 KiB is generous
MAX_PAYLOAD_BYTES = 1600  # 100 ms of 8 kHz mu-law; Twilio itself sends 160 (20 ms)
DTMF_DIGITS = frozenset("0123456789*#ABCD")


class ProtocolError(ValueError):
    """A message we cannot accept. `reason` is a short machine word for counters and logs."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


# ---- Twilio -> server ---------------------------------------------------------------------


@dataclass(frozen=True)
class Connected:
    protocol: str = "Call"
    version: str = "1.0.0"


@dataclass(frozen=True)
class Start:
    stream_sid: str
    call_sid: str
    account_sid: str = ""
    sequence_number: int = 1
    tracks: tuple[str, ...] = ("inbound",)
    custom_parameters: dict[str, str] = field(default_factory=dict)
    encoding: str = "audio/x-mulaw"
    sample_rate: int = 8000
    channels: int = 1


@dataclass(frozen=True)
class Media:
    stream_sid: str
    payload: bytes
    sequence_number: int = 0
    chunk: int = 0
    timestamp: int = 0
    track: str = "inbound"


@dataclass(frozen=True)
class Dtmf:
    stream_sid: str
    digit: str
    sequence_number: int = 0
    track: str = "inbound_track"


@dataclass(frozen=True)
class Mark:
    stream_sid: str
    name: str
    sequence_number: int = 0


@dataclass(frozen=True)
class Stop:
    stream_sid: str
    account_sid: str = ""
    call_sid: str = ""
    sequence_number: int = 0


InboundEvent = Connected | Start | Media | Dtmf | Mark | Stop


# ---- server -> Twilio ---------------------------------------------------------------------


@dataclass(frozen=True)
class OutboundMedia:
    stream_sid: str
    payload: bytes


@dataclass(frozen=True)
class OutboundMark:
    stream_sid: str
    name: str


@dataclass(frozen=True)
class OutboundClear:
    stream_sid: str


OutboundEvent = OutboundMedia | OutboundMark | OutboundClear
_Event = TypeVar("_Event", InboundEvent, OutboundEvent)


# ---- field helpers ------------------------------------------------------------------------


def _load(raw: str | bytes) -> dict[str, Any]:
    if len(raw) > MAX_MESSAGE_CHARS:
        raise ProtocolError("oversized", f"{len(raw)} > {MAX_MESSAGE_CHARS}")
    try:
        message = json.loads(raw)
    except (ValueError, RecursionError) as error:  # RecursionError: "[[[[..." 64 KiB deep
        raise ProtocolError("not-json", str(error)[:80]) from None
    if not isinstance(message, dict):
        raise ProtocolError("not-object", type(message).__name__)
    return message


def _section(message: dict[str, Any], key: str) -> dict[str, Any]:
    value = message.get(key)
    if value is None:
        raise ProtocolError("missing-field", key)
    if not isinstance(value, dict):
        raise ProtocolError("bad-field", f"{key} is not an object")
    return value


def _text(data: dict[str, Any], key: str, default: str | None = None) -> str:
    value = data.get(key, default)
    if value is None:
        raise ProtocolError("missing-field", key)
    if not isinstance(value, str):
        raise ProtocolError("bad-field", f"{key} is not a string")
    return whole_characters(value)


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def whole_characters(text: str) -> str:
    """JSON may carry a lone surrogate ("\\ud800"), which is no character: SQLite refuses to
    store it and the call's record would be lost with it. It becomes U+FFFD here, at the door.
    ASCII text (every field of every media frame Twilio sends) holds none: it is returned
    without the regex pass, which was most of parsing a frame."""
    if text.isascii():
        return text
    return _LONE_SURROGATE.sub("\ufffd", text)


def _number(data: dict[str, Any], key: str) -> int:
    """Twilio sends numbers as strings ("3"); plain JSON numbers are accepted too."""
    value = data.get(key, "0")
    if isinstance(value, bool):
        raise ProtocolError("bad-field", f"{key} is not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)
    raise ProtocolError("bad-field", f"{key} is not a number")


def _audio(data: dict[str, Any]) -> bytes:
    encoded = _text(data, "payload")
    if len(encoded) > (MAX_PAYLOAD_BYTES + 2) // 3 * 4:  # refuse before decoding
        raise ProtocolError("bad-payload-size", f"{len(encoded)} base64 chars")
    try:
        payload = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ProtocolError("bad-base64", str(error)[:80]) from None
    if not 1 <= len(payload) <= MAX_PAYLOAD_BYTES:
        raise ProtocolError("bad-payload-size", f"{len(payload)} bytes")
    return payload


def _string_map(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ProtocolError("bad-field", "customParameters is not a string map")
    return {whole_characters(str(k)): whole_characters(v) for k, v in value.items()}


def _event_name(message: dict[str, Any]) -> str:
    return _text(message, "event")


# ---- inbound parsing ----------------------------------------------------------------------


def _parse_start(message: dict[str, Any]) -> Start:
    start = _section(message, "start")
    media_format = start.get("mediaFormat") or {}
    if not isinstance(media_format, dict):
        raise ProtocolError("bad-field", "mediaFormat is not an object")
    tracks = start.get("tracks", ["inbound"])
    if not isinstance(tracks, list) or not all(isinstance(t, str) for t in tracks):
        raise ProtocolError("bad-field", "tracks is not a list of strings")
    return Start(
        stream_sid=_text(start, "streamSid", message.get("streamSid")),
        call_sid=_text(start, "callSid"),
        account_sid=_text(start, "accountSid", ""),
        sequence_number=_number(message, "sequenceNumber"),
        tracks=tuple(tracks),
        custom_parameters=_string_map(start.get("customParameters")),
        encoding=_text(media_format, "encoding", "audio/x-mulaw"),
        sample_rate=_number(media_format, "sampleRate") or 8000,
        channels=_number(media_format, "channels") or 1,
    )


def _parse_media(message: dict[str, Any]) -> Media:
    media = _section(message, "media")
    return Media(
        stream_sid=_text(message, "streamSid", ""),
        payload=_audio(media),
        sequence_number=_number(message, "sequenceNumber"),
        chunk=_number(media, "chunk"),
        timestamp=_number(media, "timestamp"),
        track=_text(media, "track", "inbound"),
    )


def _parse_dtmf(message: dict[str, Any]) -> Dtmf:
    dtmf = _section(message, "dtmf")
    digit = _text(dtmf, "digit")
    if digit not in DTMF_DIGITS:
        raise ProtocolError("bad-field", f"dtmf digit {digit[:8]!r}")
    return Dtmf(
        stream_sid=_text(message, "streamSid", ""),
        digit=digit,
        sequence_number=_number(message, "sequenceNumber"),
        track=_text(dtmf, "track", "inbound_track"),
    )


def _parse_mark(message: dict[str, Any]) -> Mark:
    return Mark(
        stream_sid=_text(message, "streamSid", ""),
        name=_text(_section(message, "mark"), "name"),
        sequence_number=_number(message, "sequenceNumber"),
    )


def _parse_stop(message: dict[str, Any]) -> Stop:
    stop = message.get("stop") or {}
    if not isinstance(stop, dict):
        raise ProtocolError("bad-field", "stop is not an object")
    return Stop(
        stream_sid=_text(message, "streamSid", ""),
        account_sid=_text(stop, "accountSid", ""),
        call_sid=_text(stop, "callSid", ""),
        sequence_number=_number(message, "sequenceNumber"),
    )


def _parse_connected(message: dict[str, Any]) -> Connected:
    return Connected(
        protocol=_text(message, "protocol", "Call"), version=_text(message, "version", "1.0.0")
    )


_INBOUND_PARSERS: dict[str, Callable[[dict[str, Any]], InboundEvent]] = {
    "connected": _parse_connected,
    "start": _parse_start,
    "media": _parse_media,
    "dtmf": _parse_dtmf,
    "mark": _parse_mark,
    "stop": _parse_stop,
}


def parse_inbound(raw: str | bytes) -> InboundEvent:
    """One Twilio -> server message. Raises ProtocolError on anything we should not accept."""
    return _dispatch(raw, _INBOUND_PARSERS)


def _dispatch(raw: str | bytes, parsers: Mapping[str, Callable[[dict[str, Any]], _Event]]
              ) -> _Event:
    message = _load(raw)
    parser = parsers.get(_event_name(message))
    if parser is None:
        raise ProtocolError("unknown-event", str(message.get("event"))[:40])
    return parser(message)


# ---- outbound parsing (what the simulated caller reads) ------------------------------------


def _parse_outbound_media(message: dict[str, Any]) -> OutboundMedia:
    payload = _audio(_section(message, "media"))
    return OutboundMedia(stream_sid=_text(message, "streamSid"), payload=payload)


def _parse_outbound_mark(message: dict[str, Any]) -> OutboundMark:
    name = _text(_section(message, "mark"), "name")
    return OutboundMark(stream_sid=_text(message, "streamSid"), name=name)


def _parse_outbound_clear(message: dict[str, Any]) -> OutboundClear:
    return OutboundClear(stream_sid=_text(message, "streamSid"))


_OUTBOUND_PARSERS: dict[str, Callable[[dict[str, Any]], OutboundEvent]] = {
    "media": _parse_outbound_media,
    "mark": _parse_outbound_mark,
    "clear": _parse_outbound_clear,
}


def parse_outbound(raw: str | bytes) -> OutboundEvent:
    """One server -> Twilio message. Raises ProtocolError like `parse_inbound`."""
    return _dispatch(raw, _OUTBOUND_PARSERS)


# ---- builders -----------------------------------------------------------------------------


def _dump(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))


def _b64(audio: bytes) -> str:
    return base64.b64encode(audio).decode("ascii")


def build_media(stream_sid: str, mulaw: bytes) -> str:
    """Server -> Twilio audio (any whole number of mu-law bytes; we send 160)."""
    return _dump({"event": "media", "streamSid": stream_sid, "media": {"payload": _b64(mulaw)}})


def build_mark(stream_sid: str, name: str) -> str:
    return _dump({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})


def build_clear(stream_sid: str) -> str:
    return _dump({"event": "clear", "streamSid": stream_sid})


def build_connected() -> str:
    return _dump({"event": "connected", "protocol": "Call", "version": "1.0.0"})


def build_start(
    stream_sid: str,
    call_sid: str,
    account_sid: str,
    custom_parameters: dict[str, str] | None = None,
    sequence_number: int = 1,
) -> str:
    start = {
        "accountSid": account_sid,
        "streamSid": stream_sid,
        "callSid": call_sid,
        "tracks": ["inbound"],
        "customParameters": dict(custom_parameters or {}),
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
    }
    return _dump(
        {
            "event": "start",
            "sequenceNumber": str(sequence_number),
            "start": start,
            "streamSid": stream_sid,
        }
    )


def build_inbound_media(
    stream_sid: str, mulaw: bytes, sequence_number: int, chunk: int, timestamp: int
) -> str:
    media = {
        "track": "inbound",
        "chunk": str(chunk),
        "timestamp": str(timestamp),
        "payload": _b64(mulaw),
    }
    return _dump(
        {
            "event": "media",
            "sequenceNumber": str(sequence_number),
            "media": media,
            "streamSid": stream_sid,
        }
    )


def build_dtmf(stream_sid: str, digit: str, sequence_number: int) -> str:
    return _dump(
        {
            "event": "dtmf",
            "streamSid": stream_sid,
            "sequenceNumber": str(sequence_number),
            "dtmf": {"track": "inbound_track", "digit": digit},
        }
    )


def build_mark_echo(stream_sid: str, name: str, sequence_number: int) -> str:
    return _dump(
        {
            "event": "mark",
            "sequenceNumber": str(sequence_number),
            "streamSid": stream_sid,
            "mark": {"name": name},
        }
    )


def build_stop(stream_sid: str, account_sid: str, call_sid: str, sequence_number: int) -> str:
    return _dump(
        {
            "event": "stop",
            "sequenceNumber": str(sequence_number),
            "streamSid": stream_sid,
            "stop": {"accountSid": account_sid, "callSid": call_sid},
        }
    )
