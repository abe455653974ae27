"""Source kinds by name, and the building of every configured source at start (fail closed)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from reflex_common.errors import ConfigError
from reflex_ingress.sources.config import SourceConfig
from reflex_ingress.sources.kinds import github, none
from reflex_ingress.sources.secrets import Secret, SecretRing
from reflex_ingress.sources.verifier import Verifier

Builder = Callable[[SourceConfig, SecretRing], Verifier]

KINDS: dict[str, Builder] = {
    "github": github.build,
    "none": none.build,
}
# Kinds that verify nothing and so need no secret.
SECRETLESS_KINDS = frozenset({"none"})


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
