"""The lifecycle of one voiceconsole process: store, providers, media server, (tunnel, webhook).

`Runtime` owns every long-lived piece. The TUI and `serve` both run it; neither owns a call.
Start-up is a sequence of named steps reported to a progress callback; shutdown is the reverse,
in the order DESIGN.md gives (stop accepting, end calls, flush storage, restore webhook).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from typing import Protocol, TypedDict

from console import events as ev
from console import profiles
from console.calls.deadair import FILLERS
from console.calls.deaf import DEAF_LINE
from console.calls.gate import GATE_LINE, GateOptions
from console.calls.live import LiveCalls
from console.calls.ports import MemoryGreetings, close_quietly
from console.calls.session import CallDeps, CallSession, SessionOptions
from console.calls.triage import COMPANY_LINES
from console.config import PublicAddress, Settings
from console.drill.marker import drill_marker
from console.events import EventBus
from console.fleet.carried import RECOVERY_LINE, CarriedConversation, ConversationSource
from console.handoff.worker import Deliveries, WebhookWorker
from console.lifecycle import PublicEdge
from console.memory import freeze_start_up_heap, trim_periodically
from console.providers.base import ProviderObserver
from console.providers.registry import ProviderRegistry
from console.recording.service import Recordings, started_now
from console.storage.edits import write_edits
from console.storage.files import private_folder
from console.storage.history import LazyHistory
from console.storage.outbox import Outbox
from console.storage.outbox import enqueue as enqueue_delivery
from console.storage.redacting import EVERYTHING, RedactingStore, RedactionPolicy
from console.storage.writer import StoreWriter
from console.streams import MediaSender, StreamStart
from console.summary.brief import Briefer, CallBrief
from console.summary.summarizer import Summarizer
from console.telephony.actions import TwilioCallActions
from console.telephony.callbacks import add_dial_status_route, dial_action_url
from console.telephony.guard import RESUMED
from console.telephony.server import MediaServer
from console.telephony.twilio_rest import TwilioRest, dial_twiml
from console.telephony.warm_routes import add_warm_routes
from console.warm import WELCOME_BACK, WarmTransfers

log = logging.getLogger(__name__)

Progress = Callable[[str, str], None]
RECENT_CALLS = 100
EDIT_WAIT_S = 10.0  # an operator's edit waits at most this long for the store to write it


def _log_progress(step: str, status: str) -> None:
    log.info("%s: %s", step, status)


class Attached(Protocol):
    """A face served from the runtime's process beside the calls (the admin API)."""

    name: str

    async def start(self) -> object: ...

    async def stop(self) -> None: ...

    def describe(self) -> str:
        """What start-up reports once it is up."""
        ...


