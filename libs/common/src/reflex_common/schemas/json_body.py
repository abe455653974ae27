"""What a JSON body must be for the pipeline to store it: the ingress refuses (400) what breaks this,
and the event-processor dead-letters it if it ever gets one."""

from __future__ import annotations

from typing import Any

import orjson

# The deepest nesting of arrays and objects stored: what orjson writes (its encoder stops at 255
# levels), and well inside what Python's json and Postgres's jsonb take.
MAX_JSON_DEPTH = 254


def nested_too_deep(body: bytes, value: Any) -> bool:
    """Whether `value` (parsed from `body`) nests deeper than MAX_JSON_DEPTH. Free for most bodies:
    only one with that many brackets can be that deep, and then orjson's encoder measures it in C."""
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return False
    try:
        orjson.dumps(value)
    except orjson.JSONEncodeError:
        return True  # a value from orjson.loads fails to encode only by its depth
    return False
