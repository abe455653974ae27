"""The registry: every kind is known, fails closed at start, reports its defaults."""

from __future__ import annotations

import base64

import pytest

from reflex_common.errors import ConfigError
from reflex_ingress.sources.config import SourceConfig
from reflex_ingress.sources.registry import KINDS, SECRETLESS_KINDS, build_source

SNS_OPTIONS = {"topic_arns": ["arn:aws:sns:us-east-1:1:t"], "fetch_certificates": True}
# The smallest valid configuration of each kind: (secrets, options).
MINIMAL: dict[str, tuple[list[str], dict[str, object]]] = {
    "basic": (["user:pw"], {}),
    "discord": (["ab" * 32], {}),
    "github": (["s"], {}),
    "gitlab": (["s"], {}),
    "hmac": (["s"], {"header": "X-Sig"}),
    "linear": (["s"], {}),
    "meta": (["s"], {}),
    "msgraph": (["s"], {}),
    "none": ([], {}),
    "pagerduty": (["s"], {}),
    "shopify": (["s"], {}),
    "slack": (["s"], {}),
    "sns": ([], SNS_OPTIONS),
    "standard": (["whsec_" + base64.b64encode(b"k" * 24).decode()], {}),
    "stripe": (["whsec_s"], {}),
    "token": (["s"], {"header": "Authorization"}),
    "twilio": (["s"], {}),
    "twitch": (["s"], {}),
    "zoom": (["s"], {}),
}
# At least as long as the sender retries (documented retry periods).
MIN_DEDUP_HORIZON_S = {
    "stripe": 3 * 24 * 3600,
    "shopify": 48 * 3600,
    "slack": 3600,
    "github": 24 * 3600,
    "standard": 3 * 24 * 3600,
    "twitch": 600,
    "zoom": 2 * 3600 + 5 * 60,
    "linear": 7 * 3600 + 60,
    "meta": 36 * 3600,
    "msgraph": 4 * 3600,
    "sns": 3600,
}
REPLAY_WINDOWS_S = {
    "stripe": 300,
    "slack": 300,
    "standard": 300,
    "zoom": 300,
    "discord": 300,
    "linear": 60,
    "twitch": 600,
    "hmac": 300,
}


def build(kind: str, **fields: object):
    secrets, options = MINIMAL[kind]
    merged = {"secrets": secrets, "options": options, **fields}
    return build_source(SourceConfig(name="src", kind=kind, **merged)).verifier  # type: ignore[arg-type]


def test_every_kind_of_the_issue_is_registered():
    assert set(KINDS) == set(MINIMAL)


@pytest.mark.parametrize("kind", sorted(MINIMAL))
def test_each_kind_builds_and_states_its_contract(kind):
    verifier = build(kind)
    assert isinstance(verifier.sends_json, bool)
    assert verifier.dedup_horizon_s >= MIN_DEDUP_HORIZON_S.get(kind, 0)
    assert verifier.sends_json is (kind != "twilio")


@pytest.mark.parametrize("kind", sorted(set(MINIMAL) - SECRETLESS_KINDS))
def test_a_kind_without_secrets_does_not_start(kind):
    with pytest.raises(ConfigError, match="needs at least one secret"):
        build(kind, secrets=[])


@pytest.mark.parametrize("kind", sorted(set(MINIMAL) - {"none"}))
def test_an_unknown_option_does_not_start(kind):
    _, options = MINIMAL[kind]
    with pytest.raises(ConfigError, match="unknown option"):
        build(kind, options={**options, "typo_option": 1})


def test_unknown_kind_does_not_start():
    with pytest.raises(ConfigError, match="unknown kind"):
        build_source(SourceConfig(name="src", kind="carrier-pigeon", secrets=["s"]))


@pytest.mark.parametrize("kind", sorted(set(MINIMAL) - {"none"}))
def test_dedup_horizon_is_configurable(kind):
    assert build(kind, dedup_horizon_s=12345).dedup_horizon_s == 12345


@pytest.mark.parametrize(("kind", "default_s"), sorted(REPLAY_WINDOWS_S.items()))
def test_replay_window_default_and_override(kind, default_s):
    assert build(kind).replay_window_s == default_s
    assert build(kind, replay_window_s=42).replay_window_s == 42


def test_config_errors_never_show_a_secret():
    with pytest.raises(ConfigError) as caught:
        build_source(SourceConfig(name="src", kind="discord", secrets=["my-private-thing"]))
    assert "my-private-thing" not in str(caught.value)