class Runtime:
    def __init__(
        self,
        settings: Settings,
        *,
        registry: ProviderRegistry | None = None,
        options: SessionOptions | None = None,
        tunnel: bool = False,
    ) -> None:
        self.settings = settings
        # Where Twilio reaches us: PUBLIC_URL, then the tunnel's once it opens (lifecycle.py).
        self.address = PublicAddress.of(settings)
        self.bus = EventBus()
        self.registry = registry or ProviderRegistry(settings)
        default = SessionOptions(barge_in_window_s=settings.turns.barge_in_window_s,
                                 backchannels=tuple(settings.turns.backchannels),
                                 unfinished_hold_s=settings.turns.unfinished_hold_s,
                                 narrating_hold_s=settings.turns.narrating_hold_s,
                                 prosody_cue=settings.turns.prosody_cue,
                                 level_hold_s=settings.turns.level_hold_s,
                                 gate=_gate_options(settings))
        self.options = _with_emergency_numbers(options or default, settings)
        self._hook_webhooks(settings)  # makes the store: its writer queues their deliveries
        # The store sees events through redaction (the profile's `redact`); nothing else does.
        # A fleet's media worker writes no history: its events go to the fleet's stream and the
        # recorder stores them (console/fleet/recorder.py). It still redacts: the spans it
        # publishes mute its recordings, and reach the recorder with the other events.
        self.redacting = RedactingStore(self.store if self.keeps_history else _not_stored,
                                        self.bus.publish, self._redaction_policy)
        self.recordings = Recordings(settings, self.bus)  # issue 14: one stereo WAV per call
        self.control = LiveCalls(self.bus)
        self.greetings = MemoryGreetings()
        # Calls whose transfer Twilio accepted and whose <Dial> outcome has not come yet: only
        # those may report one.
        self._dialing: set[str] = set()
        self.profiles = profiles.ProfileBook()
        self.server = MediaServer(settings, self._new_call, self.bus, self.address)
        add_dial_status_route(self.server.app, settings, self._dial_finished,
                              self._dialing.__contains__, self.address)
        # Issue 15, part 4: warm transfer (its webhooks are signed and per transfer, as above).
        self.warm = WarmTransfers(settings, self.bus, self._twilio_rest, self.address)
        add_warm_routes(self.server.app, settings, self.warm, self.address)
        self.edge = PublicEdge(settings, self.address, want_tunnel=tunnel)
        # Faces served from this process (the admin API: console/admin/attach.py), attached by
        # the command that builds the runtime: started last, stopped first.
        self._attached: list[Attached] = []
        self._outliving: set[int] = set()  # ids of attached services stopped after the calls
        self.history = LazyHistory(settings.data.db, submit=self._submit_edits)
        self.listen_in = self.control  # listen-in: LiveCalls.tap(call_sid, sink(leg, mulaw))
        self.actions: TwilioCallActions | None = None  # Twilio REST, once started with credentials
        # A fleet worker's failover (serve's _join_fleet): the conversations of calls whose
        # worker died, for the streams that resume them here. None: no call is ever resumed.
        self.carried_calls: ConversationSource | None = None
        # A session whose call is being transferred stays reachable after its stream ends: a
        # <Dial> transfer ends the media stream first and reports its outcome afterwards
        # (Twilio's dial action). Any other is let go when its call ends: a whole ended session
        # is ~230 kB (a flood of short calls kept 100 of them: bench/hostile_load.py).
        self._recent: OrderedDict[str, CallSession] = OrderedDict()
        self._unsubscribe_store: Callable[[], None] | None = None
        self.bus.subscribe(self._note_transfer)
        # After the call (issue 14): one summary per ended call, written off the call's path.
        self.summarizer = Summarizer(self.bus, self._summary_profile,
                                     self.registry.summary_model(),
                                     timeout_s=settings.summary.timeout_s,
                                     before_publish=self.recordings.settled)
        # Issue 15: a live call's one-line catch-up brief, from the same facts and model.
        self.briefer = Briefer(self.summarizer.live_facts, self._summary_profile,
                               self.summarizer.model, timeout_s=settings.summary.brief_timeout_s)
        self._loop: asyncio.AbstractEventLoop | None = None  # while the store takes events
        self._stopping: asyncio.Task[None] | None = None
        self._trimming: asyncio.Task[None] | None = None

    # --- lifecycle -----------------------------------------------------------------------------
    async def start(self, progress: Progress = _log_progress) -> None:
        """Start every piece in order. A start-up that fails or is cancelled part-way runs the
        ordered shutdown before raising: a webhook already pointed at us is restored and a tunnel
        already open is closed, rather than left behind for a process that is going away."""
        try:
            await self._start(progress)
        except BaseException:
            log.error("start-up did not finish; undoing what was started")
            await asyncio.shield(self.stop())
            raise

    async def _start(self, progress: Progress) -> None:
        self.settings.warn_about_risky_choices()
        self._refuse_unsigned_exposure(progress)
        progress("profiles", "checking every profile")  # a bad one stops the start, named
        await asyncio.to_thread(self.profiles.check_all, self._profile_names())
        progress("storage", f"opening {self.settings.data.db}")
        private_folder(self.settings.data.db.parent)
        self.store.start()
        self._unsubscribe_store = self.bus.subscribe(self.redacting)
        await self.recordings.start()
        self.bus.subscribe(self.summarizer)
        self._loop = asyncio.get_running_loop()
        self._start_webhooks(progress)
        for name, tier in self.registry.tiers().items():
            progress(f"tier {name}", f"{tier.label()}: {tier.why}")
        progress("models", "warming up")
        await self.registry.warm_up()
        await self._prepare_greetings()
        self.actions = self._call_actions()
        port = await self.server.start()
        progress("server", f"listening on {self.server.url} (media: {self.server.media_url})")
        await self.edge.open(port, progress)
        for service in self._attached:
            await service.start()
            progress(service.name, service.describe())
        progress("memory", f"start-up heap frozen ({freeze_start_up_heap()} objects)")
        self._trimming = asyncio.create_task(trim_periodically(), name="memory-trim")

    def _refuse_unsigned_exposure(self, progress: Progress) -> None:
        """A public server that checks no Twilio signatures lets anyone place calls and forge
        transfer outcomes: refused before anything binds, unless explicitly allowed."""
        if (refusal := self.settings.refusal_to_serve(self.edge.want_tunnel)) is not None:
            raise UnsafeExposure(refusal)
        if (problem := self.settings.exposure_problem(self.edge.want_tunnel)) is not None:
            progress("security", f"WARNING: {problem.split(':')[0]} "
                                 "(VOICECONSOLE_PUBLIC_ALLOW_UNSIGNED=true)")

    def attach(self, service: Attached, *, outlives_calls: bool = False) -> None:
        """Serve `service` from this process: started at the end of start-up (its failure undoes
        the start), stopped first; or, `outlives_calls`, stopped once the calls have ended and
        their summaries are written (a service that must see every call end: the fleet's event
        publisher). Call before `start`."""
        self._attached.append(service)
        if outlives_calls:
            self._outliving.add(id(service))

    async def _stop_attached(self) -> None:
        for service in reversed(self._attached):
            if id(service) not in self._outliving:
                await service.stop()

    async def _stop_outliving(self) -> None:
        for service in reversed(self._attached):
            if id(service) in self._outliving:
                await service.stop()

    async def stop(self) -> None:
        """DESIGN.md's order: stop accepting and end calls, flush storage, restore the webhook,
        close the tunnel. Runs once, whoever asks and however often (a failed start-up, a signal,
        the console's quit); later callers wait for the same shutdown. Shielded: a caller that is
        cancelled does not cut it short."""
        if self._stopping is None:
            self._stopping = asyncio.create_task(self._stop(), name="runtime-stop")
        await asyncio.shield(self._stopping)

    async def _stop(self) -> None:
        # Each step runs even when an earlier one failed: a server that would not close must not
        # leave the number pointing at a tunnel that is about to vanish.
        # Recordings close before summaries finish, so a call's webhook carries its recording.
        steps = (self._stop_trimming, self._stop_attached, self._end_calls, self.recordings.stop,
                 self._finish_summaries, self._stop_outliving, self._stop_webhooks,
                 self.store.close, self._unsubscribe, self.edge.close, self._close_actions,
                 self.summarizer.aclose, self.registry.aclose)
        for step in steps:
            try:
                await step()
            except Exception:
                log.exception("shutdown step %s failed; going on", step.__name__)
        log.info("shut down")

    # --- end-of-call webhook (issue 14; console/handoff) --------------------------------------
    def _hook_webhooks(self, settings: Settings) -> None:
        """With VOICECONSOLE_WEBHOOK_URL, the store writer queues a delivery with each call's
        summary (one transaction) and a worker sends them; without it nothing is queued.
        `deliveries` is the console's view of the outbox either way (dead letters outlive a URL
        being unset)."""
        outbox = Outbox(settings.data.db)
        # In a fleet only the recorder writes history, and it alone says which live calls
        # were interrupted (no worker runs them): a worker starting never sweeps. It also sends
        # the webhook, whose deliveries are queued in that store (console/fleet/recorder.py).
        self.keeps_history = settings.fleet.url is None
        self.webhooks: WebhookWorker | None = None
        if settings.webhook.url and self.keeps_history:
            self.webhooks = WebhookWorker(settings, Outbox(settings.data.db),
                                          after_commit=self._store_flushed)
        self.store = StoreWriter(settings.data.db,
                                 also_write=enqueue_delivery if self.webhooks else None,
                                 mark_abandoned_on_start=self.keeps_history)
        self.deliveries = Deliveries(outbox, self.webhooks)

    async def _store_flushed(self) -> None:
        await self.store.flush()

    def _start_webhooks(self, progress: Progress) -> None:
        if self.webhooks is None:
            if self.settings.webhook.url and not self.keeps_history:
                progress("call hook", "each finished call is posted by the fleet's recorder")
            return
        self.webhooks.start()
        self.bus.subscribe(self.webhooks.on_event)
        progress("call hook", f"each finished call is posted to {self.webhooks.url}")

    async def _stop_webhooks(self) -> None:
        if self.webhooks is not None:
            await self.webhooks.stop()
        await asyncio.to_thread(self.deliveries.close)

    async def _stop_trimming(self) -> None:
        if self._trimming is not None:
            self._trimming.cancel()

    async def _finish_summaries(self) -> None:
        """The ended calls' summaries are published before the store closes; edits made from
        now on are written by their own transaction."""
        await self.summarizer.drain()
        self._loop = None

    async def _end_calls(self) -> None:
        await self.server.stop("server-shutdown")
        await self.warm.end_all("server-shutdown")  # issue 15: callers on hold, streamless

    async def _unsubscribe(self) -> None:
        if self._unsubscribe_store:
            self._unsubscribe_store()
            self._unsubscribe_store = None

    async def _close_actions(self) -> None:
        if self.actions is not None:
            await self.actions.aclose()

    # --- calls ---------------------------------------------------------------------------------
    async def _new_call(self, start: StreamStart, sender: MediaSender) -> CallSession:
        # Read per call (a small file, off the loop) so an edited profile applies to the next
        # call; an invalid edit is reported and the last good version used.
        started = started_now()  # the recording's sample 0: before anything awaits
        carried = await self._carried(start)  # its worker died: it goes on here
        name = carried.profile if carried and carried.profile else self._profile_name(start)
        profile, stale = await self.profiles.for_call(name)
        profile = self.recordings.announced(profile)
        earlier = self.warm.resume(start.call_sid)  # back from a warm transfer nobody took
        if earlier is not None:  # said live (rare: not worth preparing at every start-up)
            profile = dataclasses.replace(profile, greeting=WELCOME_BACK)
        if carried is not None:  # no greeting again: the prepared recovery line instead
            profile = dataclasses.replace(profile, greeting=RECOVERY_LINE)
        sender = self.recordings.record(start, sender, profile, started)
        try:  # a call whose session cannot start leaves no recording (issue 14)
            relay = ObserverRelay()
            deps = CallDeps(
                stt=self.registry.stt(relay, redact=profile.redact),
                llm=self.registry.llm(profile),
                tts=self.registry.tts(profile, relay),
                profile=profile,
                bus=self.bus,
                actions=self.actions,
                warm=self.warm,
                greetings=self.greetings,
                options=self.options,
            )
            session = CallSession(start, sender, deps)
            if isinstance(earlier, CallSession):  # warm transfers hold this runtime's sessions
                session.continue_from(earlier)
            relay.target = session
            self.recordings.listen(session)
            self.control.add(session)
            self._remember(session)
            await session.begin()
            if carried is not None:
                session.resume(carried.turns, carried.in_progress, carried.emergency)
        except BaseException:
            self.recordings.drop(start.call_sid)
            raise
        if stale is not None:
            profiles.report_stale(session.events, stale)
        self._mark_drill(start)
        return session

    async def _carried(self, start: StreamStart) -> CarriedConversation | None:
        """The conversation this stream resumes: only for a stream the server let through with a
        good resume token (telephony.guard.RESUMED), and only in a fleet."""
        if self.carried_calls is None or start.custom_parameters.get(RESUMED) != "1":
            return None
        return await self.carried_calls.take_over(start.call_sid)

    # --- drills (issue 15, part 5) -------------------------------------------------------------
    def _mark_drill(self, start: StreamStart) -> None:
        """A call placed by `voiceconsole drill` says so on its stream: the bus is told once,
        after CallStarted, so the board, the store and the summary can mark it."""
        if (marker := drill_marker(start.custom_parameters)) is not None:
            self.bus.publish(ev.DrillCallStarted(start.call_sid, drill=marker[0],
                                                 scenario=marker[1]))

    def media_info(self) -> dict[str, str]:
        """Where a drill's simulated caller dials (admin /info), and the URL it signs."""
        local_host = self.server.url.partition("://")[2]
        return {"media_url": self.server.media_url,
                "signed_media_url": self.address.stream_url(local_host)}

    def _remember(self, session: CallSession) -> None:
        self._recent[session.sid] = session
        while len(self._recent) > RECENT_CALLS:
            forgotten, _ = self._recent.popitem(last=False)
            self._dialing.discard(forgotten)

    def _note_transfer(self, event: ev.CallEvent) -> None:
        if isinstance(event, ev.TransferAttempted) and event.ok:
            self._dialing.add(event.call_sid)
        elif isinstance(event, ev.CallEnded) and not self._may_hear_of_a_transfer(event.call_sid):
            self._recent.pop(event.call_sid, None)

    def _may_hear_of_a_transfer(self, call_sid: str) -> bool:
        """Twilio accepted a transfer of this call, or an emergency escalation may be making one
        (its REST request can still be in flight when the stream ends)."""
        session = self._recent.get(call_sid)
        escalating = session is not None and session.escalation is not None
        return call_sid in self._dialing or escalating

    async def _dial_finished(self, call_sid: str, status: str, form: dict[str, str]
                             ) -> str | None:
        """Twilio's <Dial action> callback: on no-answer or busy, dial the next number."""
        session = self._recent.get(call_sid)
        if session is None:  # an operator's transfer whose session was let go: still audited
            self.bus.publish(ev.TransferFinished(call_sid, target="", outcome=status))
        number = session.dial_finished(status) if session else None
        if not number:
            self._dialing.discard(call_sid)
            return None
        return dial_twiml(number, caller_id=self.settings.twilio.phone_number,
                          action_url=dial_action_url(self.address, call_sid))

    async def _summary_profile(self, name: str) -> profiles.Profile:
        """The profile a call ran on, for its summary; the default one when that is gone."""
        try:
            profile, _ = await self.profiles.for_call(name or self.settings.profile.default)
        except profiles.ProfileError:
            profile, _ = await self.profiles.for_call(self.settings.profile.default)
        return profile

    def briefs(self, call_sid: str) -> AsyncIterator[CallBrief]:
        """Catch-up on join (issue 15): the console's brief of a live call, see Briefer."""
        return self.briefer.briefs(call_sid)

    def _submit_edits(self, edits: list[ev.SummaryEdited]) -> None:
        """From a console thread worker: operator edits go to the store's one writer on the
        bus (so every subscriber hears of them), and return once they are written."""
        loop = self._loop
        if loop is None:
            write_edits(self.settings.data.db, edits)  # no writer: our own transaction
            return
        asyncio.run_coroutine_threadsafe(self._publish_and_flush(edits), loop).result(EDIT_WAIT_S)

    async def _publish_and_flush(self, edits: list[ev.SummaryEdited]) -> None:
        for edit in edits:
            self.bus.publish(edit)
        await self.store.flush()

    def _profile_name(self, start: StreamStart) -> str:
        """A `profile` stream parameter wins; else the number's profile; else the default."""
        params = start.custom_parameters
        by_number = self.settings.profile.numbers.get(params.get("called", ""))
        return params.get("profile") or by_number or self.settings.profile.default

    def _redaction_policy(self, name: str | None) -> RedactionPolicy:
        """What the store must not keep of a call on profile `name` (None: the default one). A
        profile never read (an unknown name) keeps nothing sensitive."""
        profile = self.profiles.last_good(name or self.settings.profile.default)
        if profile is None:
            return EVERYTHING
        return RedactionPolicy(frozenset(profile.redact), profile.sensitive_prompts)

    def _profile_names(self) -> list[str]:
        """Every profile the settings route calls to."""
        return [self.settings.profile.default, *self.settings.profile.numbers.values()]

    async def _prepare_greetings(self) -> None:
        """Synthesize once each line a call may need at any moment (greeting, holding phrases,
        apology, reprompt, goodbye, the emergency company line), so a caller hears the agent
        the moment the stream starts and none of these ever waits on a slow or failing TTS."""
        names = await asyncio.to_thread(profiles.list_profiles)
        await asyncio.gather(*(self._prepare_profile(name) for name in names))

    async def _prepare_profile(self, name: str) -> None:
        try:
            profile = await asyncio.to_thread(profiles.load_profile, name)
            profile = self.recordings.announced(profile)  # its greeting leads with it
            lines = _lines_to_prepare(profile, failover=self.carried_calls is not None)
            await asyncio.gather(*(self._prepare_lines(profile, lines[i::PREPARE_STREAMS])
                                   for i in range(PREPARE_STREAMS)))
        except Exception as error:  # noqa: BLE001 - a line can still be synthesized per call
            log.warning("could not prepare the %s lines: %s", name, error)

    async def _prepare_lines(self, profile: profiles.Profile, lines: tuple[str, ...]) -> None:
        """One TTS stream (a speak socket takes one text at a time) for a share of the lines."""
        tts = self.registry.tts(profile)
        try:
            for line in lines:
                audio = b"".join([chunk async for chunk in tts.synthesize(line)])
                self.greetings.remember(profile.name, line, audio)
        finally:
            await close_quietly(tts)

    def _twilio_rest(self) -> TwilioRest | None:
        """The Twilio REST client of the call actions (None until start, or without credentials)."""
        return self.actions.rest if self.actions is not None else None

    def _call_actions(self) -> TwilioCallActions | None:
        if not (self.settings.twilio.account_sid and self.settings.twilio.auth_token):
            return None
        return TwilioCallActions(self.settings, self.address)

    def status(self) -> RuntimeStatus:
        return {
            "public_url": self.address.url,
            "tunnel": self.edge.state["tunnel"],
            "webhook": self.edge.state["webhook"],
            "local_url": self.server.url,
            "tiers": {k: v.label() for k, v in self.registry.tiers().items()},
            "calls": len(self.control.live_calls()),
            "protocol_errors": self.server.stats.protocol_errors,
            "rejected_request_errors": self.server.stats.rejected_requests,
            # Each limit's refusals by name (start-deadline, inbound-flood, calls-full...).
            "errors": {f"refused {why}": n for why, n in self.server.stats.refused.items()},
            "sessions_failed_errors": self.server.stats.sessions_failed,
            "unsigned_public": self.settings.exposure_problem(self.edge.want_tunnel),
            "store_failures": self.store.failures,
            "call_hook_dead_errors": self.webhooks.dead_letters if self.webhooks else 0,
            # A locked database delays writes (nothing is lost, events wait in memory), but the
            # operator should know: it shows among the errors until the backlog is written.
            "store_backlog_errors": self.store.pending if self.store.lock_waits else 0,
        }


