"""Source kinds by name, and the building of every configured source at start (fail closed)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from reflex_common.errors import ConfigError
from reflex_ingress.sources.config import SourceConfig
from reflex_ingress.sources.kinds import (
    basic_auth,
    discord,
    generic_hmac,
    github,
    gitlab,
    linear,
    meta,
    msgraph,
    none,
    pagerduty,
    shared_token,
    shopify,
    slack,
    sns,
    standard,
    stripe,
    twilio,
    twitch,
    zoom,
)
from reflex_ingress.sources.secrets import Secret, SecretRing
from reflex_ingress.sources.verifier import Verifier

Builder = Callable[[SourceConfig, SecretRing], Verifier]

KINDS: dict[str, Builder] = {
    "basic": basic_auth.build,
    "discord": discord.build,
    "github": github.build,
    "gitlab": gitlab.build,
    "hmac": generic_hmac.build,
    "linear": linear.build,
    "meta": meta.build,
    "msgraph": msgraph.build,
    "none": none.build,
    "pagerduty": pagerduty.build,
    "shopify": shopify.build,
    "slack": slack.build,
    "sns": sns.build,
    "standard": standard.build,
    "stripe": stripe.build,
    "token": shared_token.build,
    "twilio": twilio.build,
    "twitch": twitch.build,
    "zoom": zoom.build,
}
_KIB, _MIB = 1024, 1024 * 1024
DEFAULT_MAX_BODY_BYTES = 1 * _MIB
# Default max_body_bytes per kind, sized to what the provider sends (docs/sources.md says why).
MAX_BODY_BYTES: dict[str, int] = {
    "github": 25 * _MIB,  # GitHub caps payloads at 25 MB
    "gitlab": 25 * _MIB,  # GitLab's default webhook payload limit is 25 MB
    "sns": 768 * _KIB,  # a 256 KiB message, JSON-escaped, plus its envelope
    "twilio": 64 * _KIB,  # a few dozen short form parameters
    "slack": 256 * _KIB,  # events and interactivity payloads
    "discord": 256 * _KIB,
    "twitch": 64 * _KIB,
    "zoom": 256 * _KIB,
    "linear": 256 * _KIB,
    "pagerduty": 256 * _KIB,
    "msgraph": 1 * _MIB,
}

# Headers kept with every raw entry (when sent), and per kind what its adapter or an operator reads.
# Anything else (and anything named like a credential) is dropped before the XADD.
COMMON_HEADERS = ("content-type", "user-agent", "x-request-id")
GENERIC_HEADERS = ("x-event-type", "x-webhook-event", "x-webhook-id")
KEPT_HEADERS: dict[str, tuple[str, ...]] = {
    "github": (
        "x-github-event",
        "x-github-delivery",
        "x-github-hook-id",
        "x-github-hook-installation-target-id",
        "x-github-hook-installation-target-type",
    ),
    "gitlab": (
        "x-gitlab-event",
        "x-gitlab-event-uuid",
        "x-gitlab-webhook-uuid",
        "x-gitlab-instance",
        "idempotency-key",
    ),
    "shopify": (
        "x-shopify-topic",
        "x-shopify-webhook-id",
        "x-shopify-shop-domain",
        "x-shopify-triggered-at",
        "x-shopify-api-version",
        "x-shopify-event-id",
    ),
    "sns": ("x-amz-sns-message-type", "x-amz-sns-message-id", "x-amz-sns-topic-arn", "x-amz-sns-subscription-arn"),
    "twitch": (
        "twitch-eventsub-message-type",
        "twitch-eventsub-message-id",
        "twitch-eventsub-message-timestamp",
        "twitch-eventsub-message-retry",
        "twitch-eventsub-subscription-type",
        "twitch-eventsub-subscription-version",
    ),
    "slack": ("x-slack-retry-num", "x-slack-retry-reason", "x-slack-request-timestamp"),
    "standard": ("webhook-id", "webhook-timestamp", "svix-id", "svix-timestamp"),
    "linear": ("linear-delivery", "linear-event"),
    "pagerduty": ("x-webhook-id", "x-webhook-subscription"),
    "twilio": ("i-twilio-idempotency-token",),
    "zoom": ("x-zm-request-timestamp", "x-zm-trackingid"),
    "discord": ("x-signature-timestamp",),
    "hmac": GENERIC_HEADERS,
    "token": GENERIC_HEADERS,
    "basic": GENERIC_HEADERS,
    "none": GENERIC_HEADERS,
}

DEFAULT_MAX_FORM_PARAMS = 1000
# Parameters a form body of the kind may have (400 above, before parsing).
MAX_FORM_PARAMS: dict[str, int] = {
    "twilio": twilio.MAX_FORM_PARAMS,
    "github": github.MAX_FORM_PARAMS,
    "slack": 64,  # slash commands: ~15; interactivity: one `payload`
}

# Kinds that need no secret: `none` verifies nothing, `sns` checks AWS's certificate signature
# (and requires its own `topic_arns` option instead).
SECRETLESS_KINDS = frozenset({"none", "sns"})


@dataclass(frozen=True)
class Source:
    config: SourceConfig
    verifier: Verifier

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def kind(self) -> str:
        return self.config.kind

    @property
    def max_body_bytes(self) -> int:
        """413 above this: the source's own limit, else its kind's default."""
        if self.config.max_body_bytes is not None:
            return self.config.max_body_bytes
        return MAX_BODY_BYTES.get(self.kind, DEFAULT_MAX_BODY_BYTES)

    @property
    def kept_headers(self) -> frozenset[str]:
        """The lower-cased names of the headers stored with this source's events."""
        return frozenset(COMMON_HEADERS + KEPT_HEADERS.get(self.kind, ()))

    @property
    def max_form_params(self) -> int:
        return MAX_FORM_PARAMS.get(self.kind, DEFAULT_MAX_FORM_PARAMS)


def build_source(config: SourceConfig) -> Source:
    builder = KINDS.get(config.kind)
    if builder is None:
        known = ", ".join(sorted(KINDS))
        raise ConfigError(f"source {config.name!r}: unknown kind {config.kind!r} (known: {known})")
    specs = config.secret_specs()
    if not specs and config.kind not in SECRETLESS_KINDS:
        raise ConfigError(f"source {config.name!r}: kind {config.kind!r} needs at least one secret")
    ring = SecretRing([Secret.resolve(i, s.value, s.not_after, config.name) for i, s in enumerate(specs)])
    try:
        return Source(config=config, verifier=builder(config, ring))
    except (KeyError, ValueError, TypeError) as exc:
        raise ConfigError(f"source {config.name!r} ({config.kind}): bad options: {exc}") from exc


def build_sources(configs: list[SourceConfig]) -> dict[str, Source]:
    return {c.name: build_source(c) for c in configs}
