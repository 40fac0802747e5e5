"""The simulated caller's report: plain JSON-able numbers a test or bench can read.

Times are milliseconds since the call started (the `start` message). Latencies:
- `utterances[i].reply_latency_ms`: caller speech end -> first agent frame of the next agent turn
  (what the caller experiences as voice-to-voice, network included);
- `clears[j].since_speech_start_ms`: the caller's latest speech start -> `clear` received
  (barge-in latency).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from console.simulate.log import CallLog
from console.simulate.options import CallerOptions


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def gap_stats(times: list[float]) -> dict[str, float]:
    """Spacing of consecutive frames (ms): mean near 20 means real-time cadence."""
    if len(times) < 2:
        return {"count": 0}
    gaps = np.diff(np.asarray(times)) * 1000
    return {
        "count": int(gaps.size),
        "mean": round(float(gaps.mean()), 2),
        "p50": round(float(np.percentile(gaps, 50)), 2),
        "p95": round(float(np.percentile(gaps, 95)), 2),
        "max": round(float(gaps.max()), 2),
    }


def _utterance(record: dict[str, Any], turn_starts: list[float]) -> dict[str, Any]:
    end = record.get("end")
    reply = next((t for t in turn_starts if end is not None and t > end), None)
    return {
        "index": record["index"],
        "label": record["label"],
        "barge_in": record["barge_in"],
        "speech_start_ms": _ms(record.get("start")),
        "speech_end_ms": _ms(end),
        "reply_latency_ms": _ms(None if reply is None or end is None else reply - end),
    }


def _clear(at: float, speech: list[dict[str, Any]]) -> dict[str, Any]:
    starts = [r["start"] for r in speech if r.get("start") is not None and r["start"] <= at]
    return {
        "at_ms": _ms(at),
        "since_speech_start_ms": _ms(at - starts[-1]) if starts else None,
    }


def build_summary(log: CallLog, options: CallerOptions) -> dict[str, Any]:
    """The call's log as JSON-able numbers (milliseconds), with the options it ran under."""
    return {
        "call_sid": options.call_sid,
        "stream_sid": options.stream_sid,
        "connected": log.connected,
        "ended_by": log.ended_by,
        "close_code": log.close_code,
        "fast": options.fast,
        "duration_ms": _ms(log.duration),
        "frames_sent": len(log.sent_at),
        "speech_frames_sent": log.speech_frames_sent,
        "frames_received": len(log.received_at),
        "marks_received": log.marks_received,
        "marks_echoed": list(log.marks_echoed),
        "clears_received": len(log.clears),
        "clears": [_clear(at, log.speech) for at in log.clears],
        "utterances": [_utterance(r, log.turn_starts) for r in log.speech],
        "agent_turns_ms": [_ms(t) for t in log.turn_starts],
        "dtmf_sent": log.dtmf_sent,
        "heard_ms": log.heard_bytes // 8,
        "sent_gaps_ms": gap_stats(log.sent_at),
        "received_gaps_ms": gap_stats(log.received_at),
        "protocol_errors": log.protocol_errors,
        "errors": list(log.errors),
    }
