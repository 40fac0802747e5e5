"""The Twilio Media Streams codec, table-tested with the example messages of PROTOCOLS.md 1.3."""

from __future__ import annotations

import base64
import json

import pytest

from console.telephony import twilio_protocol as tp

SID = "MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
CALL = "CAXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
ACCOUNT = "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"

# Verbatim from PROTOCOLS.md 1.3 ("Twilio -> your server").
DOC_CONNECTED = '{"event": "connected", "protocol": "Call", "version": "1.0.0"}'
DOC_START = """{
  "event": "start",
  "sequenceNumber": "1",
  "start": {
    "accountSid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    "streamSid": "MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    "callSid": "CAXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    "tracks": ["inbound"],
    "customParameters": {"caller": "+15550001111", "session": "s1"},
    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
  },
  "streamSid": "MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
}"""
DOC_MEDIA = """{
  "event": "media",
  "sequenceNumber": "3",
  "media": {"track": "inbound", "chunk": "1", "timestamp": "5", "payload": "/////w=="},
  "streamSid": "MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
}"""
DOC_DTMF = (
    '{"event": "dtmf", "streamSid": "MZ...", "sequenceNumber": "5", '
    '"dtmf": {"track": "inbound_track", "digit": "1"}}'
)
DOC_MARK = (
    '{"event": "mark", "sequenceNumber": "4", "streamSid": "MZ...", "mark": {"name": "utt-42"}}'
)
DOC_STOP = (
    '{"event": "stop", "sequenceNumber": "5", "streamSid": "MZ...", '
    '"stop": {"accountSid": "AC...", "callSid": "CA..."}}'
)

INBOUND_TABLE = [
    (DOC_CONNECTED, tp.Connected(protocol="Call", version="1.0.0")),
    (
        DOC_START,
        tp.Start(
            stream_sid=SID,
            call_sid=CALL,
            account_sid=ACCOUNT,
            sequence_number=1,
            tracks=("inbound",),
            custom_parameters={"caller": "+15550001111", "session": "s1"},
        ),
    ),
    (
        DOC_MEDIA,
        tp.Media(
            stream_sid=SID,
            payload=b"\xff\xff\xff\xff",
            sequence_number=3,
            chunk=1,
            timestamp=5,
            track="inbound",
        ),
    ),
    (DOC_DTMF, tp.Dtmf(stream_sid="MZ...", digit="1", sequence_number=5)),
    (DOC_MARK, tp.Mark(stream_sid="MZ...", name="utt-42", sequence_number=4)),
    (
        DOC_STOP,
        tp.Stop(stream_sid="MZ...", account_sid="AC...", call_sid="CA...", sequence_number=5),
    ),
]


@pytest.mark.parametrize(
    ("raw", "expected"), INBOUND_TABLE, ids=lambda v: getattr(v, "event", None)
)
def test_every_documented_twilio_message_parses_to_its_dataclass(raw, expected):
    assert tp.parse_inbound(raw) == expected


# ("server -> Twilio" in PROTOCOLS.md 1.3)
DOC_OUT_MEDIA = '{"event": "media", "streamSid": "MZ...", "media": {"payload": "/////w=="}}'
DOC_OUT_MARK = '{"event": "mark",  "streamSid": "MZ...", "mark": {"name": "utt-42"}}'
DOC_OUT_CLEAR = '{"event": "clear", "streamSid": "MZ..."}'


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (DOC_OUT_MEDIA, tp.OutboundMedia("MZ...", b"\xff\xff\xff\xff")),
        (DOC_OUT_MARK, tp.OutboundMark("MZ...", "utt-42")),
        (DOC_OUT_CLEAR, tp.OutboundClear("MZ...")),
    ],
)
def test_documented_outbound_messages_parse_for_the_simulated_caller(raw, expected):
    assert tp.parse_outbound(raw) == expected


def test_outbound_builders_produce_exactly_the_documented_shapes():
    assert json.loads(tp.build_media("MZ...", b"\xff" * 4)) == json.loads(DOC_OUT_MEDIA)
    assert json.loads(tp.build_mark("MZ...", "utt-42")) == json.loads(DOC_OUT_MARK)
    assert json.loads(tp.build_clear("MZ...")) == json.loads(DOC_OUT_CLEAR)


