"""The fleet's one way to open Redis: the official client's asyncio API."""

from __future__ import annotations

import redis.asyncio as aioredis
from pydantic import SecretStr


def connect(url: SecretStr) -> aioredis.Redis:
    """A client for the fleet's Redis. Nothing is sent until first use; replies stay bytes
    (stream entries are decoded by wire.py)."""
    return aioredis.Redis.from_url(url.get_secret_value(), health_check_interval=5)
