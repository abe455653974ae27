"""Malformed HTTP against the ingress process (issue 10, findings 4 and 6): answered 4xx in our words,
never echoing the request; every log line is one JSON object and a flood of one error is throttled;
`Server` names no version."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from ingress_process import IngressProcess, ingress_process
from pipeline import github_headers

MALFORMED = [
    b"GARBAGE-METHOD\x01 / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /api/v1/events/demo HTTP/1.1\r\nHost: x\r\nBad\x00Header: y\r\n\r\n",
    b"POST /api/v1/events/demo HTTP/9.9\r\nHost: x\r\n\r\n",
    b"POST /api/v1/events/demo HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    b"POST /api/v1/events/demo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40,  # TLS to the plain-HTTP port
]


async def exchange(ingress: IngressProcess, raw: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", ingress.port)
    writer.write(raw)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(65536), 10)
    finally:
        writer.close()


@pytest.mark.slow
@pytest.mark.timeout(60)
async def test_malformed_http_is_answered_in_our_words_and_logged_as_throttled_json_lines(
    redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    with ingress_process(redis_url, key_prefix, tmp_path, LOG_LEVEL="info") as ingress:
        for raw in MALFORMED * 10:
            answer = await exchange(ingress, raw)
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith((b"HTTP/1.1 4", b"HTTP/1.0 4")), answer[:200]
            assert b"Server: reflex-ingress\r\n" in head
            assert orjson.loads(body)["error"] == "malformed HTTP request"  # no parser internals, no echo
        body = orjson.dumps({"ok": 1})
        ok = await exchange(
            ingress,
            b"POST /api/v1/events/demo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            + b"".join(f"{k}: {v}\r\n".encode() for k, v in github_headers(body).items())
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body,
        )
        assert ok.startswith(b"HTTP/1.1 202") and b"Server: reflex-ingress\r\n" in ok
        assert b"aiohttp/" not in ok and b"Python/" not in ok
    lines = [line for line in ingress.log_path.read_bytes().splitlines() if line.strip()]
    records = [orjson.loads(line) for line in lines]  # every line is one JSON object
    malformed = [r for r in records if r["event"] in ("malformed_request", "aiohttp_log")]
    print(f"\n{len(MALFORMED) * 10} malformed requests: {len(malformed)} log lines, {len(lines)} lines in all")
    assert malformed, "malformed requests are logged"
    assert len(malformed) <= 5 * len(MALFORMED)  # throttled: at most 5 per kind of error per 10 s
    assert not any("Traceback" in line.decode(errors="replace") for line in lines)
