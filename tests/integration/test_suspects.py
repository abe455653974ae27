"""An entry that kills its worker process every time it is handled: only that entry reaches the
DLQ; the entries that shared its batch are stored. (Redelivered entries are suspects and run alone.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import redis

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

WORKER = Path(__file__).with_name("exiting_worker.py")


def test_an_entry_that_kills_its_worker_goes_alone_to_the_dlq(redis_url: str, key_prefix: str) -> None:
    stream = f"{key_prefix}:in"
    r = redis.Redis.from_url(redis_url)
    r.xgroup_create(stream, "g", id="0", mkstream=True)
    ids = [r.xadd(stream, {"n": str(i)}).decode() for i in range(4)]
    poison = r.xadd(stream, {"n": "poison"}).decode()
    ids += [r.xadd(stream, {"n": str(i)}).decode() for i in range(4, 25)]
    exits = []
    for _ in range(10):  # the orchestrator restarting the pod
        done = subprocess.run(
            [sys.executable, str(WORKER), redis_url, stream, "10", "3"], capture_output=True, timeout=60
        )
        exits.append(done.returncode)
        if done.returncode == 0:
            break
        assert done.returncode == 17, done.stderr.decode()[-2000:]
    # Delivered once in its batch, then alone at 2 and 3; at 4 it is over the limit, not handled.
    assert exits == [17, 17, 17, 0]
    letters = r.xrange(f"{stream}:dlq")
    assert [f[b"dlq:original_id"].decode() for _, f in letters] == [poison]
    assert letters[0][1][b"dlq:deliveries"] == b"4"
    assert (letters[0][1][b"dlq:reason"], letters[0][1][b"dlq:consumer"]) == (b"poison", b"only")
    assert sorted(m.decode() for m in r.smembers(f"{stream}:stored")) == sorted(ids)
    assert int(r.xpending(stream, "g")["pending"]) == 0
    r.close()
