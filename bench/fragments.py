"""A sentence said with a pause inside it, the way a person pauses: rendered whole, then cut.

A person who stops to think in the middle of a sentence ("I'm calling about my prescription
... for blood pressure pills") keeps the pitch of a sentence that goes on: no final fall before
the pause. Falls to low go with turn ends, a level pitch (a plateau) with the speaker holding
the turn (Gravano & Hirschberg 2011, "Turn-taking cues in task-oriented dialogue", Computer
Speech and Language 25: 601-634). espeak-ng, given the fragment as a line of its own, ends it as
a finished sentence, falling to the bottom of its range ("prescription" alone ends near 78 Hz;
inside the sentence, near 104 Hz). So `split_sentence` renders the whole sentence once, through
libespeak-ng itself (the library the espeak-ng command line runs: the same voice, rate and
samples), and cuts it at the sample where espeak starts the rest's first word (its word events).
A fragment that ends on a comma is said the same either way: espeak gives a trailing comma its
continuation rise alone too.

ctypes, no new dependency; libespeak-ng.so.1 comes with the espeak-ng package.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from speech_calls import trimmed  # noqa: I001 - bench/ is on sys.path

from console.simulate.wav import Pcm, to_mulaw_8k

_SYNCHRONOUS = 2  # AUDIO_OUTPUT_SYNCHRONOUS: the callback gets the audio, nothing plays
_WORD_EVENT, _LIST_END = 1, 0  # espeakEVENT_WORD, espeakEVENT_LIST_TERMINATED
_RATE_PARAMETER = 1  # espeakRATE, words a minute
_POS_CHARACTER, _CHARS_UTF8 = 1, 1


class _Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", ctypes.c_char * 8)]  # fmt: skip


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.POINTER(_Event))


@dataclass(frozen=True)
class Split:
    fragment: bytes  # 8 kHz mu-law, trimmed to its voice
    rest: bytes


def split_sentence(fragment: str, rest: str, words_per_minute: int) -> Split:
    """`fragment` and `rest` cut from one rendering of "`fragment` `rest`"."""
    samples, word_starts = _render(f"{fragment} {rest}", words_per_minute)
    cut = word_starts[len(fragment) + 2]  # text positions count from 1; one space between
    rate = _espeak()[1]
    return Split(trimmed(_mulaw(samples[:cut], rate)), trimmed(_mulaw(samples[cut:], rate)))


def _mulaw(samples: np.ndarray, rate: int) -> bytes:
    return to_mulaw_8k(Pcm(samples.astype("<i2").tobytes(), rate))


def _render(text: str, words_per_minute: int) -> tuple[np.ndarray, dict[int, int]]:
    """espeak-ng's samples for `text`, and the sample each word starts at, by the word's
    text position (1-based)."""
    lib, _rate = _espeak()
    chunks: list[np.ndarray] = []
    starts: dict[int, int] = {}

    def heard(wav: Any, count: int, events: Any) -> int:
        if count > 0:
            chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        index = 0
        while events[index].type != _LIST_END:
            if events[index].type == _WORD_EVENT:
                starts[events[index].text_position] = events[index].sample
            index += 1
        return 0

    callback = _CALLBACK(heard)  # held here: ctypes must not collect it mid-synthesis
    lib.espeak_SetSynthCallback(callback)
    lib.espeak_SetParameter(_RATE_PARAMETER, words_per_minute, 0)
    data = text.encode("utf-8")
    lib.espeak_Synth(ctypes.create_string_buffer(data), len(data) + 1, 0, _POS_CHARACTER, 0,
                     _CHARS_UTF8, None, None)
    lib.espeak_Synchronize()
    return np.concatenate(chunks), starts


@cache
def _espeak() -> tuple[Any, int]:
    """libespeak-ng, initialised once (en-us), and its sample rate."""
    lib = ctypes.CDLL(ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1")
    rate = lib.espeak_Initialize(_SYNCHRONOUS, 0, None, 0)
    if rate <= 0 or lib.espeak_SetVoiceByName(b"en-us") != 0:
        raise RuntimeError("libespeak-ng could not start with the en-us voice")
    return lib, rate
