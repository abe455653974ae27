"""The OpenAPI description of the ingress's public port, served at /openapi.json and kept in
docs/openapi.json (a test keeps the two equal: `python -m reflex_ingress.openapi > docs/openapi.json`)."""

from __future__ import annotations

import sys
from typing import Any

import orjson

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string", "description": "What was wrong, in our words."}},
}


def _error(description: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}, **extra}


_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}}
_SOURCE = {
    "name": "source",
    "in": "path",
    "required": True,
    "description": "A source's name from SOURCES_FILE.",
    "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_.-]{0,63}$"},
}
# The signature and delivery headers of the kinds (docs/sources.md has them all); each kind reads its own.
_HEADERS = [
    ("X-Hub-Signature-256", "GitHub / Meta: sha256=<hex HMAC-SHA256 of the body>"),
    ("X-GitHub-Event", "GitHub: the event name"),
    ("X-GitHub-Delivery", "GitHub: the delivery id"),
    ("Stripe-Signature", "Stripe: t=<unix s>,v1=<hex>"),
    ("X-Slack-Signature", "Slack: v0=<hex>"),
    ("X-Slack-Request-Timestamp", "Slack: unix seconds"),
    ("X-Twilio-Signature", "Twilio: base64 HMAC-SHA1 of the public URL and parameters"),
    ("I-Twilio-Idempotency-Token", "Twilio: the delivery id"),
    ("Content-Encoding", "gzip, x-gzip, deflate or identity; verified over the bytes as sent"),
    ("traceparent", "W3C trace context, carried on to the stored event"),
]
_RESPONSES = {
    "200": {
        "description": "A repeat of a delivery already stored (`duplicate: true`), or a provider's challenge "
        "answered (text/plain or JSON, as the provider expects); nothing is queued.",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"id": {"type": "string"}, "duplicate": {"type": "boolean"}},
                }
            },
            "text/plain": {"schema": {"type": "string"}},
        },
    },
    "202": {
        "description": "Verified and stored in Redis before this answer.",
        "content": {
            "application/json": {
                "schema": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}
            }
        },
    },
    "400": _error("Malformed: not JSON, nested too deep, a bad form, bad compression, a bad public URL."),
    "401": _error("Not authenticated: a missing, malformed or wrong signature, or a stale timestamp."),
    "403": _error("Authenticated but not accepted here (an SNS topic not listed; a Meta verify token)."),
    "404": _error("No such source, or no such path."),
    "405": _error("A method this source's kind never uses."),
    "408": _error("The body did not arrive within BODY_TIMEOUT_S; the connection is closed."),
    "413": _error("The body is larger than the source's max_body_bytes (before or after decompression)."),
    "415": _error("A Content-Encoding other than gzip, deflate or identity."),
    "429": _error(
        "The raw stream's backlog is over its bound, or too many writes wait: retry later.", headers=_RETRY_AFTER
    ),
    "503": _error(
        "Redis cannot take the write, a signing certificate cannot be fetched now, or too many "
        "bodies are in flight: retry later; nothing was stored.",
        headers=_RETRY_AFTER,
    ),
}


def document() -> dict[str, Any]:
    events = {
        "post": {
            "summary": "Receive a webhook",
            "description": "Verified by the source's kind over the raw bytes (docs/sources.md), then stored.",
            "operationId": "receiveWebhook",
            "parameters": [_SOURCE]
            + [
                {"name": name, "in": "header", "required": False, "description": text, "schema": {"type": "string"}}
                for name, text in _HEADERS
            ],
            "requestBody": {
                "required": False,
                "content": {
                    "application/json": {"schema": {}},
                    "application/x-www-form-urlencoded": {
                        "schema": {"type": "object", "additionalProperties": {"type": "string"}}
                    },
                    "text/plain": {"schema": {"type": "string"}},
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                },
            },
            "responses": _RESPONSES,
        },
        "get": {
            "summary": "Answer a provider's subscription challenge (Meta hub.challenge, Graph validationToken)",
            "operationId": "answerChallenge",
            "parameters": [
                _SOURCE,
                *(
                    {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
                    for name in ("hub.mode", "hub.verify_token", "hub.challenge", "validationToken")
                ),
            ],
            "responses": {k: v for k, v in _RESPONSES.items() if k in ("200", "400", "401", "403", "404", "405")},
        },
    }

    def probe(summary: str, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "get": {
                "summary": summary,
                "responses": {
                    "200": {"description": "Yes.", "content": {"application/json": {"schema": body}}},
                    "503": _error("No."),
                },
            }
        }

    return {
        "openapi": "3.0.3",
        "info": {
            "title": "ReflexAgent ingress",
            "version": "1",
            "description": 'The public webhook port. Every refusal is JSON `{"error": ...}`; nothing refused '
            "is stored.",
        },
        "paths": {
            "/api/v1/events/{source}": events,
            "/livez": probe("Liveness: the enqueuer runs", {"type": "object"}),
            "/readyz": probe("Readiness: Redis answers and the backlog is known", {"type": "object"}),
            "/openapi.json": {
                "get": {
                    "summary": "This description",
                    "responses": {
                        "200": {"description": "OpenAPI 3.0", "content": {"application/json": {"schema": {}}}}
                    },
                }
            },
        },
    }


def document_bytes() -> bytes:
    return orjson.dumps(document(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


if __name__ == "__main__":
    sys.stdout.buffer.write(document_bytes())
