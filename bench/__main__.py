"""`python -m bench` (`make bench`): every benchmark, then build/bench/report.md and report.json."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import boto3
from botocore.config import Config

from bench import backup, deploy, gateway, python_clients, synth
from bench.report import Row, machine, write
from synth.run import synthesize
from synth.stackfile import read_stack_file
from tests.graph import minio_nodes, minio_settings_of
from tests.servers import LocalMinioCluster, Postgres, loopback_environment

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("synth", "gateway", "backup", "deploy")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        default=os.environ.get("QUICK") == "1",
        help="a smoke of every benchmark in under 2 minutes (QUICK=1); figures not to quote",
    )
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default: 5, quick: 2)")
    parser.add_argument(
        "--only", choices=SECTIONS, action="append", help="run only this section (repeatable)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "bench", help="report folder")
    args = parser.parse_args(argv)
    # Stopped with SIGTERM (`kill`, a CI timeout): unwind, so every server it started is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args.out = args.out.resolve()
    rounds = args.rounds or (2 if args.quick else 5)
    if rounds < 1:
        parser.error("--rounds must be at least 1")
    sections = args.only or list(SECTIONS)
    began = time.monotonic()
    rows: list[Row] = []
    notes: list[str] = []

    def progress(message: str) -> None:
        print(f"bench [{time.monotonic() - began:5.0f} s] {message}", file=sys.stderr, flush=True)

    failures: list[str] = []

    def section(name: str, measure) -> None:
        """One section's rows; a section that fails is a row saying so, and the run exits non-zero."""
        try:
            rows.extend(measure())
        except Exception as err:
            failures.append(name)
            rows.append(Row(name, f"the {name} benchmark", None, None, "", "", missing=f"failed: {err}"))
            progress(f"{name} failed: {err}")

    def measure_deploy() -> list[Row]:
        reason = (
            "not run with QUICK=1 (one `up` takes about 2 minutes)" if args.quick else deploy.unavailable()
        )
        if reason:
            return [Row("deploy", "`make up` from an empty stack", None, None, "", "", missing=reason)]
        progress(f"deploy: {rounds} rounds of `make up`, `preview`, `destroy`")
        deploy_rows, chain = deploy.run(rounds, args.out / "deploy")
        notes.append(
            f"Critical path of the last `up` (its longest chain of dependencies, 1 s or more): {chain}."
        )
        return deploy_rows

    if "synth" in sections:
        progress("synth at 4, 16 and 32 nodes")
        section("synth", lambda: synth.run(rounds))
    if "gateway" in sections or "backup" in sections:
        section("cluster", lambda: _against_a_cluster(sections, rounds, args.quick, notes, progress))
    if "deploy" in sections:
        section("deploy", measure_deploy)
    meta = {
        "mode": "QUICK smoke (figures not to quote)" if args.quick else "full",
        "rounds": rounds,
        "seconds": round(time.monotonic() - began, 1),
        "machine": machine(),
        "notes": notes,
    }
    write(args.out, rows, meta)
    progress(f"wrote {args.out / 'report.md'} and report.json")
    if failures:
        progress(f"failed sections: {', '.join(failures)}")
        return 1
    return 0


def _against_a_cluster(sections, rounds, quick, notes, progress) -> list[Row]:
    """The gateway and backup sections share one 4-node cluster on loopback (MinIO built from source,
    started with the dev stack's rendered environment)."""
    rows: list[Row] = []
    dev = synthesize(read_stack_file(ROOT / "Pulumi.dev.yaml", "dev", None))
    environment = loopback_environment(minio_settings_of(dev, minio_nodes(dev.resources)[0]))
    access_key, secret_key = environment["MINIO_ROOT_USER"], environment["MINIO_ROOT_PASSWORD"]
    minio = os.environ.get("MINIO_PLATFORM_MINIO") or shutil.which("minio")
    mc = os.environ.get("MINIO_PLATFORM_MC") or shutil.which("mc")
    s3load = os.environ.get("MINIO_PLATFORM_S3LOAD", str(ROOT / "build" / "tools" / "s3load"))
    if not (minio and mc and os.access(s3load, os.X_OK)):
        raise SystemExit("bench: MinIO, mc and tools/s3load are needed: run `make bench` (it builds them)")
    with (
        tempfile.TemporaryDirectory(prefix="minio-platform-bench-") as scratch,
        contextlib.ExitStack() as stack,
    ):
        workdir = Path(scratch)
        cluster = LocalMinioCluster(minio, workdir / "minio", environment)
        stack.callback(cluster.close)
        progress("starting a 4-node MinIO cluster on loopback")
        cluster.start_all()
        nginx, contenders = gateway.start(cluster, workdir / "nginx")
        stack.callback(nginx.close)
        s3 = boto3.client(
            "s3",
            endpoint_url=f"http://{contenders.direct}",
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}),
        )
        # start_all returned once every node took a write (LocalMinioCluster.wait_writable).
        s3.create_bucket(Bucket=gateway.BUCKET)
        if "gateway" in sections:
            progress(f"gateway: {rounds} rounds of each workload, three contenders")
            load = gateway.Load(s3load, access_key, secret_key)
            gateway_rows, share, large_gets = gateway.run(load, contenders, rounds, quick)
            rows += gateway_rows
            notes.append(
                f"Load generator (tools/s3load, Go on minio-go): at most {share:.0%} of the machine's CPU "
                "in any run, so the cluster and the proxies, not the generator, set the figures."
            )
            notes.append(
                "Where the CPU went during large GETs (medians): "
                + "; ".join(
                    f"{name} c{concurrency}: machine {statistics.median(seen['busy']):.0%} busy, proxy "
                    f"{statistics.median(seen['proxy_cpu_per_gib']):.2f} CPU-s per GiB"
                    for name, by_concurrency in large_gets.items()
                    for concurrency, seen in sorted(by_concurrency.items())
                )
                + ". A proxy on the same cores as the cluster takes its CPU from MinIO's."
            )
            progress(f"gateway: {rounds} rounds of boto3 small PUTs, straight and through the gateway")

            def cleanup(endpoint: str, prefix: str, requests: int) -> None:
                load(endpoint, "delete", prefix, gateway.Workload(4096, "4 KiB", 16, requests))

            boto3_rows, headers = python_clients.run(
                {"direct": contenders.direct, "gateway": contenders.gateway},
                access_key,
                secret_key,
                cleanup,
                rounds,
                quick,
            )
            rows += boto3_rows
            notes.append(
                "boto3 rows: the headers of its PUTs, "
                + "; ".join(
                    f"{name}: " + (", ".join(f"{k}: {v}" for k, v in sorted(sent.items())) or "none of note")
                    for name, sent in headers.items()
                )
                + ". Through NGINX, NGINX answers `Expect: 100-continue` itself: MinIO gets the body at once."
            )
        if "backup" in sections:
            progress(f"backup: a PostgreSQL database, {rounds} rounds of backup then of restore")
            postgres = Postgres()
            stack.callback(postgres.close)
            rows += backup.run(
                postgres, f"http://{contenders.gateway}", access_key, secret_key, mc, rounds, quick
            )
    return rows


if __name__ == "__main__":
    sys.exit(main())
