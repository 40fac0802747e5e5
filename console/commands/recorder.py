"""`voiceconsole recorder`: store a fleet's call events into the history (fleet/recorder.py).

Needs VOICECONSOLE_FLEET_URL. Run one per fleet, beside the data folder that `voiceconsole calls`
and the console read; restarted under the same name, it resumes where it stopped. With
VOICECONSOLE_WEBHOOK_URL it also sends the end-of-call webhook.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from console.config import Settings, load_settings

if TYPE_CHECKING:
    from console.handoff.worker import WebhookWorker
    from console.storage.writer import StoreWriter

QUIT_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "recorder", help="store the fleet's call events into the history (needs a fleet URL)")
    parser.add_argument("--name", help="this recorder's name in the consumer group (default: "
                        "VOICECONSOLE_FLEET_NAME, else recorder@HOST); a recorder restarted "
                        "under its name first stores what it had read and not yet stored")
    parser.add_argument("--batch", type=_positive_int, default=500, metavar="N",
                        help="entries read, stored in one transaction and acknowledged at once")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    if settings.fleet.url is None:
        print("voiceconsole recorder: no fleet to record: set VOICECONSOLE_FLEET_URL "
              "(redis://host:6379/0)", file=sys.stderr)
        return 2
    return asyncio.run(_record(settings, args.name, args.batch))


async def _record(settings: Settings, name: str | None, batch: int) -> int:
    from console.fleet.recorder import record

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in QUIT_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    await record(settings, stop, name=name, batch=batch,
                 ready=lambda line: print(line, flush=True), call_hook=call_hook(settings))
    return 0


def call_hook(settings: Settings) -> Callable[[StoreWriter], WebhookWorker] | None:
    """With VOICECONSOLE_WEBHOOK_URL, the recorder sends the end-of-call webhook: in a fleet it
    alone writes the store, where each call's delivery is queued with its summary."""
    if not settings.webhook.url:
        return None
    from console.handoff.worker import WebhookWorker
    from console.storage.outbox import Outbox

    def sender(writer: StoreWriter) -> WebhookWorker:
        return WebhookWorker(settings, Outbox(settings.data.db), after_commit=writer.flush)

    return sender


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value
