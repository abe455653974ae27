"""Provider fixtures: `fixtures/<kind>/<name>.json` holds one delivery as the provider sends it (the
headers that reach the adapter, the content type, the body) and what the adapter must make of it.

Form bodies are written as an object of fields; a field whose value is not a string is sent as JSON,
the way Slack sends an interaction's `payload`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest

from reflex_common.schemas import RawEvent

FIXTURES_DIR = Path(__file__).parent / "fixtures"
FORM = "application/x-www-form-urlencoded"


def raw_event(
    kind: str, body: bytes, headers: dict[str, str] | None = None, content_type: str = "application/json"
) -> RawEvent:
    return RawEvent(
        event_id="0190f0e0-0000-7000-8000-000000000001",
        source=f"{kind}-test",
        kind=kind,
        received_at_ms=1_715_790_000_000,
        body=body,
        headers=headers or {},
        content_type=content_type,
    )


def encode(body: Any, content_type: str) -> bytes:
    if content_type == FORM:
        fields = {name: v if isinstance(v, str) else orjson.dumps(v).decode() for name, v in body.items()}
        return urlencode(fields).encode()
    return orjson.dumps(body)


@dataclass(frozen=True)
class Case:
    kind: str
    name: str
    headers: dict[str, str]
    content_type: str
    body: Any
    expected: dict[str, Any]

    @classmethod
    def load(cls, path: Path) -> Case:
        data = orjson.loads(path.read_bytes())
        return cls(
            kind=path.parent.name,
            name=path.stem,
            headers=data["headers"],
            content_type=data.get("content_type", "application/json"),
            body=data["body"],
            expected=data["expected"],
        )

    def raw(self) -> RawEvent:
        return raw_event(self.kind, encode(self.body, self.content_type), self.headers, self.content_type)


def load_cases() -> list[Case]:
    return [Case.load(path) for path in sorted(FIXTURES_DIR.glob("*/*.json"))]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case" in metafunc.fixturenames:
        cases = load_cases()
        metafunc.parametrize("case", cases, ids=[f"{case.kind}/{case.name}" for case in cases])


@pytest.fixture(scope="session")
def cases() -> list[Case]:
    return load_cases()
