"""Per-turn latency stamps, in the vocabulary of DESIGN.md:
speech end -> STT final -> LLM first token -> first sentence -> TTS first byte -> first frame sent
-> first mark played. Voice-to-voice = speech end -> first frame sent.

`first_sentence` is when the reply's first chunk went to TTS: since replies start speaking at their
first clause ("Sure,"), that is usually before the first sentence ends. The name stays because
stored call metrics, the TUI and the benches key on it."""

from __future__ import annotations

from dataclasses import dataclass, field

STAGES = (
    "speech_end",
    "stt_final",
    "llm_request",
    "llm_first_token",
    "first_sentence",
    "tts_first_byte",
    "first_frame_sent",
    "first_mark_played",
)


@dataclass
class TurnClock:
    """Monotonic stamps for one agent reply. Only the first stamp of each stage counts."""

    stamps: dict[str, float] = field(default_factory=dict)

    def stamp(self, stage: str, at: float) -> None:
        self.stamps.setdefault(stage, at)

    def has(self, stage: str) -> bool:
        return stage in self.stamps

    def report(self) -> dict[str, float]:
        """Milliseconds: each stage's gap from the previous one, plus the headline totals."""
        out: dict[str, float] = {}
        previous: str | None = None
        for stage in STAGES:
            if stage not in self.stamps:
                continue
            if previous is not None:
                out[f"{previous}->{stage}"] = _ms(self.stamps[stage] - self.stamps[previous])
            previous = stage
        self._add_total(out, "voice_to_voice", "speech_end", "first_frame_sent")
        self._add_total(out, "llm_ttft", "llm_request", "llm_first_token")
        self._add_total(out, "tts_ttfb", "first_sentence", "tts_first_byte")
        self._add_total(out, "played", "speech_end", "first_mark_played")
        return out

    def _add_total(self, out: dict[str, float], name: str, start: str, end: str) -> None:
        if start in self.stamps and end in self.stamps:
            out[name] = _ms(self.stamps[end] - self.stamps[start])


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 2)
