"""The OpenAPI description served at /openapi.json is the one kept in docs/."""

from __future__ import annotations

from pathlib import Path

import orjson
import schemathesis

from reflex_ingress.openapi import document_bytes

DOCS = Path(__file__).parents[3] / "docs" / "openapi.json"


def test_docs_openapi_json_is_the_served_description() -> None:
    # After a change: uv run python -m reflex_ingress.openapi > docs/openapi.json
    assert DOCS.read_bytes() == document_bytes()


def test_the_description_loads_as_openapi_with_every_endpoint() -> None:
    schema = schemathesis.openapi.from_dict(orjson.loads(document_bytes()))
    labels = {result.ok().label for result in schema.get_all_operations()}
    assert labels == {
        "POST /api/v1/events/{source}",
        "GET /api/v1/events/{source}",
        "GET /livez",
        "GET /readyz",
        "GET /openapi.json",
    }
