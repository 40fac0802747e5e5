"""An optional ngrok tunnel that gives the media server a public https URL for Twilio.

Opt-in only (`--tunnel` or NGROK_AUTHTOKEN): the first use downloads the ngrok binary, and
offline that fails. Every failure becomes one `TunnelError` in plain words, and the whole attempt
is bounded by `timeout_s`, so start-up never hangs on a tunnel; the caller then falls back to
PUBLIC_URL.

pyngrok is synchronous (urllib + a subprocess), so it runs in a worker thread. Its start-up loop
blocks on the agent's stdout; when our bound expires we kill the agent, which closes that pipe
and lets the thread finish instead of lingering until the process exits.

The agent never outlives us. It runs in a session of its own (a Ctrl-C or a closed terminal must
not cut the tunnel before the calls through it have ended), so nothing would stop it if we died
without closing it (SIGKILL, the OOM killer, a crash): a watchdog does. `prctl(PR_SET_PDEATHSIG)`
cannot: it fires when the *thread* that started the agent ends, and pyngrok starts it from a
worker thread that ends as soon as the tunnel is open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import threading
from collections.abc import Callable
from functools import partial
from typing import TypeVar

from pyngrok import conf, ngrok, process
from pyngrok.exception import PyngrokError, PyngrokNgrokError, PyngrokNgrokInstallError

log = logging.getLogger(__name__)

OPEN_TIMEOUT_S = 20.0  # download (~10 MB) + agent start + API call; beyond this, give up
STARTUP_TIMEOUT_S = 10  # pyngrok's default is 15 s; the agent is up in ~1 s when it works
REQUEST_TIMEOUT_S = 3.0  # the agent API is on localhost: 3 s means it is stuck
CLOSE_TIMEOUT_S = 5.0

T = TypeVar("T")


class TunnelError(Exception):
    """The tunnel could not be opened; the message is meant for the operator as is."""


class Tunnel:
    """An open tunnel. `public_url` is the https base Twilio should call."""

    def __init__(self, public_url: str, config: conf.PyngrokConfig,
                 watchdog: AgentWatchdog | None = None) -> None:
        self.public_url = public_url
        self._config = config
        self._watchdog = watchdog
        self._closed = False

    def __repr__(self) -> str:
        return f"Tunnel({self.public_url!r})"

    async def close(self) -> None:
        """Disconnect and stop the agent. Never raises: it runs during shutdown."""
        if self._closed:
            return
        self._closed = True
        try:
            await _in_daemon_thread(self._close_blocking, CLOSE_TIMEOUT_S)
        except Exception as error:  # noqa: BLE001 - shutdown goes on; the agent dies with us
            log.warning("could not close the ngrok tunnel cleanly: %s", error)

    def _close_blocking(self) -> None:
        try:
            ngrok.disconnect(self.public_url, self._config)
        finally:
            ngrok.kill(self._config)
            if self._watchdog is not None:
                self._watchdog.stand_down()


# Runs as `sh -c WATCHDOG_SCRIPT ngrok-watchdog <agent pid>`, its stdin a pipe whose write end only
# this process holds. A clean close writes "closed"; end of file without it means we died.
WATCHDOG_SCRIPT = 'read -r word; [ "$word" = closed ] || kill -TERM "$1" 2>/dev/null'


class AgentWatchdog:
    """A tiny `sh` that ends the ngrok agent when this process dies, however it dies: the kernel
    closes our end of its pipe then, and the shell reads end of file."""

    def __init__(self, agent_pid: int) -> None:
        read_end, self._write_end = os.pipe()  # both close-on-exec: no other child inherits them
        try:
            self._proc = subprocess.Popen(
                ["sh", "-c", WATCHDOG_SCRIPT, "ngrok-watchdog", str(agent_pid)],
                stdin=read_end, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True,  # like the agent: our terminal closing must not end it
            )
        except BaseException:
            os.close(self._write_end)
            raise
        finally:
            os.close(read_end)

    def stand_down(self) -> None:
        """We closed the agent ourselves: the watchdog leaves without killing anything."""
        with contextlib.suppress(OSError):
            os.write(self._write_end, b"closed\n")
        os.close(self._write_end)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(CLOSE_TIMEOUT_S)


def _watch(config: conf.PyngrokConfig) -> AgentWatchdog | None:
    agent = getattr(process, "_current_processes", {}).get(config.ngrok_path)
    if agent is None:
        return None
    try:
        return AgentWatchdog(agent.proc.pid)
    except OSError as error:  # no sh: the agent still ends with a clean shutdown
        log.warning("could not start the ngrok watchdog: %s", error)
        return None


def tunnel_wanted(flag: bool, authtoken: str | None) -> bool:
    """The tunnel is opt-in: an explicit flag, or an ngrok auth token in the settings."""
    return flag or bool(authtoken)


async def open_tunnel(
    port: int,
    authtoken: str | None,
    *,
    host: str = "127.0.0.1",
    timeout_s: float = OPEN_TIMEOUT_S,
    ngrok_path: str | None = None,
    config_path: str | None = None,
) -> Tunnel:
    """Open an http tunnel to `host`:`port` (the media server). Raises TunnelError, never hangs
    past `timeout_s`. `ngrok_path`/`config_path` default to pyngrok's (PYNGROK_NGROK_PATH,
    ~/.config/ngrok)."""
    config = conf.PyngrokConfig(
        ngrok_path=ngrok_path,
        config_path=config_path,
        auth_token=authtoken,
        startup_timeout=STARTUP_TIMEOUT_S,
        request_timeout=REQUEST_TIMEOUT_S,
        monitor_thread=False,  # pyngrok would log every agent line from a thread of its own
        # Ctrl-C must not kill the agent before shutdown has closed the calls running through it
        # (DESIGN.md: the tunnel closes last); pyngrok's atexit hook still ends it with us.
        start_new_session=True,
    )
    # A full URL: pyngrok turns a bare "host:port" into "http://localhost:host:port".
    upstream = f"http://{host}:{port}"
    abandoned = threading.Event()
    try:
        url, watchdog = await _in_daemon_thread(
            lambda: _connect(upstream, config, abandoned), timeout_s)
    except TimeoutError:
        abandoned.set()
        await _kill_quietly(config)
        raise TunnelError(
            f"could not start an ngrok tunnel: no answer within {timeout_s:g} s"
        ) from None
    except asyncio.CancelledError:  # start-up was called off (a signal): leave no agent behind
        abandoned.set()
        await asyncio.shield(_kill_quietly(config))
        raise
    except Exception as error:  # noqa: BLE001 - pyngrok, OSError (cannot exec), YAML: all fatal
        await _kill_quietly(config)  # an agent that started but gave no URL must not linger
        raise TunnelError(_explain(error)) from None
    log.info("ngrok tunnel open: %s -> %s", url, upstream)
    return Tunnel(url, config, watchdog)


def _connect(upstream: str, config: conf.PyngrokConfig,
             abandoned: threading.Event) -> tuple[str, AgentWatchdog | None]:
    """Runs in a worker thread. If we already gave up waiting, do not leave an agent behind."""
    tunnel = ngrok.connect(upstream, "http", pyngrok_config=config)
    if abandoned.is_set():
        ngrok.kill(config)
    if not tunnel.public_url:
        raise PyngrokError("ngrok answered without a public URL")
    return _https(tunnel.public_url), _watch(config)


def _https(url: str) -> str:
    # Twilio only calls https webhooks, and the media socket must be wss on the same host.
    return "https://" + url.removeprefix("http://") if url.startswith("http://") else url


async def _kill_quietly(config: conf.PyngrokConfig) -> None:
    try:
        await _in_daemon_thread(lambda: _kill_starting_agent(config), CLOSE_TIMEOUT_S)
    except Exception as error:  # noqa: BLE001 - best effort while reporting the real failure
        log.debug("killing a stuck ngrok agent failed: %s", error)


def _kill_starting_agent(config: conf.PyngrokConfig) -> None:
    """Kill an agent that is still starting. `ngrok.kill` would wait for pyngrok's process lock,
    which the start-up thread holds while it blocks reading the agent's output, so we signal the
    process pyngrok registered (a private table, read without the lock: a dict lookup is atomic).
    Its pipe then closes, the start-up thread wakes and releases the lock."""
    starting = getattr(process, "_current_processes", {}).get(config.ngrok_path)
    if starting is not None:
        starting.proc.kill()
        return
    ngrok.kill(config)  # not registered yet (still downloading) or already gone


def _explain(error: Exception) -> str:
    """One line an operator can act on."""
    if isinstance(error, PyngrokNgrokInstallError):
        return (
            "could not start an ngrok tunnel: ngrok is not installed and downloading it failed"
            f" (no internet?): {_first_line(error)}"
        )
    if isinstance(error, PyngrokNgrokError):
        detail = getattr(error, "ngrok_error", None) or _first_line(error)
        return f"could not start an ngrok tunnel: the ngrok agent failed to start ({detail})"
    return f"could not start an ngrok tunnel: {_first_line(error)}"


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__


async def _in_daemon_thread(work: Callable[[], T], timeout_s: float) -> T:
    """Run blocking `work` in a daemon thread, bounded by `timeout_s`.

    Not `asyncio.to_thread`: `asyncio.run` joins the default executor's threads on exit with no
    time limit (Python 3.11), so one stuck urllib call would keep the process from exiting.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def run() -> None:
        settle: Callable[[], None]
        try:
            settle = partial(_succeed, future, work())
        except BaseException as error:  # noqa: BLE001 - handed to the awaiting coroutine
            settle = partial(_fail, future, error)
        with contextlib.suppress(RuntimeError):  # the loop closed while we worked: nobody waits
            loop.call_soon_threadsafe(settle)

    threading.Thread(target=run, name="ngrok", daemon=True).start()
    async with asyncio.timeout(timeout_s):
        return await future


def _succeed(future: asyncio.Future[T], result: T) -> None:
    if not future.done():  # else the waiter timed out or was cancelled: nobody wants it
        future.set_result(result)


def _fail(future: asyncio.Future[T], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
