"""What the services export, scraped from the real processes after a few webhooks: latency
histograms that count every event, the process and platform collectors, reflex_build_info, readiness,
the metric-worker's window counters, and no `_created` series."""

from __future__ import annotations

from pathlib import Path

import pytest
from livekit import ACCEPTED, REJECTED, SERVICES, LiveServices, Scrape, http, live_services
from promkit import Promtool, show

from reflex_common.testing import start_redis_process, unique_prefix

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def test_no_created_series(scrapes: dict[str, Scrape]) -> None:
    for service, scrape in scrapes.items():
        created = sorted(n for n in scrape.names if n.endswith("_created"))
        assert not created, f"{service}: {created}"


@pytest.mark.parametrize("service", SERVICES)
def test_build_info_process_and_platform_collectors(scrapes: dict[str, Scrape], service: str) -> None:
    scrape = scrapes[service]
    (info,) = [s for s in scrape.samples if s.name == "reflex_build_info"]
    assert info.value == 1 and info.labels["service"] == f"reflex-{service}" and info.labels["version"]
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes", "python_info"):
        assert name in scrape.names, f"{service}: no {name}"
    assert scrape.value("reflex_ready") == 1


def test_ingress_times_every_request_by_source_and_status(scrapes: dict[str, Scrape]) -> None:
    ingress = scrapes["ingress"]
    count = "reflex_ingress_request_duration_seconds_count"
    assert ingress.value(count, source="demo", status="202") == ACCEPTED
    assert ingress.value(count, source="demo", status="401") == REJECTED
    assert ingress.value(count, source="unknown", status="404") == 1
    # The same requests as the counter, and each within the largest bucket.
    assert ingress.value("reflex_ingress_requests_total", source="demo") == ACCEPTED + REJECTED
    assert ingress.value("reflex_ingress_request_duration_seconds_bucket", source="demo", le="10.0") == (
        ACCEPTED + REJECTED
    )


def test_every_event_is_timed_from_received_to_persisted_and_to_counted(scrapes: dict[str, Scrape]) -> None:
    processor, metrics = scrapes["event-processor"], scrapes["metric-worker"]
    for scrape, name in (
        (processor, "reflex_processor_received_to_persisted_seconds"),
        (metrics, "reflex_metric_worker_received_to_counted_seconds"),
    ):
        assert scrape.value(f"{name}_count", source="demo") == ACCEPTED
        assert scrape.value(f"{name}_bucket", source="demo", le="+Inf") == ACCEPTED
        assert 0 < scrape.value(f"{name}_sum", source="demo") < ACCEPTED * 60
    assert processor.value("reflex_processor_events_total", source="demo", outcome="stored") == ACCEPTED


def test_the_metric_worker_counts_the_windows_it_closes(scrapes: dict[str, Scrape]) -> None:
    metrics = scrapes["metric-worker"]
    assert metrics.value("reflex_metric_worker_windows_closed_total") > 0
    assert "reflex_metric_worker_window_revisions_total" in metrics.names


def test_stream_gauges_include_the_length(scrapes: dict[str, Scrape], live: LiveServices) -> None:
    """The gauges are a sample taken every STATS_INTERVAL_S (0.2 s here): the scrape taken once every
    event was counted may predate the sample that saw the last XADD, so wait for a fresh one."""
    length = "reflex_stream_length_entries"
    live.wait_until(
        lambda: live.scrape("event-processor").value(length, group="event-processor") == ACCEPTED,
        30,
        f"the stream length gauge to read {ACCEPTED}",
    )


@pytest.mark.parametrize("worker", ["event-processor", "metric-worker", "anomaly-detector"])
def test_every_worker_reports_its_groups_stream_gauges(scrapes: dict[str, Scrape], worker: str) -> None:
    """One series per replica and gauge: what the dashboard counts as the group's consumers."""
    for name in ("reflex_stream_lag_entries", "reflex_stream_pending_entries", "reflex_stream_length_entries"):
        (series,) = [s for s in scrapes[worker].samples if s.name == name]
        assert series.labels["group"] == worker, series


def test_the_ingress_health_port_is_not_ready_while_redis_is_down(tmp_path: Path) -> None:
    """An ingress on a Redis of its own, killed under it: the health port answers 503 like the webhook
    port's /readyz, and reflex_ready drops to 0."""
    redis = start_redis_process()
    try:
        with live_services(
            redis.url, "postgresql://unused@127.0.0.1:1/none", unique_prefix(), tmp_path, only=("ingress",)
        ) as one:
            assert one.ready("ingress")
            redis.kill()
            one.wait_until(lambda: not one.ready("ingress"), 30, "the health port to say not ready")
            status, body = http("GET", one.url("ingress", "/readyz"))
            assert status == 503 and b'"redis":false' in body, body
            webhook_port = http("GET", f"http://127.0.0.1:{one.http_port}/readyz")
            assert webhook_port[0] == 503, webhook_port
            assert one.scrape("ingress").value("reflex_ready") == 0
    finally:
        redis.close()


@pytest.mark.parametrize("service", SERVICES)
def test_promtool_finds_nothing_to_lint(scrapes: dict[str, Scrape], service: str, promtool: Promtool) -> None:
    """`promtool check metrics` (Prometheus's naming and help conventions) over the whole scrape."""
    result = promtool.run("check", "metrics", stdin=scrapes[service].text)
    show(f"$ curl -s <{service}>/metrics | promtool check metrics  # exit {result.returncode}")
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result.stdout + result.stderr


def test_promtool_lint_flags_a_counter_without_total(promtool: Promtool) -> None:
    result = promtool.run("check", "metrics", stdin="# HELP foo x\n# TYPE foo counter\nfoo 1\n")
    assert result.returncode != 0 and "_total" in result.stdout + result.stderr
