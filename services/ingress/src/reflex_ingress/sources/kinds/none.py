"""`none`: no verification at all. Exists only because a source says so explicitly; never a default."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from reflex_ingress.sources.config import SourceConfig
from reflex_ingress.sources.options import Options
from reflex_ingress.sources.request import Verified, WebhookRequest
from reflex_ingress.sources.secrets import SecretRing
from reflex_ingress.sources.verifier import OnLoop, body_bound_key


@dataclass(frozen=True)
class NoVerification(OnLoop):
    delivery_key_header: str | None = None
    sends_json: bool = True
    dedup_horizon_s: int = 0

    def verify(self, request: WebhookRequest, now: datetime) -> Verified:
        key = request.header(self.delivery_key_header) if self.delivery_key_header else None
        return Verified(delivery_key=body_bound_key(key, request.body))


def build(config: SourceConfig, ring: SecretRing) -> NoVerification:
    options = Options.of(config, ("delivery_key_header", "sends_json"))
    if len(ring):
        raise ValueError("kind none verifies nothing: it takes no secrets")
    key_header = options.text("delivery_key_header")
    return NoVerification(
        delivery_key_header=key_header.lower() if key_header else None,
        sends_json=options.flag("sends_json", True),
        dedup_horizon_s=config.dedup_horizon_s or 0,
    )
