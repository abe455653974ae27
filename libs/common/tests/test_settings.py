"""Settings: frozen, from the environment, and a bad value is one clear line, not a stack trace."""

from __future__ import annotations

import pytest

from reflex_common.settings import CommonSettings, WorkerSettings, load_settings


def test_a_bad_value_stops_with_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BATCH_SIZE", "lots")
    with pytest.raises(SystemExit) as stopped:
        load_settings(WorkerSettings, "reflex-test")
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "BATCH_SIZE" in err and "reflex-test: configuration error" in err


def test_the_backlog_bound_must_leave_room_below_maxlen() -> None:
    with pytest.raises(ValueError, match="at most 90% of stream_maxlen"):
        CommonSettings(stream_maxlen=100_000, max_backlog_entries=95_000)


def test_consumer_name_comes_from_the_pod_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POD_NAME", "reflex-processor-7d9f-abcde")
    assert WorkerSettings().consumer_name == "reflex-processor-7d9f-abcde"
    with pytest.raises(ValueError):
        WorkerSettings().__setattr__("batch_size", 1)  # frozen
