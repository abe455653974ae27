"""Microsoft Graph change notifications.

Creating a subscription, Graph POSTs with a `validationToken` query parameter: it is answered
200 text/plain with the token (already URL-decoded) and nothing is queued. Notifications are a
JSON `{"value": [...]}`; each entry carries the subscription's `clientState`, which must equal a
configured secret (constant-time; every entry must match, the first match is reported), and is
removed from the body before it is stored (a secret never reaches the stream). Graph sends no
delivery id and two changes to one resource can have identical bodies, so there is no dedup key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reflex_ingress.sources.config import SourceConfig
from reflex_ingress.sources.options import Options, dedup_horizon_s
from reflex_ingress.sources.request import Rejected, Reply, Verified, WebhookRequest
from reflex_ingress.sources.secrets import SecretRing
from reflex_ingress.sources.verifier import OnLoop, json_object, json_without, require_method, token_match

# Graph retries a failed notification for up to four hours (kept for a manual dedup key).
DEDUP_HORIZON_S = 4 * 3600


@dataclass(frozen=True)
class GraphVerifier(OnLoop):
    ring: SecretRing
    sends_json: bool = True
    dedup_horizon_s: int = DEDUP_HORIZON_S

    def verify(self, request: WebhookRequest, now: datetime) -> Verified:
        require_method(request, "POST")
        token = request.query.get("validationToken")
        if token is not None:
            # Graph's tokens are short opaque text; anything else is not a Graph validation.
            if not token or len(token) > 1024 or not token.isprintable():
                raise Rejected(400, "validationToken missing or malformed")
            return Verified(reply=Reply(200, token.encode(), "text/plain"))
        values = json_object(request).get("value")
        if not isinstance(values, list) or not values:
            raise Rejected(400, "body has no notifications in value")
        first: int | None = None
        for entry in values:
            state = entry.get("clientState") if isinstance(entry, dict) else None
            if not isinstance(state, str) or not state:
                raise Rejected(401, "notification without clientState")
            index = token_match(self.ring, now, state.encode())
            if index is None:
                raise Rejected(401, "clientState does not match")
            first = index if first is None else first
        return Verified(secret_index=first, stored_body=json_without(request.body, _drop_client_state))


def _drop_client_state(payload: Any) -> None:
    for entry in payload["value"]:
        entry.pop("clientState", None)


def build(config: SourceConfig, ring: SecretRing) -> GraphVerifier:
    Options.of(config, ())
    return GraphVerifier(ring=ring, dedup_horizon_s=dedup_horizon_s(config, DEDUP_HORIZON_S))