def test_inbound_builders_produce_the_documented_shapes_with_numbers_as_strings():
    start = tp.build_start(SID, CALL, ACCOUNT, {"caller": "+15550001111", "session": "s1"}, 1)
    assert json.loads(start) == json.loads(DOC_START)
    media = tp.build_inbound_media(SID, b"\xff" * 4, sequence_number=3, chunk=1, timestamp=5)
    assert json.loads(media) == json.loads(DOC_MEDIA)
    assert json.loads(tp.build_dtmf("MZ...", "1", 5)) == json.loads(DOC_DTMF)
    assert json.loads(tp.build_mark_echo("MZ...", "utt-42", 4)) == json.loads(DOC_MARK)
    assert json.loads(tp.build_stop("MZ...", "AC...", "CA...", 5)) == json.loads(DOC_STOP)
    assert json.loads(tp.build_connected()) == json.loads(DOC_CONNECTED)


def test_what_the_builders_write_the_parsers_read_back():
    frame = bytes(range(160))
    assert tp.parse_inbound(tp.build_inbound_media(SID, frame, 7, 6, 100)).payload == frame
    assert tp.parse_outbound(tp.build_media(SID, frame)) == tp.OutboundMedia(SID, frame)


def _media(payload: str) -> str:
    return json.dumps({"event": "media", "streamSid": SID, "media": {"payload": payload}})


def _b64(size: int) -> str:
    return base64.b64encode(b"\x00" * size).decode()


REJECTIONS = [
    ("not-json", "{not json"),
    ("not-json", "[" * 5000 + "]" * 5000),
    ("not-object", "[1, 2, 3]"),
    ("not-object", '"media"'),
    ("missing-field", '{"streamSid": "MZ"}'),
    ("bad-field", '{"event": 7}'),
    ("unknown-event", '{"event": "bogus"}'),
    ("unknown-event", '{"event": "clear", "streamSid": "MZ"}'),  # outbound-only on this side
    ("missing-field", '{"event": "media", "streamSid": "MZ"}'),
    ("missing-field", '{"event": "media", "media": {}}'),
    ("bad-field", '{"event": "media", "media": "payload"}'),
    ("bad-field", '{"event": "media", "media": {"payload": 12}}'),
    ("bad-base64", _media("!!!not base64!!!")),
    ("bad-base64", _media("/////w=")),
    ("bad-payload-size", _media("")),
    ("bad-payload-size", _media(_b64(1601))),
    ("bad-field", '{"event": "media", "sequenceNumber": "x1", "media": {"payload": "/w=="}}'),
    ("missing-field", '{"event": "start", "start": {"streamSid": "MZ"}}'),
    (
        "bad-field",
        '{"event": "start", "start": {"callSid": "CA", "streamSid": "MZ", '
        '"customParameters": {"a": 1}}}',
    ),
    ("bad-field", '{"event": "dtmf", "dtmf": {"digit": "12"}}'),
    ("missing-field", '{"event": "dtmf", "dtmf": {}}'),
    ("missing-field", '{"event": "mark", "streamSid": "MZ"}'),
    ("oversized", _media("A" * (tp.MAX_MESSAGE_CHARS + 1))),
]


@pytest.mark.parametrize(("reason", "raw"), REJECTIONS, ids=[r for r, _ in REJECTIONS])
def test_bad_inbound_messages_are_rejected_with_a_short_machine_reason(reason, raw):
    with pytest.raises(tp.ProtocolError) as caught:
        tp.parse_inbound(raw)
    assert caught.value.reason == reason


@pytest.mark.parametrize("size", [1, 160, 800, 1600])
def test_any_whole_payload_from_one_byte_to_100_ms_is_accepted(size):
    assert len(tp.parse_inbound(_media(_b64(size))).payload) == size


def test_plain_json_numbers_are_accepted_where_twilio_sends_strings():
    raw = '{"event": "mark", "sequenceNumber": 4, "streamSid": "MZ", "mark": {"name": "a"}}'
    assert tp.parse_inbound(raw).sequence_number == 4


def test_a_bare_mark_without_a_name_object_is_rejected_on_the_outbound_side_too():
    with pytest.raises(tp.ProtocolError) as caught:
        tp.parse_outbound('{"event": "mark", "streamSid": "MZ"}')
    assert caught.value.reason == "missing-field"


def test_a_lone_surrogate_from_the_wire_becomes_a_replacement_character() -> None:
    message = json.dumps({"event": "start", "sequenceNumber": "1", "start": {
        "callSid": "CA" + "0" * 32, "streamSid": "MZ" + "0" * 32,
        "customParameters": {"caller": "+1555\ud800"}}})
    start = tp.parse_inbound(message)
    assert start.custom_parameters == {"caller": "+1555\ufffd"}
