"""The import client (gateways/member_import.py) against a real engine: parts sent
concurrently, rejected lines numbered in the whole stream, parts sent again after a
broken connection or a 5xx, a refused part the end of the import."""

from __future__ import annotations

import io
import socket
import threading
import uuid
from collections.abc import Iterator

import httpx
import orjson
import pytest

from engine.redis_server import EmbeddedRedis
from gateways import member_import
from gateways.member_import import ImportOptions, Progress, RejectedLine
from gateways.ndjson_parts import Part
from tests.live import LiveEngine

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine(redis_url: str) -> Iterator[LiveEngine]:
    # Every test uses member ids of its own: the workers remember identity owners.
    with LiveEngine(redis_url, workers=2) as live:
        yield live


def uid() -> str:
    return uuid.uuid4().hex[:8]


def member(prefix: str, n: int, **extra: object) -> bytes:
    line = {"member_id": f"{prefix}-{n}", "identities": [f"card:{prefix}-{n}", f"wechat:{prefix}{n}"],
            "growth": n, "points": n % 100, **extra}
    return orjson.dumps(line)


def ndjson(prefix: str, count: int) -> bytes:
    return b"".join(member(prefix, n) + b"\n" for n in range(1, count + 1))


def options(engine: LiveEngine, **overrides: object) -> ImportOptions:
    return ImportOptions(engine.base_url, engine.token("operator", "ops-import"), **overrides)  # type: ignore[arg-type]


class Recorded(Progress):
    def __init__(self) -> None:
        self.lines_sent = 0
        self.rejections: list[RejectedLine] = []
        self.retries: list[str] = []

    def sent(self, lines: int) -> None:
        self.lines_sent += lines

    def rejected(self, lines: list[RejectedLine]) -> None:
        self.rejections += lines

    def retrying(self, part: Part, reason: str, wait_s: float) -> None:
        self.retries.append(f"{part}: {reason}")


async def test_parts_are_sent_concurrently_and_every_member_lands(engine: LiveEngine) -> None:
    prefix = f"c{uid()}"
    count = 8 * 1500
    progress = Recorded()
    result = await member_import.send(options(engine, part_lines=1500, parts_in_flight=4),
                                      io.BytesIO(ndjson(prefix, count)), progress)
    assert (result.lines, result.imported, result.updated, result.rejected) == (count, count, 0, 0)
    assert progress.lines_sent == count
    assert len(result.spans) == 8
    # Parts overlapped at the engine: a part's request went out before another's answer came.
    assert 2 <= result.peak_parts_in_flight <= 4, result.spans
    async with httpx.AsyncClient(base_url=engine.base_url, headers=engine.headers("operator", "ops")) as http:
        for n in (1, 1500, 1501, count):
            got = (await http.get(f"/v1/members/{prefix}-{n}")).json()
            assert got["growth"] == n and f"wechat:{prefix}{n}" in got["identities"]

    # The same stream again with one part at a time: never two in flight, all updated.
    again = await member_import.send(options(engine, part_lines=1500, parts_in_flight=1),
                                     io.BytesIO(ndjson(prefix, count)))
    assert again.peak_parts_in_flight == 1
    assert (again.imported, again.updated) == (0, count)


async def test_rejected_lines_carry_their_number_in_the_whole_stream(engine: LiveEngine) -> None:
    prefix = f"r{uid()}"
    lines = [member(prefix, n) for n in range(1, 301)]
    lines[4] = b'{"member_id": "broken", '                                 # line 5, part 1
    lines[149] = member(prefix, 150, leader_id=f"no-such-leader-{prefix}")  # line 150, part 2
    lines[159] = orjson.dumps({"member_id": f"{prefix}-x", "identities": [f"wechat:{prefix}155"]})  # line 160
    lines[199] = b""                                                       # line 200: blank, skipped
    lines[249] = b'{"member_id": 7}'                                       # line 250, part 3
    lines[299] = b"not json"                                               # line 300, no newline after
    progress = Recorded()
    result = await member_import.send(options(engine, part_lines=100, parts_in_flight=3),
                                      io.BytesIO(b"\n".join(lines)), progress)
    assert result.lines == 300
    assert [r.line for r in progress.rejections] == [5, 150, 160, 250, 300]
    assert result.rejected == 5 and result.imported == 300 - 5 - 1
    by_line = {r.line: r for r in progress.rejections}
    assert by_line[5].input == '{"member_id": "broken", '
    assert "unknown leader" in by_line[150].error and by_line[150].input == lines[149].decode()
    assert f"belongs to member {prefix}-155" in by_line[160].error
    assert "$.member_id" in by_line[250].error
    assert by_line[300].input == "not json"


