"""`voiceconsole webhooks`: the end-of-call webhook's outbox (docs/webhook.md).

    voiceconsole webhooks [--all] [--json]     dead-lettered and pending deliveries (--all: and
                                               delivered ones), newest first
    voiceconsole webhooks retry ID             put a delivery back in the queue, due now
    voiceconsole webhooks deliver              send what is due, until Ctrl-C (no server)

`retry` works beside a running console or `serve` (their worker looks every few seconds);
`deliver` holds the data folder like them, so only one process ever sends.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from console.safe_text import json_printable, printable

if TYPE_CHECKING:
    from console.config import Settings
    from console.storage.outbox import Outbox
    from console.storage.records import Delivery

T = TypeVar("T")

COLUMNS = (("ID", "id"), ("STATUS", "status"), ("CALL SID", "call_sid"),
           ("ATTEMPTS", "attempts"), ("NEXT / DONE", "when"), ("LAST ERROR", "last_error"))


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("webhooks", help="end-of-call webhook deliveries and retries")
    parser.add_argument("--all", action="store_true", help="delivered ones too")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=list_command)
    actions = parser.add_subparsers(dest="webhooks_action", metavar="ACTION")
    retry = actions.add_parser("retry", help="send a dead (or pending) delivery again, now")
    retry.add_argument("id", type=int, metavar="ID", help="the delivery's ID (first column)")
    retry.set_defaults(func=retry_command)
    deliver = actions.add_parser("deliver", help="send due deliveries until Ctrl-C")
    deliver.set_defaults(func=deliver_command)


def list_command(args: argparse.Namespace) -> int:
    db_path = _db_path()
    if not db_path.exists():
        print("[]" if args.json else printable(f"no deliveries (no database at {db_path})"))
        return 0
    statuses = ("pending", "delivered", "dead") if args.all else ("pending", "dead")
    rows = _with_outbox(db_path, lambda outbox: outbox.list_deliveries(statuses))
    if args.json:
        listed = [row.to_json() for row in rows]
        print(json_printable(json.dumps(listed, indent=2, ensure_ascii=False)))
    else:
        print(format_table(rows) if rows else "no deliveries waiting or dead")
    return 0


def retry_command(args: argparse.Namespace) -> int:
    db_path = _db_path()
    if not db_path.exists() or not _with_outbox(db_path, lambda outbox: outbox.retry(args.id)):
        print(f"no delivery {args.id} to retry (unknown, or delivered already)", file=sys.stderr)
        return 1
    print(f"delivery {args.id} queued again: it is sent within seconds by the running console, "
          "serve, or `voiceconsole webhooks deliver`")
    return 0


def deliver_command(args: argparse.Namespace) -> int:
    from console.commands.console import hold_data_folder
    from console.config import load_settings

    settings = load_settings()
    if not settings.webhook.url:
        print("voiceconsole webhooks deliver: VOICECONSOLE_WEBHOOK_URL is not set", file=sys.stderr)
        return 2
    with hold_data_folder(settings, "webhooks deliver"):
        return asyncio.run(_deliver(settings))


async def _deliver(settings: Settings) -> int:
    from console.handoff.worker import WebhookWorker
    from console.storage.outbox import Outbox

    worker = WebhookWorker(settings, Outbox(settings.data.db))
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    worker.start()
    print(f"delivering to {settings.webhook.url} (Ctrl-C stops)", flush=True)
    try:
        await stop.wait()
    finally:
        await worker.stop()
    return 0


def _db_path() -> Path:
    from console.config import load_settings

    return Path(load_settings().data.db)


def _with_outbox(db_path: Path, query: Callable[[Outbox], T]) -> T:
    """One query on an outbox closed right after (the CLI does one thing and exits)."""
    from console.storage.outbox import Outbox

    with contextlib.closing(Outbox(db_path)) as outbox:
        return query(outbox)


def format_table(rows: list[Delivery]) -> str:
    cells = [[title for title, _ in COLUMNS]]
    cells += [[_cell(key, row) for _, key in COLUMNS] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
             for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def _cell(key: str, row: Delivery) -> str:
    if key == "when":
        epoch = row.delivered_at if row.status == "delivered" else row.next_attempt_at
        return "-" if row.status == "dead" else _when(epoch)
    value = getattr(row, key)
    return "" if value is None else printable(str(value))[:80]


def _when(epoch: float | None) -> str:
    return "-" if epoch is None else datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M:%S")
