"""Reading a webhook body: never more than the source's max_body_bytes, never a truncated body."""

from __future__ import annotations

from aiohttp import web

from reflex_ingress.sources.registry import Source
from reflex_ingress.sources.request import Rejected

CHUNK_BYTES = 64 * 1024


def too_large(limit: int) -> Rejected:
    return Rejected(413, f"body larger than {limit} bytes", extra={"max_body_bytes": limit}, close=True)


async def read_body(request: web.Request, source: Source) -> bytes:
    """The whole body; Rejected(413) when it exceeds the source's limit."""
    limit = source.config.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(CHUNK_BYTES):
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)
