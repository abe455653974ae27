"""Signed webhook bodies and the raw entries the ingress would have made of them."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

import orjson

SOURCE_NAME = "bench"
BODY_BYTES = 1024
# Distinct signed bodies the load generators cycle through (the delivery id makes each request unique).
BODY_VARIANTS = 24
EVENT_TYPES: tuple[tuple[str, str | None], ...] = (
    ("push", None),
    ("issues", "opened"),
    ("pull_request", "synchronize"),
)


@dataclass(frozen=True, slots=True)
class Variant:
    body: bytes
    signature: str  # the X-Hub-Signature-256 value
    event: str  # the X-GitHub-Event value


def make_body(i: int, event: str, action: str | None, size: int = BODY_BYTES) -> bytes:
    """A GitHub-like JSON body of exactly `size` bytes."""
    stamp = "2024-05-01T12:00:00Z"
    doc: dict[str, Any] = {}
    if action is not None:
        doc["action"] = action
    doc["repository"] = {
        "id": 4242,
        "full_name": "octo-org/bench-repo",
        "private": False,
        "owner": {"login": "octo-org", "id": 1},
    }
    doc["sender"] = {"login": f"user{i}", "id": 1000 + i, "type": "User"}
    if event == "push":
        doc["ref"] = "refs/heads/main"
        doc["head_commit"] = {
            "id": hashlib.sha1(str(i).encode()).hexdigest(),
            "timestamp": stamp,
            "message": f"commit number {i}",
        }
    elif event == "issues":
        doc["issue"] = {"number": i, "title": f"issue {i}", "state": "open", "updated_at": stamp}
    else:
        doc["pull_request"] = {"number": i, "title": f"pr {i}", "state": "open", "updated_at": stamp}
    doc["padding"] = ""
    filler = size - len(orjson.dumps(doc))
    if filler < 0:
        raise ValueError(f"body template is larger than {size} bytes")
    doc["padding"] = "x" * filler
    body = orjson.dumps(doc)
    assert len(body) == size
    return body


def make_variants(secret: str, count: int = BODY_VARIANTS) -> list[Variant]:
    variants = []
    for i in range(count):
        event, action = EVENT_TYPES[i % len(EVENT_TYPES)]
        body = make_body(i, event, action)
        signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        variants.append(Variant(body, signature, event))
    return variants


def sources_yaml(secret_env: str) -> str:
    return f'sources:\n  - name: {SOURCE_NAME}\n    kind: github\n    secrets: ["env:{secret_env}"]\n'


def raw_events(n: int, secret: str, sampled: bool, delivery_prefix: str = "bench") -> list[Any]:
    """n RawEvents as the ingress would have written them (github kind, 1 KiB signed bodies)."""
    from reflex_common.ids import new_event_id
    from reflex_common.schemas import RawEvent

    variants = make_variants(secret)
    now_ms = int(time.time() * 1000)
    events = []
    for i in range(n):
        v = variants[i % len(variants)]
        delivery = f"{delivery_prefix}-{i}"
        received_ms = now_ms - (n - i) // 50  # in arrival order, 50 per millisecond
        trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
        events.append(
            RawEvent(
                event_id=new_event_id(received_ms),
                source=SOURCE_NAME,
                kind="github",
                received_at_ms=received_ms,
                body=v.body,
                headers={
                    "host": "127.0.0.1:8080",
                    "content-type": "application/json",
                    "x-github-event": v.event,
                    "user-agent": "GitHub-Hookshot/bench",
                    "content-length": str(len(v.body)),
                    "x-github-delivery": delivery,
                },
                content_type="application/json",
                delivery_key=delivery,
                # As the ingress writes them: sampled only when traces are exported (--traces-sampled).
                traceparent=f"00-{trace_id}-{span_id}-{'01' if sampled else '00'}",
            )
        )
    return events
