"""gateways/server.py on a real ``livebenefits serve --workers 1``: huge heads, trickled
heads, stalled bodies and more connections than a worker takes.

Raw sockets on loopback, since an HTTP client will not send a head that never ends.
"""

from __future__ import annotations

import contextlib
import resource
import selectors
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.gateways.raw_http import (connect, open_files, response_of, rss_kib, send_until_answered,
                                     status_of)
from tests.live import LiveEngine

pytestmark = [pytest.mark.slow, pytest.mark.fault]

TRICKLERS = 1100
# The default head deadline of `livebenefits serve` (gateways/server.py ServerLimits).
HEAD_TIMEOUT_S = 10.0


@contextlib.contextmanager
def engine_with_open_files(redis_url: str, soft: int, **env: str) -> Iterator[LiveEngine]:
    """An engine started with a soft open files limit of ``soft``, as many machines have."""
    current, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    engine = LiveEngine(redis_url, workers=1, extra_env=env)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, current), hard))
    try:
        engine.start()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (current, hard))
    try:
        yield engine
    finally:
        engine.close()


@pytest.fixture(scope="module")
def engine(redis_url: str) -> Iterator[LiveEngine]:
    with LiveEngine(redis_url, workers=1) as live:
        yield live


@pytest.fixture(scope="module")
def quick(redis_url: str) -> Iterator[LiveEngine]:
    """An engine with a one-second head deadline, for the timing tests."""
    with LiveEngine(redis_url, workers=1, extra_env={"LIVEBENEFITS_HEAD_TIMEOUT": "1"}) as live:
        yield live


def test_a_1_mb_header_is_answered_431_and_the_worker_does_not_keep_it(engine: LiveEngine) -> None:
    assert engine.process is not None
    before = rss_kib(engine.process.pid)
    for _ in range(3):
        with connect(engine.port) as sock:
            answer, _ = send_until_answered(sock, b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: ", 1 << 20,
                                            tail=b"\r\n\r\n")
        assert status_of(answer) == 431, answer[:300]
        assert b"application/problem+json" in answer
        assert b'"code":"request_header_fields_too_large"' in answer
    grown = rss_kib(engine.process.pid) - before
    print(f"three 1 MB headers: 431; the worker grew by {grown} KiB")
    assert grown < 4 * 1024, f"the worker grew by {grown} KiB"
    assert httpx.get(engine.base_url + "/healthz", timeout=5).status_code == 200


def test_a_long_url_counts_as_head(engine: LiveEngine) -> None:
    with connect(engine.port) as sock:
        answer, _ = send_until_answered(sock, b"GET /healthz?", 100_000, tail=b" HTTP/1.1\r\nHost: t\r\n\r\n")
    assert status_of(answer) == 431


def test_heads_under_the_limit_are_served(engine: LiveEngine) -> None:
    headers = {f"x-fill-{n}": "v" * 1000 for n in range(20)}
    assert httpx.get(engine.base_url + "/healthz", headers=headers, timeout=5).status_code == 200


def _trickle(socks: dict[socket.socket, int], selector: selectors.BaseSelector) -> int:
    """One more header byte on every open connection; those the server closed are
    dropped from ``socks``. How many were closed."""
    closed = 0
    for key, _ in selector.select(timeout=0):
        sock = key.fileobj
        if not isinstance(sock, socket.socket):
            continue
        try:
            data = sock.recv(4096)
        except OSError:
            data = b""
        if not data or data.startswith(b"HTTP/1.1 408"):
            selector.unregister(sock)
            sock.close()
            socks.pop(sock)
            closed += 1
    for sock in list(socks):
        try:
            sock.send(b"x")
        except OSError:
            pass
    return closed


