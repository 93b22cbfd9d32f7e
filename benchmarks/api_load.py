"""HTTP load generator for `manage.py bench_api` (runs as its own process: `python -m benchmarks.api_load`).

N connections each loop GET requests for S seconds; prints JSON with throughput and latency
percentiles. No Django: it is the client, not the server.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import httpx


async def _run(base: str, host: str, token: str, paths: list[str], seconds: float, concurrency: int) -> dict:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Host": host, "Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=30) as client:
        # Warm up: one request per path (the first query of a view reads it from disk).
        for path in paths:
            await client.get(path)
        deadline = time.monotonic() + seconds

        async def worker(i: int) -> None:
            nonlocal errors
            n = i
            while time.monotonic() < deadline:
                path = paths[n % len(paths)]
                n += concurrency
                t = time.perf_counter()
                try:
                    response = await client.get(path)
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                except httpx.HTTPError:
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - t)

        started = time.monotonic()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        elapsed = time.monotonic() - started
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 2) if latencies else 0.0

    return {
        "requests": len(latencies),
        "seconds": round(elapsed, 2),
        "requests_per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": pct(1.0),
        "statuses": statuses,
        "errors": errors,
    }


def main() -> None:
    base, host, token, seconds, concurrency, paths_json = sys.argv[1:7]
    result = asyncio.run(_run(base, host, token, json.loads(paths_json), float(seconds), int(concurrency)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
