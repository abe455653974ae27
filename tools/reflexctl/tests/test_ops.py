"""reflexctl's on-call commands against real Redis and Postgres."""

from __future__ import annotations

import pytest
import redis

from reflex_common.keys import PROCESSOR_GROUP, Keys
from reflex_common.streams.ports import DeadLetter, Entry
from reflexctl.__main__ import main


def test_dlq_list_and_replay_puts_the_original_back_and_skips_tombstones(
    redis_url: str, key_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = Keys(key_prefix)
    raw, dlq = keys.raw_stream, keys.dlq_stream(keys.raw_stream)
    r = redis.Redis.from_url(redis_url)
    poison = Entry("1-0", {"event_id": b"e1", "body": b"{}"}, 5)
    r.xadd(dlq, DeadLetter(poison, "failed", "boom", "RuntimeError", "p1").to_fields(raw, PROCESSOR_GROUP))  # type: ignore[arg-type]
    tombstone = Entry("2-0", {}, 0)
    r.xadd(dlq, DeadLetter(tombstone, "trimmed", "deleted while pending").to_fields(raw, PROCESSOR_GROUP))  # type: ignore[arg-type]
    conn = ["--redis-url", redis_url, "--key-prefix", key_prefix]

    assert main(["dlq", "list", "--stream", "raw", *conn]) == 0
    listed = capsys.readouterr().out
    assert "original=1-0" in listed and "reason=failed" in listed and "class=RuntimeError" in listed
    assert "error=boom" in listed and "2 letter(s)" in listed
    assert main(["dlq", "list", "--stream", "raw", "--reason", "trimmed", *conn]) == 0
    only_trimmed = capsys.readouterr().out
    assert "original=2-0" in only_trimmed and "original=1-0" not in only_trimmed

    assert main(["dlq", "replay", "--stream", "raw", "--all", *conn]) == 1  # the tombstone is skipped
    out = capsys.readouterr().out
    assert "replayed 1 letter(s)" in out and "a trimmed entry" in out
    (entry,) = r.xrange(raw)
    assert entry[1] == {b"event_id": b"e1", b"body": b"{}"}
    assert r.xlen(dlq) == 1
    r.close()


def test_status_shows_each_stream_with_its_group(
    redis_url: str, key_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = Keys(key_prefix)
    r = redis.Redis.from_url(redis_url)
    r.xgroup_create(keys.raw_stream, PROCESSOR_GROUP, id="0", mkstream=True)
    r.xadd(keys.raw_stream, {"a": "1"})
    r.xadd(keys.raw_stream, {"a": "2"})
    r.xreadgroup(PROCESSOR_GROUP, "c", {keys.raw_stream: ">"}, count=1)
    r.close()
    assert main(["status", "--redis-url", redis_url, "--key-prefix", key_prefix]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith(keys.raw_stream))
    # stream, length, group, consumers, lag, pending
    assert line.split()[:6] == [keys.raw_stream, "2", PROCESSOR_GROUP, "1", "1", "1"]


def test_migrate_applies_once(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate", "--database-url", database_url]) == 0
    assert "0001_events.sql" in capsys.readouterr().out
    assert main(["migrate", "--database-url", database_url]) == 0
    assert "up to date" in capsys.readouterr().out


def test_dlq_replay_refuses_to_push_a_stream_past_its_backlog_bound(
    redis_url: str, key_prefix: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = Keys(key_prefix)
    raw, dlq = keys.raw_stream, keys.dlq_stream(keys.raw_stream)
    r = redis.Redis.from_url(redis_url)
    r.xgroup_create(raw, PROCESSOR_GROUP, id="0", mkstream=True)
    for i in range(3):
        r.xadd(raw, {"n": str(i)})  # unread
    r.xadd(dlq, DeadLetter(Entry("1-0", {"event_id": b"e1"}, 5), "failed", "boom").to_fields(raw, PROCESSOR_GROUP))  # type: ignore[arg-type]
    monkeypatch.setenv("STREAM_MAXLEN", "1000")
    monkeypatch.setenv("MAX_BACKLOG_ENTRIES", "3")
    assert (
        main(["dlq", "replay", "--stream", "raw", "--all", "--redis-url", redis_url, "--key-prefix", key_prefix]) == 1
    )
    assert "MAX_BACKLOG_ENTRIES" in capsys.readouterr().err
    assert r.xlen(dlq) == 1 and r.xlen(raw) == 3
    r.close()
