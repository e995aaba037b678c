"""POST /api/v1/llm/chat through the gateway against a bare FastAPI endpoint doing the same XADD + wait.

    .venv/bin/python bench/gateway_bench.py [--requests 1000] [--concurrency 50] [--rounds 2]

One Redis (REDIS_URL, else an embedded one), one `aiwf worker llm` (extractive backend) and one
`aiwf worker auth`, all separate processes; then `aiwf gateway` (one uvicorn process) and the
baseline (bench/gateway_baseline.py, one uvicorn process) serve the same round trip: publish
`llm.chat.requested`, wait for `llm.chat.completed`. The gateway adds what a real edge does:
bearer JWT verification, two rate-limit counters in Redis, the request record, the heartbeat
check, one shared reply reader. `concurrency` clients send `requests` chats each round;
gateway and baseline alternate within a round so machine load hits both alike. Prints
requests/s, p50 and p99 per round, the medians, and the gateway/baseline ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bus_bench import redis_url

from aiwf.schemas.secrets import generate

HERE = Path(__file__).resolve().parent
PASSWORD = "Correct-Horse-Battery-42"
TEXT = (
    "Redis streams keep every event in order. Consumer groups share the work between workers. "
    "A dead letter keeps the error of a poison event. The gateway turns requests into events."
)


def free_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def process(cmd: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def wait_http(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if (await http.get(url, timeout=1)).status_code < 500:
                    return
            await asyncio.sleep(0.2)
    raise TimeoutError(f"{url} did not answer")


async def load(url: str, headers: dict[str, str], requests: int, concurrency: int) -> tuple[float, float, float]:
    """`requests` chats from `concurrency` clients; (requests/s, p50 ms, p99 ms)."""
    latencies: list[float] = []
    queue = iter(range(requests))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:

        async def client() -> None:
            for i in queue:
                body = {"messages": [{"role": "user", "content": f"{TEXT} Number {i}."}], "max_tokens": 64}
                start = time.perf_counter()
                response = await http.post(url, json=body, headers=headers)
                latencies.append(time.perf_counter() - start)
                if response.status_code != 200:
                    raise RuntimeError(f"{url}: {response.status_code} {response.text[:200]}")

        began = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    cuts = statistics.quantiles(latencies, n=100)
    return requests / elapsed, cuts[49] * 1000, cuts[98] * 1000


@contextlib.asynccontextmanager
async def stack(url: str) -> AsyncIterator[tuple[str, str, dict[str, str]]]:
    """Workers, gateway and baseline up; (gateway chat URL, baseline chat URL, bearer header)."""
    with tempfile.TemporaryDirectory(prefix="aiwf-gw-bench-") as tmp, contextlib.ExitStack() as procs:
        generate(Path(tmp) / "keys", ["auth", "gateway"])
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AIWF_LLM_")},
            "REDIS_URL": url,
            "AIWF_KEYS_DIR": str(Path(tmp) / "keys"),
            "AIWF_DATA_DIR": tmp,
            "AIWF_GATEWAY_RATE_LIMIT_ADDRESS": "1000000/minute",
            "AIWF_GATEWAY_RATE_LIMIT_USER": "1000000/minute",
            "AIWF_LOG_LEVEL": "WARNING",
        }
        python = sys.executable
        for worker in ("llm", "auth"):
            procs.enter_context(process([python, "-m", "aiwf.cli", "worker", worker], env))
        gw_port, base_port = free_port(), free_port()
        procs.enter_context(process([python, "-m", "aiwf.cli", "gateway", "--port", str(gw_port)], env))
        baseline = [python, "-m", "uvicorn", "--app-dir", str(HERE), "gateway_baseline:app", "--port", str(base_port)]
        procs.enter_context(process([*baseline, "--log-level", "warning"], env))
        gateway = f"http://127.0.0.1:{gw_port}"
        await wait_http(f"{gateway}/health")
        await wait_http(f"http://127.0.0.1:{base_port}/docs")
        async with httpx.AsyncClient(base_url=gateway, timeout=60) as http:
            body = {"username": "bench", "password": PASSWORD}
            deadline = time.monotonic() + 60
            while (await http.post("/api/v1/auth/register", json=body)).status_code == 503:  # auth starting
                if time.monotonic() > deadline:
                    raise TimeoutError("auth did not start")
                await asyncio.sleep(0.5)
            tokens = (await http.post("/api/v1/auth/login", json=body)).json()
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        yield f"{gateway}/api/v1/llm/chat", f"http://127.0.0.1:{base_port}/chat", bearer


async def main(requests: int, concurrency: int, rounds: int) -> None:
    with redis_url() as (url, where):
        print(f"redis: {where}; {concurrency} clients, {requests} chats per run, extractive backend")
        async with stack(url) as (gateway, baseline, bearer):
            await load(gateway, bearer, 200, concurrency)  # warm up both, and the llm worker
            await load(baseline, {}, 200, concurrency)
            figures: dict[str, list[tuple[float, float, float]]] = {"gateway": [], "baseline": []}
            for n in range(rounds):
                order = [("gateway", gateway, bearer), ("baseline", baseline, {})]
                for name, target, headers in order if n % 2 == 0 else order[::-1]:
                    rate, p50, p99 = await load(target, headers, requests, concurrency)
                    figures[name].append((rate, p50, p99))
                    print(f"round {n + 1} {name:<8} {rate:8.0f} req/s  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms")
    med = {k: [statistics.median(x[i] for x in v) for i in range(3)] for k, v in figures.items()}
    for name, (rate, p50, p99) in med.items():
        print(f"median  {name:<8} {rate:8.0f} req/s  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms")
    (g_rate, _, g_p99), (b_rate, _, b_p99) = med["gateway"], med["baseline"]
    print(f"gateway/baseline: throughput {g_rate / b_rate:.2f}x, p99 {g_p99 / b_p99:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.concurrency, args.rounds))
