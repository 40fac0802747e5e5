"""What the caller actually heard of the agent.

Each spoken sentence is a segment spanning a range of frame indices (the pacer's enqueue order).
Marks confirm whole segments; between marks the pacer's playout clock says how far into a segment
playback got, so an interrupted turn is cut to the words that were played. A segment keeps its
audio, so a reply held for the caller can be played again from the sentence that was cut.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Segment:
    text: str
    first_frame: int
    end_frame: int
    mark: str = ""  # set once the whole sentence is queued; cleared when a hold drops it
    played: bool = False
    audio: bytearray = field(default_factory=bytearray)
    complete: bool = False  # all of the sentence's audio is in `audio`
    queued: bool = True  # its audio (so far) is in the pacer's queue or already sent


@dataclass
class SpokenLog:
    segments: list[Segment] = field(default_factory=list)

    def begin(self, text: str, first_frame: int, *, queued: bool = True) -> Segment:
        """A sentence starts being spoken; its end grows as its audio is queued."""
        segment = Segment(text, first_frame, first_frame, queued=queued)
        self.segments.append(segment)
        return segment

    def mark_played(self, mark: str) -> Segment | None:
        for segment in self.segments:
            if not mark:
                break
            if segment.mark == mark:
                segment.played = True
                return segment
        return None

    @property
    def all_played(self) -> bool:
        # A segment without a mark is still being spoken, or was dropped by a hold: not played.
        return bool(self.segments) and all(s.played for s in self.segments)

    def full_text(self) -> str:
        return " ".join(s.text for s in self.segments)

    def heard_text(self, frames_played: int) -> str:
        """Whole segments that were played, then the played share of the one in progress."""
        heard: list[str] = []
        for segment in self.segments:
            if segment.played or (segment.queued and frames_played >= segment.end_frame):
                heard.append(segment.text)
                continue
            partial = _played_words(segment, frames_played) if segment.queued else ""
            if partial:
                heard.append(partial + "—")
            break
        return " ".join(heard)

    def rewind(self, frames_played: int) -> None:
        """The pacer's queue (and Twilio's buffer) were just dropped: segments played to the end
        count as heard; every other one must be queued again, from its first word. Their marks
        are forgotten, so the echoes the `clear` brings back are not taken as played."""
        for segment in self.segments:
            if segment.played or (segment.queued and frames_played >= segment.end_frame):
                segment.played = True
                continue
            segment.mark, segment.queued = "", False

    def unqueued(self) -> list[Segment]:
        return [s for s in self.segments if not s.queued]


def _played_words(segment: Segment, frames_played: int) -> str:
    length = max(1, segment.end_frame - segment.first_frame)
    share = (frames_played - segment.first_frame) / length
    if share <= 0:
        return ""
    words = segment.text.split()
    return " ".join(words[: int(len(words) * share)])
