"""Viewers ordering one EGG at a time, ``width`` lanes at once, in a process of their own.

The stream-capacity test opens 1,100 streams from its own event loop; orders timed from
that same loop would count the test's own lag (each wave of stream opens holds the loop)
as the engine's. Run here, an order's latency is the engine's answer as an independent
client sees it. Input, one JSON line on stdin: {"base_url", "session_id", "width",
"headers": [per viewer]}; then the lanes run until stdin says ``stop``, and one JSON line
goes to stdout: {"latencies_ms", "statuses", "placed"}.

    python -m tests.payments.order_lanes < plan.json
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from typing import Any

import httpx


async def _lanes(plan: dict[str, Any], stop: asyncio.Event) -> dict[str, list[Any]]:
    result: dict[str, list[Any]] = {"latencies_ms": [], "statuses": [], "placed": []}
    headers, width = plan["headers"], plan["width"]
    path = f"/v1/sessions/{plan['session_id']}/orders"
    async with httpx.AsyncClient(base_url=plan["base_url"], timeout=10.0,
                                 limits=httpx.Limits(max_connections=width)) as http:
        async def lane(n: int) -> None:
            while not stop.is_set():
                started = time.perf_counter()
                r = await http.post(path, json={"sku": "EGG", "qty": 1},
                                    headers={**headers[n % len(headers)], "Idempotency-Key": uuid.uuid4().hex})
                result["latencies_ms"].append((time.perf_counter() - started) * 1000)
                result["statuses"].append(r.status_code)
                if r.status_code == 201:
                    result["placed"].append(r.json())
                n += width
        await asyncio.gather(*(lane(k) for k in range(width)))
    return result


async def main() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 24)  # the plan is one line of 500 tokens
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    plan = json.loads(await reader.readline())
    stop = asyncio.Event()
    lanes = asyncio.ensure_future(_lanes(plan, stop))
    print("started", flush=True)
    await reader.readline()  # "stop", or the end of stdin
    stop.set()
    print(json.dumps(await lanes), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
