"""The coalescer: calls of one event-loop tick share one round trip, each keeps its answer."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from engine.coalesce import StandaloneCoalescer, pack

ECHO = "return {KEYS[1], ARGV[1]}"
FAIL = "return redis.error_reply('ERR refused ' .. ARGV[1])"
INCR = "return redis.call('INCRBY', KEYS[1], ARGV[1])"


def test_pack_is_resp() -> None:
    assert pack(b"EVALSHA", "ab", 1, "k", b'{"a":1}', -5) == (
        b"*6\r\n$7\r\nEVALSHA\r\n$2\r\nab\r\n$1\r\n1\r\n$1\r\nk\r\n$7\r\n{\"a\":1}\r\n$2\r\n-5\r\n")
    assert pack("é") == b"*1\r\n$2\r\n\xc3\xa9\r\n"


async def test_a_ticks_calls_share_one_round_trip_and_keep_their_answers(redis: aioredis.Redis) -> None:
    echo, fail = redis.register_script(ECHO), redis.register_script(FAIL)
    coalescer = StandaloneCoalescer(redis)
    await redis.config_resetstat()
    answers = await asyncio.gather(
        *(coalescer.submit(echo if i % 3 else fail, [f"k{i}"], [i]) for i in range(30)),
        return_exceptions=True)
    for i, answer in enumerate(answers):
        if i % 3:
            assert answer == [f"k{i}", str(i)]
        else:
            assert isinstance(answer, ResponseError) and str(answer) == f"refused {i}"
    # The first batch meets an empty script cache: all 30 answer NOSCRIPT; each script is
    # loaded once and the 30 run again as one batch.
    stats = await redis.info("commandstats")
    assert stats["cmdstat_evalsha"]["calls"] == 30 + 30
    assert stats["cmdstat_script|load"]["calls"] == 2


async def test_a_lost_script_cache_is_reloaded(redis: aioredis.Redis) -> None:
    incr = redis.register_script(INCR)
    coalescer = StandaloneCoalescer(redis)
    assert await coalescer.submit(incr, ["n"], [2]) == 2
    await redis.script_flush()
    assert await asyncio.gather(*(coalescer.submit(incr, ["n"], [1]) for _ in range(5))) == [3, 4, 5, 6, 7]


async def test_a_cancelled_caller_leaves_the_others_answered(redis: aioredis.Redis) -> None:
    incr = redis.register_script(INCR)
    coalescer = StandaloneCoalescer(redis)
    await coalescer.submit(incr, ["n"], [0])
    first, second = coalescer.submit(incr, ["n"], [1]), coalescer.submit(incr, ["n"], [1])
    first.cancel()
    assert await second == 2  # the cancelled call still ran: it was already sent
    with pytest.raises(asyncio.CancelledError):
        await first
