"""The session's audio queue as recognizers read it: in order, nothing lost, batched only when
frames piled up."""

from __future__ import annotations

import asyncio

from console.providers.base import AudioQueueReader

FRAME = b"\x7f" * 160


async def test_a_reader_that_keeps_up_gets_one_frame_at_a_time() -> None:
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    reader = AudioQueueReader(queue)
    queue.put_nowait(FRAME)
    assert await reader.read_batch(3200) == FRAME
    queue.put_nowait(b"\x01" * 160)
    assert await reader.read_batch(3200) == b"\x01" * 160


async def test_frames_that_piled_up_come_as_one_chunk_in_order_up_to_the_limit() -> None:
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    reader = AudioQueueReader(queue)
    frames = [bytes([i]) * 160 for i in range(30)]
    for frame in frames:
        queue.put_nowait(frame)
    first = await reader.read_batch(3200)  # 20 frames
    second = await reader.read_batch(3200)
    assert first == b"".join(frames[:20]) and second == b"".join(frames[20:])


async def test_the_end_of_the_audio_follows_the_last_frames_and_stays_ended() -> None:
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    reader = AudioQueueReader(queue)
    queue.put_nowait(FRAME)
    queue.put_nowait(None)
    assert await reader.read_batch(3200) == FRAME
    assert await reader.read_batch(3200) is None
    assert [chunk async for chunk in reader] == []  # a second consumer sees the end too


async def test_a_read_cancelled_while_waiting_loses_nothing() -> None:
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    reader = AudioQueueReader(queue)
    waiting = asyncio.create_task(reader.read_batch(3200))
    await asyncio.sleep(0)  # let it start waiting on the empty queue
    waiting.cancel()
    queue.put_nowait(FRAME)
    assert await reader.read_batch(3200) == FRAME
