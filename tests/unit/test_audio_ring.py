"""The per-call ring of the last 15 s (console/audio_ring.py): both legs on the caller's clock,
what the caller heard placed where it played, fixed memory however long the call, and a copy
that goes on exactly where the original was."""

from __future__ import annotations

from console.audio_ring import CallRing

FRAME = 160  # 20 ms of mu-law
QUIET = 0xFF


def frame(value: int) -> bytes:
    return bytes([value]) * FRAME


def test_agent_audio_plays_where_it_was_sent_on_the_callers_clock() -> None:
    ring = CallRing()
    for _ in range(5):  # 100 ms of the caller, then the agent answers
        ring.add("caller", frame(1))
    ring.add("agent", frame(2))
    ring.add("agent", frame(3))  # sent ahead (the pacer's lead): plays after the first
    for _ in range(5):
        ring.add("caller", frame(1))
    heard = ring.read("agent", 0, 10 * FRAME)
    assert heard == bytes([QUIET]) * 800 + frame(2) + frame(3) + bytes([QUIET]) * 480
    assert ring.read("caller", 0, 10 * FRAME) == frame(1) * 10


def test_a_pause_in_the_agents_speech_is_silence_not_a_splice() -> None:
    ring = CallRing()
    ring.add("caller", frame(1))
    ring.add("agent", frame(2))  # plays 20-40 ms
    for _ in range(4):
        ring.add("caller", frame(1))  # now 100 ms
    ring.add("agent", frame(3))  # plays 100-120 ms, not straight after the first
    ring.add("caller", frame(1))
    heard = ring.read("agent", 0, 6 * FRAME)
    assert heard[FRAME : 2 * FRAME] == frame(2) and heard[5 * FRAME :] == frame(3)
    assert heard[2 * FRAME : 5 * FRAME] == bytes([QUIET]) * 3 * FRAME


def test_only_the_last_15_seconds_are_kept_in_fixed_memory() -> None:
    ring = CallRing()
    size = len(ring._legs["caller"]) + len(ring._legs["agent"])
    for n in range(60 * 50):  # a minute of calls: frame n carries n % 250
        ring.add("caller", frame(n % 250))
        ring.add("agent", frame(n % 250))
    assert len(ring._legs["caller"]) + len(ring._legs["agent"]) == size == 256_000
    assert ring.caller_end == 60 * 8000 and ring.start == 45 * 8000
    oldest = ring.read("caller", ring.start, ring.start + FRAME)
    assert oldest == frame((45 * 50) % 250)
    assert ring.read("caller", 0, FRAME) == bytes([QUIET]) * FRAME  # long gone: silence


def test_an_agent_far_ahead_of_a_stalled_caller_is_cut_at_a_second() -> None:
    ring = CallRing()
    ring.add("caller", frame(1))
    for _ in range(100):  # 2 s sent while the caller's stream stalls
        ring.add("agent", frame(2))
    assert ring.heard_end == FRAME + 8000 and ring.dropped == 50 * FRAME


def test_a_copy_continues_exactly_where_the_call_was_and_alone() -> None:
    ring = CallRing()
    for _ in range(3):
        ring.add("caller", frame(1))
    twin = ring.copy()
    twin.add("caller", frame(7))
    ring.add("caller", frame(9))
    assert twin.read("caller", 0, 4 * FRAME) == frame(1) * 3 + frame(7)
    assert ring.read("caller", 0, 4 * FRAME) == frame(1) * 3 + frame(9)