class RuntimeStatus(TypedDict, total=False):
    """What `status()` reports once a second (the console's BackendStatus, and more): flat
    counters named `*_errors` or `*_failures` count as errors."""

    public_url: str | None
    tunnel: str
    webhook: str
    local_url: str
    tiers: dict[str, str]
    calls: int
    protocol_errors: int
    rejected_request_errors: int
    errors: dict[str, int]
    sessions_failed_errors: int
    unsigned_public: str | None
    store_failures: int
    call_hook_dead_errors: int
    store_backlog_errors: int


class UnsafeExposure(RuntimeError):
    """Start-up refused: the server would be public without Twilio signatures."""


def build_backend(settings: Settings, *, tunnel: bool = False) -> Runtime:
    """What the console runs: the runtime is its backend (bus, control, history, status)."""
    return Runtime(settings, tunnel=tunnel)


def _with_emergency_numbers(options: SessionOptions, settings: Settings) -> SessionOptions:
    if options.emergency_numbers:
        return options
    numbers = (settings.emergency.fallback_number, settings.emergency.second_number)
    return dataclasses.replace(options, emergency_numbers=tuple(n for n in numbers if n))


def _not_stored(event: ev.CallEvent) -> None:
    """A fleet worker's store: its history is the recorder's."""


class ObserverRelay:
    """Providers are built before their session exists; this forwards to it once it does."""

    def __init__(self) -> None:
        self.target: ProviderObserver | None = None

    def degraded(self, provider: str, problem: str, fallback: str) -> None:
        if self.target is not None:
            self.target.degraded(provider, problem, fallback)

    def usage(self, *, llm_tokens: int = 0, tts_characters: int = 0,
              stt_seconds: float = 0.0) -> None:
        if self.target is not None:
            self.target.usage(llm_tokens=llm_tokens, tts_characters=tts_characters,
                              stt_seconds=stt_seconds)


# Lines are prepared over this many TTS streams per profile at once: start-up waits for the
# slowest stream (eight lines one after another took 0.8 s more on the fakes' 80 ms first byte).
PREPARE_STREAMS = 3


def _lines_to_prepare(profile: profiles.Profile, *, failover: bool) -> tuple[str, ...]:
    lines = (profile.greeting, *FILLERS, profile.apology, profile.reprompt, profile.goodbye,
             *COMPANY_LINES, DEAF_LINE, GATE_LINE)
    return (*lines, RECOVERY_LINE) if failover else lines  # only a fleet worker resumes calls


def _gate_options(settings: Settings) -> GateOptions:
    """Approve-before-speak (issue 15): the gated reply's wait, from the settings."""
    return GateOptions(timeout_s=settings.gate.timeout_s, policy=settings.gate.timeout_policy,
                       hold_after_s=settings.gate.hold_after_s,
                       hold_every_s=settings.gate.hold_every_s)
