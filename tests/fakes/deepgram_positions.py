"""Transcripts by audio position, for `FakeDeepgram(transcribe=...)`.

With a script, the fake gives the n-th utterance the n-th transcript. That breaks as soon as the
server cuts the caller's audio into utterances differently than the script's author did (a
`Finalize` inside a phrase, a long pause that closes an utterance the author thought of as one).
A recogniser really transcribes the audio of each window it closes; `ClipTimeline` does the same
for known clips: every word of a clip has a time (its phrase's words spread evenly over the
phrase), and a window gets the words timed inside it, so any cut gives every word exactly once.

Clips are found in a socket's audio by content: the server forwards the caller's mu-law frames
unchanged, so a clip's first non-silent 20 ms frame marks where the clip sits on that socket's
audio timeline (bytes received / 8000), however long the greeting or the wait before it was.

    timeline = ClipTimeline([Clip(audio, [Phrase(0.0, 1.2, "I'd like to book a table for")])])
    # in FakeDeepgram._on_audio: timeline.heard(rec.connection, bytes_before_this_data, data)
    FakeDeepgram(transcribe=timeline.transcribe)
"""

from __future__ import annotations

from dataclasses import dataclass, field

SAMPLE_RATE = 8000
FRAME_BYTES = 160  # 20 ms of 8 kHz mu-law
SILENCE_BYTE = 0xFF  # mu-law zero


@dataclass(frozen=True)
class Phrase:
    """What was said from `start_s` to `end_s` (seconds from the clip's first byte)."""

    start_s: float
    end_s: float
    text: str


def timed_words(phrases: list[Phrase]) -> list[tuple[float, str]]:
    """Every word with a time: word i of a phrase's n words sits at the middle of the phrase's
    i-th n-th, so a window closed inside a phrase holds the words said before the cut."""
    timed: list[tuple[float, str]] = []
    for phrase in phrases:
        words = phrase.text.split()
        step = (phrase.end_s - phrase.start_s) / max(1, len(words))
        timed += [(phrase.start_s + (i + 0.5) * step, word) for i, word in enumerate(words)]
    return sorted(timed, key=lambda item: item[0])


def words_between(timed: list[tuple[float, str]], start_s: float, end_s: float) -> str:
    """The words timed in [start_s, end_s), joined by spaces."""
    return " ".join(word for at, word in timed if start_s <= at < end_s)


@dataclass(frozen=True)
class Clip:
    """Audio a caller sends (mu-law) and what is said in it."""

    audio: bytes
    phrases: list[Phrase]

    def anchor(self, frames: int = 1) -> tuple[bytes, int]:
        """`frames` 20 ms frames from the first one that is not digital silence, and the byte
        offset where they begin in the clip."""
        for offset in range(0, len(self.audio) - FRAME_BYTES + 1, FRAME_BYTES):
            if self.audio[offset : offset + FRAME_BYTES].count(SILENCE_BYTE) < FRAME_BYTES:
                return self.audio[offset : offset + frames * FRAME_BYTES], offset
        raise ValueError("a clip of digital silence cannot be found in a stream")


@dataclass
class ClipTimeline:
    """Where each clip was heard on each listen socket, and the words of any window of it.
    `anchor_frames`: how much of each clip's start identifies it (more when clips may start
    alike, e.g. two synthesized lines that both begin with "I")."""

    clips: list[Clip]
    anchor_frames: int = 1
    found: dict[int, list[tuple[float, Clip]]] = field(default_factory=dict)
    """connection -> (clip start on that socket's audio timeline, clip), in order found."""
    _anchors: list[tuple[bytes, int, Clip]] = field(init=False)
    _tails: dict[int, bytes] = field(default_factory=dict)
    _words: dict[int, list[tuple[float, str]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._anchors = [(*clip.anchor(self.anchor_frames), clip) for clip in self.clips]
        keys = [key for key, _, _ in self._anchors]
        if len(set(keys)) != len(keys):
            raise ValueError("two clips start with the same frame: they could not be told apart")

    def heard(self, connection: int, position: int, data: bytes) -> None:
        """`data` arrived on `connection` after `position` bytes: note any clip that starts in
        it (a frame split between two messages is found too)."""
        tail = self._tails.get(connection, b"")
        window = tail + data
        seen = {id(clip) for _, clip in self.found.get(connection, [])}
        for key, offset, clip in self._anchors:
            at = window.find(key)
            if at >= 0 and id(clip) not in seen:
                start = (position - len(tail) + at - offset) / SAMPLE_RATE
                self.found.setdefault(connection, []).append((start, clip))
                self._words.pop(connection, None)
        longest = max((len(key) for key, _, _ in self._anchors), default=1)
        self._tails[connection] = window[-(longest - 1) :] if longest > 1 else b""

    def transcribe(self, connection: int, start_s: float, end_s: float) -> str:
        """The hook for FakeDeepgram: words of every clip found on `connection` timed in
        [start_s, end_s) of its audio timeline."""
        return words_between(self._timed(connection), start_s, end_s)

    def _timed(self, connection: int) -> list[tuple[float, str]]:
        if connection not in self._words:
            timed = [
                (start + at, word)
                for start, clip in self.found.get(connection, [])
                for at, word in timed_words(clip.phrases)
            ]
            self._words[connection] = sorted(timed, key=lambda item: item[0])
        return self._words[connection]
