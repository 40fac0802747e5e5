"""Smart Turn bench: would a prosodic end-of-turn model pay for itself next to the release rule?

    python bench/smart_turn.py --model PATH/smart-turn-v3.2-cpu.onnx [--json-out PATH]

JSON goes to stdout and to --json-out (default bench/results/smart_turn-<time>.json).

Smart Turn v3 (BSD-2-Clause) is not a dependency: its ONNX file ships inside the pipecat-ai
wheel (pipecat/audio/turn/smart_turn/data/). Unpack that wheel anywhere and pass the path.
The bench needs onnxruntime, faster-whisper and soxr, all of which the local tier installs.

What it measures, with the model's own threshold (probability > 0.5 = "the turn is complete"):
- real speech (tests.speech.RECORDINGS): every word end the local Whisper (tiny.en, word
  timestamps) finds, the audio cut there. A word the text ends with . ! ? is a sentence end
  (the model should say complete); any other is mid-sentence (it should say incomplete).
- the mid-sentence-pause bench's 20 sentences in espeak-ng (bench/midpause.py): the fragment
  said alone, the fragment cut out of the whole sentence, and the whole sentence.
- CPU per inference (process CPU: resampling, log-mel and the model), p50 over all of them.

Measured (one run, 2-core machine, onnxruntime 1.32, one intra-op thread): 93 ms of process CPU
per inference (47 ms of wall time). Real speech: 11 of 27 sentence ends judged complete, 21 of
174 mid-sentence word ends judged complete. espeak: 4 of 20 whole sentences judged complete, 8
of 20 fragments cut out of their sentence (fragments ending on "for" or "near": 0.96-0.98). At
50 calls, a candidate turn end every ~5 s a call is 10 inferences a second: about one core, more
than the whole server spends on those calls today. It stays out of the product: see the README's
"Answering sooner".
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import pct  # noqa: I001 - sets sys.path
from midpause import SENTENCES
from speech_calls import save_and_print, trimmed

from console.audio_codec import mulaw_to_pcm16
from console.providers.local.stt import load_whisper_model
from console.simulate.voice import render_line
from tests.speech import RECORDINGS, recording

MODEL_RATE = 16000
WINDOW_S = 8  # the model reads the last 8 s, zero-padded at the front
COMPLETE = 0.5
SENTENCE_END = re.compile(r"[.!?]$")


class SmartTurn:
    """The ONNX model on one thread, fed as its authors feed it: 16 kHz, the last 8 s,
    zero-mean unit-variance, Whisper's 80-bin log-mel."""

    def __init__(self, model: Path) -> None:
        import onnxruntime
        from faster_whisper.feature_extractor import FeatureExtractor

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(str(model), options,
                                                    providers=["CPUExecutionProvider"])
        self.features = FeatureExtractor(chunk_length=WINDOW_S)
        self.cpu_s: list[float] = []

    def complete(self, mulaw: bytes) -> float:
        started = time.process_time()
        wave = _pcm16k(mulaw)[-WINDOW_S * MODEL_RATE :]
        wave = np.pad(wave, (WINDOW_S * MODEL_RATE - len(wave), 0))
        wave = (wave - wave.mean()) / np.sqrt(wave.var() + 1e-7)
        mel = self.features(wave, padding=0)[:, : WINDOW_S * 100][None].astype(np.float32)
        probability = float(self.session.run(None, {"input_features": mel})[0].ravel()[0])
        self.cpu_s.append(time.process_time() - started)
        return probability


def _pcm16k(mulaw: bytes) -> np.ndarray:
    import soxr

    samples = np.frombuffer(mulaw_to_pcm16(mulaw), dtype="<i2").astype(np.float32) / 32768
    return soxr.resample(samples, 8000, MODEL_RATE)


def _word_ends(mulaw: bytes) -> list[tuple[str, float]]:
    segments, _ = load_whisper_model().transcribe(_pcm16k(mulaw), word_timestamps=True,
                                                  language="en")
    return [(word.word.strip(), word.end) for segment in segments for word in segment.words]


def real_speech(model: SmartTurn) -> dict[str, Any]:
    judged: dict[str, list[float]] = {"sentence_end": [], "mid_sentence": []}
    for name in RECORDINGS:
        audio = recording(name)
        for word, end in _word_ends(audio)[:-1]:  # the last word has no speech after it
            kind = "sentence_end" if SENTENCE_END.search(word) else "mid_sentence"
            judged[kind].append(model.complete(audio[: int(end * 8000)]))
    return {kind: _summary(probabilities) for kind, probabilities in judged.items()}


def espeak(model: SmartTurn) -> dict[str, Any]:
    judged: dict[str, list[float]] = {"fragment_alone": [], "fragment_cut": [], "whole": []}
    for _kind, fragment, rest in SENTENCES:
        whole = trimmed(render_line(f"{fragment} {rest}", words_per_minute=165))
        ends = _word_ends(whole)
        count = len(fragment.split())
        judged["fragment_alone"].append(model.complete(trimmed(render_line(fragment))))
        judged["whole"].append(model.complete(whole))
        if len(ends) >= count:
            judged["fragment_cut"].append(model.complete(whole[: int(ends[count - 1][1] * 8000)]))
    return {kind: _summary(probabilities) for kind, probabilities in judged.items()}


def _summary(probabilities: list[float]) -> dict[str, Any]:
    return {"count": len(probabilities),
            "judged_complete": sum(p > COMPLETE for p in probabilities),
            "p50": pct(probabilities, 50)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="smart-turn-v3.2-cpu.onnx")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)
    if not args.model.is_file():
        parser.error(f"no model at {args.model} (unpack pipecat-ai's wheel; see the docstring)")
    model = SmartTurn(args.model)
    result = {"real_speech": real_speech(model), "espeak": espeak(model),
              "cpu_ms_per_inference_p50": pct([1000 * s for s in model.cpu_s], 50),
              "inferences": len(model.cpu_s)}  # fmt: skip
    headline = {kind: {k: v["judged_complete"] for k, v in part.items()}
                for kind, part in result.items() if isinstance(part, dict)}  # fmt: skip
    headline["cpu_ms_per_inference_p50"] = result["cpu_ms_per_inference_p50"]
    save_and_print("smart_turn", result, args.json_out, headline)
    return 0


if __name__ == "__main__":
    sys.exit(main())
