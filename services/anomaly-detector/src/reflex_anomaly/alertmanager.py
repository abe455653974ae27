"""The Alertmanager v2 API, as far as the detector uses it: POST /api/v2/alerts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aiohttp
import orjson

from reflex_common.errors import TransientError


class AlertDeliveryError(TransientError):
    """Alertmanager did not take the alerts (unreachable, timed out, or refused them). The caller
    must keep them and retry later, with backoff: an alert is never dropped."""


class AlertmanagerClient:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, timeout_s: float) -> None:
        self._session = session
        self._url = base_url.rstrip("/") + "/api/v2/alerts"
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    @property
    def url(self) -> str:
        return self._url

    async def post(self, alerts: Sequence[dict[str, Any]]) -> None:
        try:
            async with self._session.post(
                self._url,
                data=orjson.dumps(list(alerts)),
                headers={"Content-Type": "application/json"},
                timeout=self._timeout,
            ) as response:
                if response.status // 100 != 2:
                    body = (await response.text())[:300]
                    raise AlertDeliveryError(f"Alertmanager answered {response.status}: {body}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AlertDeliveryError(f"Alertmanager unreachable: {exc!r}") from exc
