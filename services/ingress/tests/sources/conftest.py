"""Fixtures for verifier tests: build a source's verifier as the service does, and requests as the
handler builds them (header names lower-cased). Pure: no servers, a fixed clock."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from reflex_ingress.sources.config import SecretSpec, SourceConfig
from reflex_ingress.sources.registry import build_source
from reflex_ingress.sources.request import WebhookRequest
from reflex_ingress.sources.verifier import Verifier

NOW = datetime(2024, 6, 1, 12, 0, 0, tzinfo=UTC)
URL = "https://hooks.example.com/api/v1/events/test"

MakeVerifier = Callable[..., Verifier]
MakeRequest = Callable[..., WebhookRequest]


@pytest.fixture(scope="session")
def now() -> datetime:
    return NOW


@pytest.fixture(scope="session")
def make_verifier() -> MakeVerifier:
    def make(kind: str, *secrets: str | SecretSpec, **fields: Any) -> Verifier:
        config = SourceConfig(name="test", kind=kind, secrets=list(secrets), **fields)
        return build_source(config).verifier

    return make


@pytest.fixture(scope="session")
def make_request() -> MakeRequest:
    def make(
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        *,
        method: str = "POST",
        url: str = URL,
        query: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> WebhookRequest:
        return WebhookRequest(
            method=method,
            url=url,
            headers={k.lower(): v for k, v in (headers or {}).items()},
            query=dict(query or {}),
            body=body,
            content_type=content_type,
        )

    return make
