"""What the turn-taking bench's callers say, what the fakes make of it, and what the agent says.

Shared by the bench process (the fakes need the transcripts) and the caller worker (the callers
need the audio, and the analysis needs to know which chunk a received frame belongs to: the agent
speaks a reply as chunks, its first clause and then its sentences, each one TTS request with its
own audio).

Each over-talk utterance starts on a voiced frame, so the first frame the caller sends is the
speech onset: the time the bench measures barge-in from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common import ROOT  # noqa: F401 - sets sys.path for tests.*

from console.calls.sentences import SentenceChunker
from tests.fakes.deepgram_fake import mulaw_encode, tone
from tests.fakes.groq_fake import split_tokens

FRAME_BYTES = 160  # 20 ms of 8 kHz mu-law
MAX_PAUSE_S = 0.25  # inside one utterance, under the fake recogniser's 300 ms endpointing
KINDS = ("cough", "backchannel", "command", "interruption")
FALSE_KINDS = ("cough", "backchannel")  # the agent must carry on (resume) after these
REAL_KINDS = ("command", "interruption")  # the agent must stop and answer after these
QUESTION = "what are your opening hours this week"
TRANSCRIPTS = {
    "cough": "",  # a recogniser hears noise, no words
    "backchannel": "mhm",
    "command": "Stop.",
    "interruption": "wait I have a question about that",
}


def spoken_chunks(text: str) -> tuple[str, ...]:
    """`text` as the server speaks it when the fake LLM streams it: the server's own chunker."""
    chunker = SentenceChunker()
    chunks = [chunk for token in split_tokens(text) for chunk in chunker.feed(token)]
    return (*chunks, *filter(None, [chunker.flush()]))


# The long reply the over-talk lands in: four sentences (~8.6 s at the fake's 60 ms a character)
# in five chunks ("We are open from eight until six" / "on weekdays." / ...), so a cut one has
# others before and after it.
LONG_REPLY = spoken_chunks(
    "We are open from eight until six on weekdays. On Saturdays we open at nine. "
    "We close at noon on Saturdays. Is there anything else I can help with?"
)
ANSWER = spoken_chunks("Of course. What would you like to know?")  # to anything but the question


def reply_for(request: Any) -> str:
    """FakeGroq's reply: the long one to the question (even when the server has joined the
    caller's words into one message ending with it), the short answer to anything else."""
    last = request.messages[-1]["content"].strip()
    return " ".join(LONG_REPLY if last.endswith(QUESTION) else ANSWER)


def kind_for(call: int, turn: int) -> str:
    """Over-talk kinds cycle along each call and shift by one from call to call, so one call
    gives one of each and no two neighbouring calls cough at the same turn."""
    return KINDS[(call + turn) % len(KINDS)]


@dataclass(frozen=True)
class Voice:
    """The callers' audio (mu-law, each clip starting on a voiced frame)."""

    question: bytes
    overtalk: dict[str, bytes]
    source: str

    def transcripts(self) -> dict[bytes, str]:
        """First frame of each utterance -> what the fake recogniser should hear in it."""
        keys = {first_frame(self.question): QUESTION}
        for kind, mulaw in self.overtalk.items():
            keys[first_frame(mulaw)] = TRANSCRIPTS[kind]
        if len(keys) != 1 + len(self.overtalk):
            raise ValueError("two utterances start with the same frame: transcripts would mix")
        return keys


def first_frame(mulaw: bytes) -> bytes:
    return mulaw[:FRAME_BYTES]


def load_voice(stand_in: bool) -> Voice:
    return _stand_in_voice() if stand_in else _speech_voice()


def _speech_voice() -> Voice:
    """Real speech (tests.speech: recordings shipped in the moonshine-voice wheel) for the
    question (beckett 0.32-2.69 s) and the interruption (two_cities 10.77-12.72 s); a synthetic
    cough, and espeak-ng's "mhm" and "Stop."."""
    from tests import speech

    clips = {
        "question": speech.speech_clip("beckett", 2.4),
        "cough": speech.cough(250),
        "backchannel": speech.backchannel("mhm"),
        "command": speech.command("Stop."),
        "interruption": speech.speech_clip("two_cities", 1.9, start_s=10.7),
    }
    clips = {name: _from_first_voice(speech, name, mulaw) for name, mulaw in clips.items()}
    question = clips.pop("question")
    return Voice(question=question, overtalk=clips, source="tests.speech")


def _from_first_voice(speech: Any, name: str, mulaw: bytes) -> bytes:
    """The clip from its first voiced 10 ms frame (tests.speech's own energy measure), so the
    first frame the caller sends is where its voice begins. Refuses a clip with a pause the
    fake recogniser would take for the end of the utterance (its endpointing is 300 ms): one
    utterance would become two turns."""
    spans = speech.voiced_spans(mulaw)
    if not spans:
        raise ValueError(f"{name}: no voiced frame")
    longest_pause = max(speech.pauses(mulaw), default=0.0)
    if longest_pause >= MAX_PAUSE_S:
        raise ValueError(f"{name}: a {longest_pause:.2f} s pause inside the clip")
    return mulaw[round(spans[0][0] * 8000) :]


def _stand_in_voice() -> Voice:
    """Tones and a noise burst, for a run before tests.speech existed (baseline only)."""
    import numpy as np

    noise = np.random.default_rng(7).integers(-9000, 9000, size=8 * 250)
    return Voice(
        question=tone(1600, freq=220.0),
        overtalk={
            "cough": mulaw_encode(noise),
            "backchannel": tone(350, freq=180.0),
            "command": tone(450, freq=300.0),
            "interruption": tone(2000, freq=250.0),
        },
        source="stand-in tones (tests.speech not available)",
    )


def sentence_texts() -> dict[str, tuple[str, ...]]:
    """Everything the agent may say in a turn, by role (fillers: the server's holding phrases)."""
    return {"reply": LONG_REPLY, "answer": ANSWER, "filler": _fillers()}


def _fillers() -> tuple[str, ...]:
    try:
        from console.calls.deadair import FILLERS
    except ImportError:  # the call code is being rewritten: the phrases of 3b8a919
        return ("One moment.", "Just a moment, please.", "Thanks for waiting.")
    return tuple(FILLERS)
