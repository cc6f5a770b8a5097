"""Small PUTs from the client most of the platform's applications use: boto3 with its default
settings, straight to a node and through the rendered gateway.

The Go load generator (tools/s3load) answers MinIO's ``100 Continue`` in microseconds, so it meets
MinIO's small-PUT lock stall the same both ways (docs/performance.md). boto3 waits a Python round
trip for it, which hides the stall straight to a node; NGINX answers ``Expect`` itself, so through
any NGINX the body follows at once. These rows show what a Python application sees.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import boto3

from bench.gateway import BUCKET
from bench.report import Figure, Row, interleaved

SIZE = 4096
SHOWN_HEADERS = ("Expect", "Content-Encoding", "Transfer-Encoding", "X-Amz-Content-SHA256")
"""The request headers that decide how a PUT's body travels, as the report names them."""


@dataclass(frozen=True)
class Batch:
    requests: int
    concurrency: int

    @property
    def label(self) -> str:
        return "one at a time" if self.concurrency == 1 else f"c{self.concurrency}"


def batches(quick: bool) -> list[Batch]:
    return [Batch(50 if quick else 200, 1), Batch(100 if quick else 600, 16)]


def default_client(endpoint: str, access_key: str, secret_key: str):
    """boto3 as an application makes it: no ``Config`` (its retries, its pool of 10 connections,
    its checksums and ``Expect`` handling); only where to go and who signs."""
    return boto3.client(
        "s3",
        endpoint_url=f"http://{endpoint}",
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
    )


def sent_headers(client) -> dict[str, str]:
    """The body-related headers of one PUT as boto3 sends it (read from botocore's ``before-send``)."""
    seen: dict[str, str] = {}

    def record(request, **_kwargs) -> None:
        seen.update({h: request.headers[h] for h in SHOWN_HEADERS if h in request.headers})

    client.meta.events.register("before-send.s3.PutObject", record)
    try:
        client.put_object(Bucket=BUCKET, Key="headers-probe", Body=b"x" * SIZE)
    finally:
        client.meta.events.unregister("before-send.s3.PutObject", record)
    client.delete_object(Bucket=BUCKET, Key="headers-probe")
    return {k: v.decode() if isinstance(v, bytes) else v for k, v in seen.items()}


def put_batch(client, prefix: str, batch: Batch) -> dict[str, float]:
    """``batch.requests`` PUTs of 4 KiB under ``prefix`` (keys ``<prefix>/<n>``, as s3load names
    them, so its ``-op delete`` cleans up): requests per second and p99 latency in ms."""
    body = b"b" * SIZE
    latencies: list[float] = []
    lock = threading.Lock()

    def put(number: int) -> None:
        started = time.perf_counter()
        client.put_object(Bucket=BUCKET, Key=f"{prefix}/{number}", Body=body)
        elapsed = (time.perf_counter() - started) * 1000
        with lock:
            latencies.append(elapsed)

    started = time.perf_counter()
    if batch.concurrency == 1:
        for number in range(batch.requests):
            put(number)
    else:
        with ThreadPoolExecutor(batch.concurrency) as pool:
            list(pool.map(put, range(batch.requests)))
    wall = time.perf_counter() - started
    return {"rps": batch.requests / wall, "p99": statistics.quantiles(latencies, n=100)[98]}


def run(
    endpoints: dict[str, str],
    access_key: str,
    secret_key: str,
    cleanup: Callable[[str, str, int], None],
    rounds: int,
    quick: bool,
) -> tuple[list[Row], dict[str, dict[str, str]]]:
    """Rows for each batch (``endpoints`` by contender: ``direct`` and ``gateway``), and the headers
    boto3 sent to each. ``cleanup(endpoint, prefix, requests)`` removes a batch's objects, untimed."""
    clients = {name: default_client(endpoint, access_key, secret_key) for name, endpoint in endpoints.items()}
    headers = {name: sent_headers(client) for name, client in clients.items()}
    rows: list[Row] = []
    for batch in batches(quick):

        def one(name: str, batch: Batch = batch):
            def measure(number: int) -> dict[str, float]:
                prefix = f"boto3/{name}/{batch.concurrency}/{number}"
                measured = put_batch(clients[name], prefix, batch)
                cleanup(endpoints[name], prefix, batch.requests)
                return measured

            return measure

        measured = interleaved(rounds, {name: one(name) for name in endpoints})
        conditions = f"boto3 {boto3.__version__}, default settings, {batch.requests} PUTs of 4 KiB" + (
            "" if batch.concurrency == 1 else f", {batch.concurrency} threads sharing one client"
        )
        for quantity, figure, unit, higher_is_better in (
            ("rps", "requests/s", "req/s", True),
            ("p99", "p99 latency", "ms", False),
        ):
            rows.append(
                Row(
                    "gateway",
                    f"boto3 4 KiB PUT {batch.label}, {figure}",
                    Figure(measured["gateway"][quantity], unit),
                    Figure(measured["direct"][quantity], unit),
                    "straight to a node",
                    conditions,
                    higher_is_better=higher_is_better,
                )
            )
    return rows, headers
