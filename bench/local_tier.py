"""Embedded-default bench: caller speech end -> first agent frame, on the local tier
(faster-whisper tiny.en, scripted responder, Piper), real-time paced, on this machine.

    python bench/local_tier.py --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from common import spread  # noqa: I001 - sets sys.path

from console.config import load_settings
from console.demo import run_demo
from console.runtime import Runtime


async def run(rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(_env_file=None, server_port=0, data_db=Path(tmp) / "b.db",
                                 deepgram_api_key=None, groq_api_key=None)
        runtime = Runtime(settings)
        await runtime.start()
        try:
            results = [await run_demo(runtime) for _ in range(rounds)]
        finally:
            await runtime.stop()
    calls = [call for result in results for call in result["calls"]]
    heard = [ms for call in calls for ms in call["caller"]["reply_latency_ms"] if ms is not None]
    server = [ms for call in calls for ms in call["voice_to_voice_ms"]]
    return {
        "rounds": rounds,
        "cores": os.cpu_count(),
        "speech_end_to_first_agent_frame_ms": spread(heard),
        "server_voice_to_voice_ms": spread(server),
        "word_error_rate": [call["word_error_rate"] for call in calls],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="demo calls, one after another")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.rounds)), indent=2))


if __name__ == "__main__":
    main()
