"""Fuzzed requests against the running ingress process with real Redis: every answer is one of the
documented ones, never a 5xx, and exactly the 202s are stored."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis import Redis

from ingress_process import IngressProcess, ingress_process
from pipeline import github_headers
from reflex_common.keys import Keys

DOCUMENTED = {200, 202, 400, 401, 404, 405, 413, 415, 429}
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80)
HEADER_NAMES = st.sampled_from(
    [
        "X-Hub-Signature-256",
        "X-GitHub-Event",
        "X-GitHub-Delivery",
        "Content-Type",
        "Content-Encoding",
        "X-Forwarded-Host",
        "X-Junk",
    ]
)


class Ingress:
    """The ingress process, a session to it, and its raw stream's length."""

    def __init__(self, process: IngressProcess, redis_url: str, prefix: str) -> None:
        self.process = process
        self.redis = Redis.from_url(redis_url)
        self.stream = Keys(prefix).raw_stream

    def post(self, path: str, body: bytes, headers: dict[str, str], method: str = "POST") -> int:
        # http.client sends header values as they are (leading spaces and all), as a hostile sender would.
        conn = http.client.HTTPConnection("127.0.0.1", self.process.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    def stored(self) -> int:
        return int(self.redis.xlen(self.stream))

    def close(self) -> None:
        self.redis.close()


@pytest.fixture
def ingress(redis_url: str, key_prefix: str, tmp_path: Path) -> Iterator[Ingress]:
    with ingress_process(redis_url, key_prefix, tmp_path) as process:
        it = Ingress(process, redis_url, key_prefix)
        yield it
        it.close()


@pytest.mark.slow
@pytest.mark.timeout(300)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    source=st.sampled_from(["demo", "small", "nope", "DEMO", "demo%2F..", ""]),
    method=st.sampled_from(["POST", "POST", "POST", "GET", "PUT"]),
    body=st.one_of(
        st.binary(max_size=200),
        st.builds(lambda t: t.encode(), st.text(max_size=200)),
        st.sampled_from([b"{}", b'{"a": 1}', b"[]", b"null", b'{"a": "\\u0000"}']),
    ),
    sign=st.booleans(),
    extra=st.dictionaries(HEADER_NAMES, HEADER_TEXT, max_size=4),
)
def test_fuzzed_requests_get_documented_answers_and_only_202s_are_stored(
    ingress: Ingress, source: str, method: str, body: bytes, sign: bool, extra: dict[str, str]
) -> None:
    headers = {**extra, **(github_headers(body) if sign else {})}
    before = ingress.stored()
    status = ingress.post(f"/api/v1/events/{source}", body, headers, method)
    assert status in DOCUMENTED
    assert ingress.stored() - before == (1 if status == 202 else 0)
