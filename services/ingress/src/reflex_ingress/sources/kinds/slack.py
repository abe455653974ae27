"""Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{ts}:{raw body}">` with the signing
secret, `X-Slack-Request-Timestamp: <unix s>`.

The Events API sends JSON: its `url_verification` request is answered 200 with the `challenge`
value (only after the signature passed) and nothing is queued; other events are keyed by
`event_id`. Slash commands and interactivity arrive form-encoded and have no natural key. Slack's
deprecated verification `token` (a secret) is removed from the body before it is stored, whether it
is a JSON field, a form parameter or inside an interactivity `payload`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from reflex_ingress.sources.config import SourceConfig
from reflex_ingress.sources.options import Options, dedup_horizon_s, replay_window_s
from reflex_ingress.sources.request import Rejected, Reply, Verified, WebhookRequest
from reflex_ingress.sources.secrets import SecretRing
from reflex_ingress.sources.verifier import (
    OnLoop,
    json_object,
    json_without,
    require_method,
    text_field,
    verify_v0_signature,
)

REPLAY_WINDOW_S = 300
# Slack retries an event three times within about an hour (now, +1 min, +5 min), same event_id.
DEDUP_HORIZON_S = 3600


@dataclass(frozen=True)
class SlackVerifier(OnLoop):
    ring: SecretRing
    replay_window_s: int = REPLAY_WINDOW_S
    sends_json: bool = True
    dedup_horizon_s: int = DEDUP_HORIZON_S

    def verify(self, request: WebhookRequest, now: datetime) -> Verified:
        require_method(request, "POST")
        index = verify_v0_signature(
            request,
            self.ring,
            now,
            signature_header="x-slack-signature",
            timestamp_header="x-slack-request-timestamp",
            replay_window_s=self.replay_window_s,
        )
        # JSON or form is decided by the signed body, never by the unsigned Content-Type: a captured
        # event re-sent as "form" must not lose its event_id dedup key.
        if not request.body.lstrip().startswith(b"{"):
            # Slash commands and interactivity: no natural key; an exact replay is the same body.
            return Verified(
                delivery_key="sha256:" + hashlib.sha256(request.body).hexdigest(),
                secret_index=index,
                stored_body=_form_without_token(request.body),
            )
        payload = json_object(request)
        if payload.get("type") == "url_verification":
            challenge = payload.get("challenge")
            if not isinstance(challenge, str) or not challenge:
                raise Rejected(400, "url_verification without a challenge")
            return Verified(secret_index=index, reply=Reply(200, challenge.encode(), "text/plain"))
        return Verified(
            delivery_key=text_field(payload, "event_id"),
            secret_index=index,
            stored_body=json_without(request.body, _drop_token) if "token" in payload else None,
        )


def _drop_token(payload: Any) -> None:
    payload.pop("token", None)


def _form_without_token(body: bytes) -> bytes | None:
    """The form without its `token` parameter (nor one inside a JSON `payload`); None if it has none."""
    try:
        params = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        return None  # refused as a form by the ingress's body check
    kept: list[tuple[str, str]] = []
    changed = False
    for name, value in params:
        if name == "token":
            changed = True
            continue
        if name == "payload" and value.lstrip().startswith("{"):
            try:
                inner = json.loads(value)
            except ValueError:
                inner = None
            if isinstance(inner, dict) and "token" in inner:
                del inner["token"]
                value = json.dumps(inner, ensure_ascii=False, separators=(",", ":"))
                changed = True
        kept.append((name, value))
    return urlencode(kept).encode() if changed else None


def build(config: SourceConfig, ring: SecretRing) -> SlackVerifier:
    Options.of(config, ())
    return SlackVerifier(
        ring=ring,
        replay_window_s=replay_window_s(config, REPLAY_WINDOW_S),
        dedup_horizon_s=dedup_horizon_s(config, DEDUP_HORIZON_S),
    )