def test_trickled_heads_neither_lock_the_worker_out_nor_stay(redis_url: str) -> None:
    """1,100 connections send header bytes slowly and never finish; the engine runs with a
    soft limit of 1024 open files (a common default): a new client is still served at
    once, and the tricklers are dropped when the head deadline passes."""
    with open_files(TRICKLERS + 512), engine_with_open_files(redis_url, 1024) as engine, \
            selectors.DefaultSelector() as selector:
        socks: dict[socket.socket, int] = {}
        opened = time.monotonic()
        try:
            for n in range(TRICKLERS):
                sock = connect(engine.port)
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ")
                sock.setblocking(False)
                socks[sock] = n
                selector.register(sock, selectors.EVENT_READ)
            _trickle(socks, selector)

            started = time.monotonic()
            response = httpx.get(engine.base_url + "/healthz", timeout=2.0)
            assert response.status_code == 200
            assert time.monotonic() - started < 2.0
            assert len(socks) == TRICKLERS, "no trickler is dropped before its deadline"

            deadline = opened + HEAD_TIMEOUT_S + 5.0
            while socks and time.monotonic() < deadline:
                _trickle(socks, selector)
                time.sleep(0.5)
            dropped_after = time.monotonic() - opened
            assert not socks, f"{len(socks)} of {TRICKLERS} trickling connections still open after {dropped_after:.1f} s"
            assert dropped_after >= HEAD_TIMEOUT_S - 1.0
            assert httpx.get(engine.base_url + "/healthz", timeout=2.0).status_code == 200
        finally:
            for sock in socks:
                sock.close()


def test_past_the_connection_cap_a_new_connection_is_answered_503_at_once(redis_url: str) -> None:
    cap = 20
    with LiveEngine(redis_url, workers=1, extra_env={"LIVEBENEFITS_MAX_CONNECTIONS": str(cap)}) as engine:
        idle = [connect(engine.port) for _ in range(cap)]
        try:
            time.sleep(0.2)
            with connect(engine.port) as extra:
                started = time.monotonic()
                extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
                answer = response_of(extra, timeout=5.0)
                assert time.monotonic() - started < 1.0
            assert status_of(answer) == 503, answer[:300]
            assert b'"code":"server_busy"' in answer
        finally:
            for sock in idle:
                sock.close()
        time.sleep(0.2)
        assert httpx.get(engine.base_url + "/healthz", timeout=5).status_code == 200


def test_a_silent_connection_is_answered_408_after_the_deadline(quick: LiveEngine) -> None:
    with connect(quick.port) as sock:
        started = time.monotonic()
        answer = response_of(sock, timeout=5.0)
        waited = time.monotonic() - started
    assert status_of(answer) == 408, answer[:300]
    assert b'"code":"request_timeout"' in answer
    assert 0.8 <= waited < 3.0


def test_a_keep_alive_connection_trickling_its_next_head_is_closed(quick: LiveEngine) -> None:
    with connect(quick.port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        assert status_of(response_of(sock, timeout=5.0)) == 200
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        started = time.monotonic()
        closed = False
        while time.monotonic() - started < 4.0:
            try:
                sock.sendall(b"X")
                sock.settimeout(0.3)
                data = sock.recv(4096)
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                closed = True
                break
            if not data or data.startswith(b"HTTP/1.1 408"):
                closed = True
                break
        assert closed
        assert time.monotonic() - started < 3.0


def test_a_stalled_body_is_closed_and_a_slow_one_is_not(quick: LiveEngine) -> None:
    token = quick.token("operator", "ops-1")
    with connect(quick.port) as sock:
        sock.sendall(b"PUT /v1/tiers HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                     b"Authorization: Bearer " + token.encode() + b"\r\nContent-Length: 100\r\n\r\n{\"tiers\":")
        started = time.monotonic()
        answer = response_of(sock, timeout=5.0)
        assert time.monotonic() - started < 3.0
    assert status_of(answer) in (0, 408)
    # A body that keeps coming, however slowly, is not cut off.
    body = b'{"tiers": [{"name": "regular", "min_growth": 0, "points_multiplier": 1.0}]}'
    with connect(quick.port) as sock:
        sock.sendall(b"PUT /v1/tiers HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                     b"Authorization: Bearer " + token.encode() + b"\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\n\r\n")
        for n in range(0, len(body), len(body) // 4 + 1):
            time.sleep(0.5)
            sock.sendall(body[n:n + len(body) // 4 + 1])
        assert status_of(response_of(sock, timeout=5.0)) == 200
