"""How Twilio reaches this process: an optional ngrok tunnel and the number's voice webhook.

Both are set up after the server listens and undone at shutdown, in reverse order; a failure is
reported in plain words and never stops the server (calls placed directly still work). Undoing
also works on a start-up cut short: whatever was opened or pointed is closed or put back, even a
webhook update still on its way to Twilio when the start-up was called off.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from console.config import PublicAddress, Settings
from console.telephony.tunnel import Tunnel, TunnelError, open_tunnel, tunnel_wanted
from console.telephony.twilio_rest import TwilioRest
from console.telephony.webhook_sync import WebhookSync, WebhookSyncError

log = logging.getLogger(__name__)

Progress = Callable[[str, str], None]
# A webhook update in flight when start-up was cancelled is given this long to land (then put back).
POINTING_WAIT_S = 10.0


class PublicEdge:
    def __init__(self, settings: Settings, address: PublicAddress | None = None, *,
                 want_tunnel: bool = False) -> None:
        self.settings = settings
        self.address = address or PublicAddress.of(settings)  # the runtime's, shared
        self.want_tunnel = want_tunnel
        self.tunnel: Tunnel | None = None
        self.webhook: WebhookSync | None = None
        self._rest: TwilioRest | None = None
        self._pointing: asyncio.Task[str] | None = None
        self.state = {"tunnel": "off", "webhook": "off"}

    async def open(self, port: int, progress: Progress) -> None:
        await self._open_tunnel(port, progress)
        await self._sync_webhook(progress)

    async def _open_tunnel(self, port: int, progress: Progress) -> None:
        secret = self.settings.public.ngrok_authtoken
        token = secret.get_secret_value() if secret else None
        if not tunnel_wanted(self.want_tunnel, token):
            return
        bound = self.settings.server.host
        host = "127.0.0.1" if bound in ("0.0.0.0", "") else bound
        try:
            self.tunnel = await open_tunnel(port, token, host=host)
        except TunnelError as error:
            fallback = self.address.url or "(none)"
            self.state["tunnel"] = "failed"
            progress("tunnel", f"{error}; using PUBLIC_URL={fallback} instead")
            return
        # /voice and /media read the public URL per request, so this takes effect at once.
        self.address.url = self.tunnel.public_url
        self.state["tunnel"] = self.tunnel.public_url
        progress("tunnel", self.tunnel.public_url)

    async def _sync_webhook(self, progress: Progress) -> None:
        s, public = self.settings, self._webhook_base()
        if not (s.twilio.account_sid and s.twilio.auth_token and s.twilio.phone_number
                and public):
            if s.fleet.url is not None and s.twilio.phone_number:
                self.state["webhook"] = "fleet: not synced (no VOICECONSOLE_FLEET_FRONT_URL)"
                progress("webhook", self.state["webhook"])
            return
        self._rest = TwilioRest(s.twilio.account_sid, s.twilio.auth_token.get_secret_value(),
                                s.twilio.api_base_url)
        self.webhook = WebhookSync(self._rest, s.twilio.phone_number)
        # Its own task, shielded: if start-up is cancelled meanwhile, Twilio may still apply the
        # change, and close() must wait for it to know what to put back.
        self._pointing = asyncio.create_task(self.webhook.point_at(public),
                                             name="webhook-point")
        try:
            previous = await asyncio.shield(self._pointing)
        except WebhookSyncError as error:
            self.state["webhook"] = "failed"
            progress("webhook", str(error))
            return
        self.state["webhook"] = f"{public}/voice"
        kept = "kept on exit: the fleet's" if self._in_fleet() else "restored on exit"
        progress("webhook", f"{s.twilio.phone_number} -> {public}/voice "
                            f"(was {previous or 'unset'}; {kept})")

    def _in_fleet(self) -> bool:
        return self.settings.fleet.url is not None

    def _webhook_base(self) -> str | None:
        """Where the number's voice webhook points: this process's public URL; in a fleet, the
        front every worker shares (never one worker's own address, which would take the number
        away from the others), or nowhere without one."""
        if self._in_fleet():
            return self.settings.fleet.front_url
        return self.address.url

    async def close(self) -> None:
        if self._pointing is not None:
            await asyncio.wait([self._pointing], timeout=POINTING_WAIT_S)
            if self._pointing.done() and not self._pointing.cancelled():
                self._pointing.exception()  # retrieved: a failure to point leaves nothing to undo
        # A fleet's worker leaves the number on the front: the other workers still answer it.
        if self.webhook is not None and not self._in_fleet() and not await self.webhook.restore():
            log.warning("webhook not restored: %s", self.webhook.last_error)
        if self._rest is not None:
            await self._rest.aclose()
        if self.tunnel is not None:
            await self.tunnel.close()
