from __future__ import annotations

import pytest
from redis.asyncio import Connection
from redis.exceptions import DataError

from reflex_common.redis_client import HiredisPackingConnection, redis_from_url

COMMANDS = [
    ("XADD", "s", "MAXLEN", "~", 1000, "*", "body", b"\x00\xff{}", "n", 3),
    ("XINFO GROUPS", "stream"),
    (b"SCRIPT LOAD", "return 1"),
    ("EVALSHA", "abc", 2, "k1", "k2", "é", 1.5),
    ("SET", "k", memoryview(b"view")),
    ("SET", "clé", "valeur é", "EX", 10),
]


@pytest.mark.parametrize("command", COMMANDS)
def test_packs_the_same_bytes_as_redis_py(command: tuple[object, ...]) -> None:
    ours = b"".join(HiredisPackingConnection().pack_command(*command))
    theirs = b"".join(bytes(c) for c in Connection().pack_command(*command))
    assert ours == theirs


def test_refuses_what_redis_py_refuses() -> None:
    with pytest.raises(DataError):
        HiredisPackingConnection().pack_command("SET", "k", None)


async def test_a_real_round_trip(redis_url: str, key_prefix: str) -> None:
    client = redis_from_url(redis_url)
    try:
        await client.set(f"{key_prefix}:k", b"v\x00")
        assert await client.get(f"{key_prefix}:k") == b"v\x00"
        async with client.pipeline(transaction=True) as pipe:
            pipe.xadd(f"{key_prefix}:s", {"a": b"1"}, maxlen=10, approximate=True)
            pipe.xlen(f"{key_prefix}:s")
            assert (await pipe.execute())[1] == 1
    finally:
        await client.aclose()
