"""RFC 6455 framing for the benches' lean sockets (bench/lean_callers.py, bench/lean_fakes.py),
as much of it as loopback needs: whole frames (neither side here fragments a message), and a
client's frames masked with a zero key (a server unmasks them like any others, and the mask is
then a copy)."""

from __future__ import annotations

import base64
import hashlib

TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA
ZERO_MASK = b"\x00\x00\x00\x00"
ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3


def encode(opcode: int, payload: bytes, *, masked: bool) -> bytes:
    """One final frame; `masked` for a client's (with the zero key)."""
    size, mask = len(payload), 0x80 if masked else 0
    if size < 126:
        head = bytes((0x80 | opcode, mask | size))
    elif size < 65536:
        head = bytes((0x80 | opcode, mask | 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, mask | 127)) + size.to_bytes(8, "big")
    return head + ZERO_MASK + payload if masked else head + payload


def take_head(buffer: bytearray) -> bytes | None:
    """Remove the upgrade's HTTP head (up to its blank line) from the front of `buffer`; None
    while it has not all arrived."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buffer[:end])
    del buffer[: end + 4]
    return head


def take_frames(buffer: bytearray) -> list[tuple[int, bytes]]:
    """Remove every whole frame from the front of `buffer`: (opcode, payload unmasked)."""
    frames = []
    while len(buffer) >= 2:
        length, start = buffer[1] & 0x7F, 2
        if length >= 126:
            start = 4 if length == 126 else 10
            if len(buffer) < start:
                break
            length = int.from_bytes(buffer[2:start], "big")
        key = bytes(buffer[start : start + 4]) if buffer[1] & 0x80 else b""
        end = start + len(key) + length
        if len(buffer) < end:
            break
        payload = bytes(buffer[end - length : end])
        frames.append((buffer[0] & 0x0F, unmasked(payload, key) if key else payload))
        del buffer[:end]
    return frames


def unmasked(payload: bytes, key: bytes) -> bytes:
    """XOR with the 4-byte key, as one big integer (no per-byte Python loop)."""
    size = len(payload)
    keys = (key * (size // 4 + 1))[:size]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(keys, "little")).to_bytes(
        size, "little")


def accept(key: str) -> str:
    """The server's Sec-WebSocket-Accept for a client's Sec-WebSocket-Key."""
    return base64.b64encode(hashlib.sha1(key.encode() + ACCEPT_GUID).digest()).decode()
