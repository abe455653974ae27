"""Fixtures of the monitoring tests: promtool, fetched once per machine (see promkit.py), and the four
services running as processes, fed webhooks and scraped once per session (see livekit.py)."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# promkit.py and livekit.py sit beside the tests (importlib import mode does not add test folders to
# sys.path); the integration tests' helpers (signed GitHub requests, worker processes) serve here too.
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "integration"))

from livekit import ACCEPTED, REJECTED, SERVICES, LiveServices, Scrape, live_services
from promkit import TRANSCRIPT, Promtool
from promkit import promtool as find_promtool

from reflex_common.testing import delete_prefix, scratch_database, unique_prefix


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The promtool runs (rules checked and unit-tested, expressions parsed, metrics linted), in the
    test run's output."""
    if TRANSCRIPT:
        terminalreporter.section("promtool")
        for text in TRANSCRIPT:
            terminalreporter.write_line(text)


@pytest.fixture(scope="session")
def promtool() -> Promtool:
    found = find_promtool()
    if found.path is None:
        pytest.skip(found.why_missing)
    return found


@pytest.fixture(scope="session")
def live(redis_url: str, pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServices]:
    prefix = unique_prefix()
    with scratch_database(pg_server_url) as database_url:
        with live_services(redis_url, database_url, prefix, tmp_path_factory.mktemp("live")) as services:
            yield services
    delete_prefix(redis_url, prefix)


@pytest.fixture(scope="session")
def scrapes(live: LiveServices) -> dict[str, Scrape]:
    """Every service's /metrics once the webhooks went all the way: counted, windows closed, judged."""
    for i in range(ACCEPTED):
        assert live.post({"n": i}, delivery=str(uuid.uuid4())) == 202
    for _ in range(REJECTED):
        assert live.post({"n": -1}, secret="not the secret") == 401
    assert live.post({"n": -1}, source="nobody") == 404
    counted = "reflex_metric_worker_received_to_counted_seconds_count"
    live.wait_until(lambda: live.scrape("metric-worker").value(counted) == ACCEPTED, 60, "every event counted")
    live.wait_until(
        lambda: live.scrape("anomaly-detector").value("reflex_consumer_entries_total", outcome="done") > 0,
        60,
        "the anomaly-detector to judge a closed window",
    )
    return {service: live.scrape(service) for service in SERVICES}