class CuttingProxy:
    """A TCP proxy in front of the engine that cuts the first import request off after
    ``cut_after`` bytes of its body have come through (a broken connection), and passes
    everything else on untouched."""

    def __init__(self, port: int, cut_after: int) -> None:
        self.target = ("127.0.0.1", port)
        self.cut_after = cut_after
        self.cut = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        passed, cutting = 0, False
        try:
            while data := source.recv(65536):
                if from_client and passed == 0 and data.startswith(b"POST /v1/members/import") \
                        and not self.cut.is_set():
                    self.cut.set()
                    cutting = True
                passed += len(data)
                if cutting and passed > self.cut_after:
                    break
                sink.sendall(data)
        except OSError:
            pass
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self) -> None:
        self.listener.close()


async def test_a_part_cut_off_mid_body_is_sent_again(engine: LiveEngine) -> None:
    prefix = f"b{uid()}"
    proxy = CuttingProxy(engine.port, cut_after=20_000)
    progress = Recorded()
    try:
        opts = ImportOptions(f"http://127.0.0.1:{proxy.port}", engine.token("operator", "ops-import"),
                             part_lines=500, parts_in_flight=2, backoff_s=0.1)
        result = await member_import.send(opts, io.BytesIO(ndjson(prefix, 2000)), progress)
    finally:
        proxy.close()
    assert proxy.cut.is_set()
    assert len(progress.retries) == 1 and "connection failed" in progress.retries[0], progress.retries
    assert result.retried == progress.retries
    # Nothing is counted twice: the cut attempt's lines were taken back from the progress.
    assert progress.lines_sent == 2000
    assert result.imported + result.updated == 2000 and result.rejected == 0


async def test_a_part_answered_5xx_is_sent_again(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Redis goes away: the engine answers the part 503; the client waits, Redis comes
    back (on the first retry), and the part is sent again and applied."""
    server = EmbeddedRedis(tmp_path_factory.mktemp("r5"), persist=False)
    url = server.start()
    prefix = f"f{uid()}"

    class RestartOnRetry(Recorded):
        def retrying(self, part: Part, reason: str, wait_s: float) -> None:
            super().retrying(part, reason, wait_s)
            if len(self.retries) == 1:
                assert server.start() == url

    progress = RestartOnRetry()
    try:
        with LiveEngine(url, workers=1) as own:
            server.stop()
            # A small part: all of it is written before the engine answers, so the client
            # reads the 503 rather than finding the connection closed under its writes.
            result = await member_import.send(options(own, part_lines=50, parts_in_flight=1, backoff_s=0.5),
                                              io.BytesIO(ndjson(prefix, 50)), progress)
            async with httpx.AsyncClient(base_url=own.base_url, headers=own.headers("operator", "ops")) as http:
                assert (await http.get(f"/v1/members/{prefix}-50")).status_code == 200
    finally:
        server.stop()
    assert progress.retries and "503" in progress.retries[0], progress.retries
    assert (result.imported, result.rejected) == (50, 0)


async def test_a_refused_part_stops_the_import(engine: LiveEngine) -> None:
    viewer = ImportOptions(engine.base_url, engine.token("viewer", "phone:+8613900000001"))
    with pytest.raises(member_import.EngineRefused, match="not an operator's"):
        await member_import.send(viewer, io.BytesIO(ndjson("v", 3)))
    forged = ImportOptions(engine.base_url, "not-a-token")
    with pytest.raises(member_import.EngineRefused, match="refused the token"):
        await member_import.send(forged, io.BytesIO(ndjson("v", 3)))
