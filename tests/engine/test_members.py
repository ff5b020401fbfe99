"""engine/members.py: the import's line splitter, and an import that leaves the worker
free to answer everything else meanwhile."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from engine.members import LINE_LIMIT, ndjson_blocks
from tests.cluster import sync_client
from tests.live import LiveEngine


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def _lines(*parts: bytes, line_limit: int = LINE_LIMIT) -> list[tuple[int, bytes | None]]:
    found = []
    async for first, lines in ndjson_blocks(_chunks(*parts), line_limit):
        found += [(first + n, line) for n, line in enumerate(lines)]
    return found


async def test_lines_are_numbered_across_chunks() -> None:
    assert await _lines(b'{"a"', b':1}\n{"b":2}\n{', b'"c":3}') == [
        (1, b'{"a":1}'), (2, b'{"b":2}'), (3, b'{"c":3}')]
    assert await _lines(b"x\n", b"\n", b"y\n") == [(1, b"x"), (2, b""), (3, b"y")]


async def test_a_line_past_the_limit_is_none_wherever_it_falls() -> None:
    long = b"z" * 11
    assert await _lines(b"a\n" + long + b"\nb\n", line_limit=10) == [(1, b"a"), (2, None), (3, b"b")]
    assert await _lines(b"a\nzzzzzz", b"zzzzz\nb", line_limit=10) == [(1, b"a"), (2, None), (3, b"b")]
    assert await _lines(b"a\n", b"zzzzzz", b"zzzzz", b"zz", b"\nb", line_limit=10) == [
        (1, b"a"), (2, None), (3, b"b")]
    assert await _lines(b"a\n", b"zzzzzzzzzzzz", line_limit=10) == [(1, b"a"), (2, None)]
    assert await _lines(b"zzzzz", b"zzzzz\n", line_limit=10) == [(1, b"z" * 10)]


async def test_a_long_line_costs_linear_time() -> None:
    """A line of 32 MB without a newline, in 64 KiB chunks: joining the pieces again on
    every chunk (quadratic) took 10 s; dropping them as they come takes milliseconds."""
    chunk = b"z" * (64 * 1024)

    async def endless() -> AsyncIterator[bytes]:
        for _ in range(512):
            yield chunk
        yield b"\nlast"

    started = time.monotonic()
    found = [line async for _, lines in ndjson_blocks(endless()) for line in lines]
    assert found == [None, b"last"]
    assert time.monotonic() - started < 1.0


# --- a live import ----------------------------------------------------------------------------

IMPORT_LINES = 100_000


def _import_body(count: int) -> Iterator[bytes]:
    block: list[bytes] = []
    for n in range(count):
        block.append(b'{"member_id": "m-%06d", "identities": ["phone:139%08d", "wechat:w%d"], '
                     b'"growth": %d, "points": %d, "leader_id": "L-01"}\n' % (n, n, n, n % 30000, n % 700))
        if len(block) == 1000:
            yield b"".join(block)
            block = []
    if block:
        yield b"".join(block)


@pytest.mark.slow
def test_an_import_does_not_stall_the_workers_other_requests(redis_url: str) -> None:
    with sync_client(redis_url) as flush:
        flush.flushall()
    with LiveEngine(redis_url, workers=1) as engine:
        operator = engine.headers("operator", "ops-1")
        with httpx.Client(base_url=engine.base_url, timeout=120) as client:
            assert client.put("/v1/leaders/L-01", json={"name": "Leader"}, headers=operator).status_code == 200

            latencies: list[float] = []
            done = threading.Event()

            def probe() -> None:
                with httpx.Client(base_url=engine.base_url, timeout=10) as prober:
                    while not done.is_set():
                        started = time.perf_counter()
                        assert prober.get("/healthz").status_code == 200
                        latencies.append(time.perf_counter() - started)
                        time.sleep(0.005)

            prober = threading.Thread(target=probe)
            prober.start()
            try:
                started = time.monotonic()
                response = client.post("/v1/members/import", content=_import_body(IMPORT_LINES), headers=operator)
                took = time.monotonic() - started
            finally:
                done.set()
                prober.join()
        assert response.status_code == 200, response.text
        report = response.json()
        assert report["rejected"] == []
        assert report["imported"] + report["updated"] == IMPORT_LINES
        latencies.sort()
        p99 = latencies[int(len(latencies) * 0.99)]
        print(f"import of {IMPORT_LINES} lines: {took:.1f} s; /healthz during it: {len(latencies)} requests, "
              f"median {statistics.median(latencies) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
              f"max {latencies[-1] * 1000:.1f} ms")
        assert len(latencies) > 50
        assert p99 < 0.2, f"p99 {p99 * 1000:.0f} ms"
