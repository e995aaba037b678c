"""A bounded reader of server-sent events (the `data:` lines of a streamed completion)."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable

from aiwf.workers.llm.errors import InvalidResponse

__all__ = ["sse_data"]


async def sse_data(chunks: AsyncIterable[bytes], *, max_bytes: int) -> AsyncIterator[str]:
    """Yield the data of each event; refuse a stream longer than `max_bytes` in total."""
    pending = bytearray()
    data: list[str] = []
    seen = 0
    async for chunk in chunks:
        seen += len(chunk)
        if seen > max_bytes:
            msg = f"event stream passed {max_bytes} bytes"
            raise InvalidResponse(msg)
        if b"\n" not in chunk:
            pending += chunk
            continue
        first, *middle, rest = chunk.split(b"\n")
        lines: Iterable[bytes] = [bytes(pending) + first, *middle]
        pending = bytearray(rest)
        for raw in lines:
            line = raw.rstrip(b"\r").decode("utf-8", errors="replace")
            if not line:  # a blank line dispatches the event
                if data:
                    yield "\n".join(data)
                    data = []
            elif line.startswith("data:"):
                data.append(_field_value(line))
            # comments (":"), "event:", "id:" and "retry:" carry nothing we use
    tail = pending.rstrip(b"\r").decode("utf-8", errors="replace")
    if tail.startswith("data:"):
        data.append(_field_value(tail))
    if data:
        yield "\n".join(data)


def _field_value(line: str) -> str:
    value = line[5:]
    return value[1:] if value.startswith(" ") else value
