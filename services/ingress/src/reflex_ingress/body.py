"""Reading a webhook body under budgets: never more than the source's max_body_bytes (413), never past
the body deadline (408), never past the bytes all in-flight requests may hold at once (503)."""

from __future__ import annotations

import asyncio
import zlib

from aiohttp import web

from reflex_ingress.budget import Hold
from reflex_ingress.keys import BUDGET, SETTINGS
from reflex_ingress.sources.registry import Source
from reflex_ingress.sources.request import Rejected

CHUNK_BYTES = 64 * 1024


def too_busy(retry_after_s: int) -> Rejected:
    return Rejected(503, "too many bodies in flight; retry later", retry_after_s=retry_after_s, close=True)


def too_large(limit: int) -> Rejected:
    return Rejected(413, f"body larger than {limit} bytes", extra={"max_body_bytes": limit})


async def read_body(request: web.Request, source: Source, hold: Hold) -> bytes:
    """The whole body, its bytes taken from the budget as they come (all at once when the length is
    declared). Raises Rejected 413 (over the source's limit), 503 (over the budget: nothing more is
    read), or 408 (not received within the body deadline: the connection is closed)."""
    app = request.app
    budget = app[BUDGET]
    limit = source.max_body_bytes
    declared = request.content_length
    if declared is not None:
        if declared > limit:
            raise too_large(limit)
        if not budget.grow(hold, declared):
            raise too_busy(app[SETTINGS].retry_after_s)
        if request.content.is_eof():
            # Received whole with the headers (the common case of a small webhook): nothing to wait
            # for, so no deadline to arm. aiohttp frames a declared body by its length.
            return request.content.read_nowait()
    return await _read_chunks(request, limit, hold)


async def _read_chunks(request: web.Request, limit: int, hold: Hold) -> bytes:
    """The body as it arrives, within the body deadline, never past the limit or the budget."""
    settings, budget = request.app[SETTINGS], request.app[BUDGET]
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(settings.body_timeout_s):
            async for chunk in request.content.iter_chunked(CHUNK_BYTES):
                size += len(chunk)
                if size > limit:
                    raise too_large(limit)
                if not budget.grow(hold, size):
                    raise too_busy(settings.retry_after_s)
                chunks.append(chunk)
    except TimeoutError:
        raise Rejected(408, f"body not received within {settings.body_timeout_s:g} s", close=True) from None
    return b"".join(chunks)


# Content-Encoding -> zlib's wbits for it.
_DECODERS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


def decoded(body: bytes, encoding: str | None, limit: int) -> bytes:
    """The body as the sender meant it: a compressed one (gzip, deflate) decompressed after it was
    verified over the bytes as sent, never past `limit` (413); a bad one is 400, an unknown encoding 415."""
    name = (encoding or "identity").strip().lower()
    if name in ("", "identity"):
        return body
    wbits = _DECODERS.get(name)
    if wbits is None:
        raise Rejected(415, "Content-Encoding not supported (gzip, deflate or none)")
    decoder = zlib.decompressobj(wbits)
    try:
        data = decoder.decompress(body, limit + 1)
        if len(data) <= limit and not decoder.unconsumed_tail:
            data += decoder.flush()
    except zlib.error as exc:
        raise Rejected(400, f"body is not valid {name}") from exc
    if len(data) > limit or decoder.unconsumed_tail:
        raise too_large(limit)
    if not decoder.eof:
        raise Rejected(400, f"body is not valid {name} (truncated)")
    return data


def decode_body(request: web.Request, source: Source, body: bytes, hold: Hold) -> bytes:
    """The verified body decoded (see decoded), the decoded bytes taken from the budget too."""
    data = decoded(body, request.headers.get("Content-Encoding"), source.max_body_bytes)
    if data is not body and not request.app[BUDGET].grow(hold, len(body) + len(data)):
        raise too_busy(request.app[SETTINGS].retry_after_s)
    return data
