"""`voiceconsole serve`: the media server and call pipeline, headless. With a fleet URL it is a
media worker of the fleet (console/fleet/worker.py); `serve --drain NAME` drains one."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import SecretStr

from console.config import Settings, load_settings

if TYPE_CHECKING:
    from console.fleet.registry import WorkerBeat
    from console.runtime import Runtime


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("serve", help="run the media server headless")
    parser.add_argument("--host", help="interface to bind (default: VOICECONSOLE_SERVER_HOST "
                        "or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to bind (default: "
                        "VOICECONSOLE_SERVER_PORT or 8765; 0 = any)")
    parser.add_argument("--profile", help="agent profile for calls (default: "
                        "VOICECONSOLE_PROFILE_DEFAULT)")
    parser.add_argument("--tunnel", action="store_true",
                        help="open an ngrok tunnel for the public URL (needs NGROK_AUTHTOKEN)")
    parser.add_argument(
        "--drain", nargs="?", const="", metavar="NAME",
        help="rolling restarts of a fleet (VOICECONSOLE_FLEET_URL): serve nothing, but tell "
        "the running worker NAME (default: VOICECONSOLE_FLEET_NAME; names are in `voiceconsole "
        "fleet status`) to take no new calls, finish its live ones and exit. The request goes "
        "through Redis, so it works from any machine; the worker reads it at its next "
        "heartbeat. Waits until the worker has left the fleet, then exits 0: restart it then")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from console.commands.console import hold_data_folder

    names = {"host": "server_host", "port": "server_port", "profile": "profile_default"}
    overrides = {names[k]: v for k in names if (v := getattr(args, k)) is not None}
    settings = load_settings(**overrides)
    if args.drain is not None:  # a request to a worker: it holds no data folder of its own
        return _drain(settings, args.drain or settings.fleet.name)
    with hold_data_folder(settings, "serve"):
        return asyncio.run(_serve(settings, args.tunnel))


# Each ends the process the ordered way: Ctrl-C, `kill`/systemd, and the terminal closing.
QUIT_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


async def _serve(settings: Settings, tunnel: bool) -> int:
    from console.admin.attach import serve_admin
    from console.runtime import Runtime

    runtime = Runtime(settings, tunnel=tunnel)
    serve_admin(runtime)  # `voiceconsole control` and drills reach this server
    stop = asyncio.Event()
    if settings.fleet.url is not None:  # a media worker of the fleet; drained, it exits
        _join_fleet(runtime, settings, settings.fleet.url, on_drained=stop.set)
    loop = asyncio.get_running_loop()
    for signum in QUIT_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    from console.runtime import UnsafeExposure

    try:
        await runtime.start(_print_progress)  # a failed start-up undoes itself, then raises
    except UnsafeExposure as refusal:
        print(f"voiceconsole: refusing to start: {refusal}", file=sys.stderr, flush=True)
        return 2
    except Exception as error:
        print(f"voiceconsole serve: start-up failed: {error}", file=sys.stderr, flush=True)
        return 1
    # Freeze what start-up built (modules, SDK clients) so full collections skip it: measured on
    # the console, a full collection otherwise took 85-134 ms, longer than the 100 ms the pacer
    # sends ahead of playout.
    gc.freeze()
    public = runtime.address.url or runtime.server.url
    print(f"voiceconsole serving: webhook {public}/voice, media {runtime.server.media_url}, "
          f"health {runtime.server.url}/health", flush=True)
    try:
        await stop.wait()
        with contextlib.suppress(OSError):  # after SIGHUP the terminal may be gone (EIO)
            print("shutting down: ending calls, flushing storage", flush=True)
    finally:
        await runtime.stop()
    return 0


def _drain(settings: Settings, name: str | None) -> int:
    from console.fleet.operations import Unreachable, drain

    if settings.fleet.url is None:
        print("voiceconsole serve --drain: no fleet: set VOICECONSOLE_FLEET_URL", file=sys.stderr)
        return 2
    if not name:
        print("voiceconsole serve --drain: name the worker (see `voiceconsole fleet status`), "
              "or set VOICECONSOLE_FLEET_NAME", file=sys.stderr)
        return 2

    def progress(beat: WorkerBeat) -> None:
        print(f"{name}: draining, {beat.load} call(s) left", flush=True)

    try:
        why_not = asyncio.run(drain(settings.fleet.url, name, settings.fleet.heartbeat_s,
                                    progress))
    except Unreachable as error:
        print(f"voiceconsole serve --drain: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # the request stands: the worker drains and exits all the same
        print(f"\nstopped waiting; {name} is still draining", file=sys.stderr)
        return 130
    if why_not is not None:
        print(f"voiceconsole serve --drain: {why_not}", file=sys.stderr)
        return 1
    print(f"{name}: drained and gone from the fleet", flush=True)
    return 0


def _join_fleet(runtime: Runtime, settings: Settings, url: SecretStr,
                on_drained: Callable[[], None]) -> None:
    """A media worker: its heartbeat and routing, its calls' events on the fleet's stream, and
    the operator actions the consoles send it. The publisher starts first (every event of the
    worker's life is on the stream) and stops last, once the calls have ended and their summaries
    are written; the control stream and the heartbeat stop before the calls end, so routing sends
    new calls elsewhere at once."""
    from console.fleet.connection import connect
    from console.fleet.control import ControlConsumer
    from console.fleet.failover import Failover
    from console.fleet.publisher import FleetPublisher
    from console.fleet.worker import join_fleet

    publisher_redis = connect(url)
    worker = join_fleet(settings, runtime.server, runtime.address, on_drained=on_drained)
    publisher = FleetPublisher(runtime.bus, publisher_redis, worker.worker, settings.fleet)
    # Failover: /stream-ended takes over calls whose worker died; their sessions read the
    # conversation here (the publisher's client: its reads are a few per resumed call).
    failover = Failover(publisher_redis, worker.worker, publisher)
    runtime.server.take_over_orphans(failover)
    runtime.carried_calls = failover
    runtime.attach(publisher, outlives_calls=True)
    runtime.attach(worker)
    runtime.attach(ControlConsumer(connect(url), worker.worker, runtime.control, runtime.bus))


def _print_progress(step: str, status: str) -> None:
    print(f"  {step:<10} {status}", file=sys.stderr, flush=True)
