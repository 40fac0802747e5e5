"""Is another media server alive? Asked by fleet failover (console/fleet/failover.py) about the
worker that ran a call whose stream just ended: aiohttp stays at the network edges."""

from __future__ import annotations

import aiohttp


async def answers(base_url: str, timeout_s: float) -> bool:
    """The server at `base_url` answers /health within `timeout_s` (a dead process refuses the
    connection at once; a lost machine does not answer at all)."""
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as http, \
                http.get(base_url.rstrip("/") + "/health") as response:
            return response.status < 500
    except (aiohttp.ClientError, OSError, TimeoutError):
        return False
