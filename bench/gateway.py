"""Gateway throughput: straight to one node, through the rendered gateway, and through MinIO's own
sample NGINX configuration, against one 4-node cluster on loopback, with tools/s3load (Go, on
minio-go) as the load generator."""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from bench.report import Figure, Row, interleaved
from components.gateway import render_nginx_conf
from tests.servers import LocalMinioCluster, Nginx, free_port, loopback_gateway

BUCKET = "bench"
MIB = 1 << 20
SAMPLE_PATH = "docs/orchestration/docker-compose/nginx.conf"
"""MinIO's sample NGINX configuration for its docker-compose setup, in the minio module's source."""


@dataclass(frozen=True)
class Workload:
    size: int
    label: str
    concurrency: int
    requests: int


def workloads(quick: bool) -> list[Workload]:
    large = 8 * MIB if quick else 64 * MIB
    label = "8 MiB" if quick else "64 MiB"
    small = 100 if quick else 600
    return [
        # One download at a time: what a restore, a dataset read or an `mc cp` of one object sees.
        Workload(large, label, 1, 8),
        Workload(large, label, 4, 8),
        Workload(large, label, 16, 16),
        Workload(4096, "4 KiB", 16, small),
        Workload(4096, "4 KiB", 64, small * 2),
    ]


def sample_source() -> Path:
    """MinIO's sample configuration, from the Go module cache `make tools` filled (never copied here)."""
    version = os.environ.get("MINIO_PLATFORM_MINIO_VERSION", "")
    done = subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True, check=True)
    path = Path(done.stdout.strip()) / f"github.com/minio/minio@{version}" / SAMPLE_PATH
    if not version or not path.is_file():
        raise FileNotFoundError(f"MinIO's sample configuration is not at {path}: run `make tools` first")
    return path


def adapt_sample(
    text: str, s3_port: int, console_port: int, cluster: LocalMinioCluster, workdir: Path
) -> str:
    """The sample with loopback addresses and ports for its listeners and nodes, and its paths moved
    into ``workdir``. Nothing else changes: no buffering, timeout or balancing setting is touched.

    Paths and the ``user`` line are the only other edits, and only so that it runs here: the sample
    expects the nginx image's ``nginx`` user and its log folders.
    """
    nodes = {f"minio{n.index}": n for n in cluster.nodes}

    def server(match: re.Match) -> str:
        node = nodes[match.group(1)]
        port = node.port if match.group(2) == "9000" else node.console_port
        return f"server 127.0.0.1:{port};"

    adapted, count = re.subn(r"server (minio\d+):(9000|9001);", server, text)
    if count != 2 * len(nodes):
        raise ValueError(f"the sample names {count} node addresses, expected {2 * len(nodes)}")
    replacements = [
        (r"(?m)^user\s+nginx;\n", ""),
        (r"listen\s+9000;", f"listen 127.0.0.1:{s3_port};"),
        (r"listen\s+9001;", f"listen 127.0.0.1:{console_port};"),
        (r"(?m)^\s*listen\s+\[::\]:900[01];\n", ""),
        (r"/var/log/nginx/error.log", str(workdir / "sample-error.log")),
        (r"/var/log/nginx/access.log", str(workdir / "sample-access.log")),
        (r"/var/run/nginx.pid", str(workdir / "sample.pid")),
    ]
    for pattern, replacement in replacements:
        adapted, found = re.subn(pattern, replacement, adapted)
        if not found:
            raise ValueError(f"the sample no longer has {pattern!r}: review the adaptation")
    # Its temporary files (unused with buffering off) in the workdir, as the rendered gateway's.
    temp = "".join(
        f"    {kind}_temp_path {workdir}/sample-{kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return adapted.replace("http {\n", "http {\n" + temp, 1)


class Load:
    """tools/s3load against one endpoint, credentials through its environment."""

    def __init__(self, binary: str, access_key: str, secret_key: str):
        self.binary = binary
        self.env = {**os.environ, "S3LOAD_ACCESS_KEY": access_key, "S3LOAD_SECRET_KEY": secret_key}

    def __call__(self, endpoint: str, op: str, prefix: str, workload: Workload, **flags: str) -> dict:
        command = [
            self.binary, "-endpoint", endpoint, "-bucket", BUCKET, "-op", op, "-prefix", prefix,
            "-size", str(workload.size), "-concurrency", str(workload.concurrency),
            "-requests", str(workload.requests),
        ]  # fmt: skip
        for name, value in flags.items():
            command += [f"-{name.replace('_', '-')}", value]
        done = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=900, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"s3load {op} against {endpoint} failed: {done.stderr.strip()[-500:]}")
        return json.loads(done.stdout) if op != "delete" else {}


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its children (NGINX's master and workers), every thread's time
    on a CPU in nanoseconds (``/proc/<pid>/task/<tid>/schedstat``): a GET that costs NGINX a few
    milliseconds still reads above zero, where clock ticks (10 ms) would not."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                total += int((task / "schedstat").read_text().split()[0])
                pending += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return total / 1e9


def machine_busy() -> tuple[int, int]:
    """Busy and total jiffies of the whole machine so far (/proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(values) - values[3] - values[4], sum(values)


@dataclass
class Contenders:
    direct: str
    gateway: str
    sample: str
    unlimited: str
    """The rendered gateway less its rate limits (limit_req): what they cost ordinary traffic."""
    proxies: dict[str, int] = field(default_factory=dict)
    """The NGINX master's PID of each proxying contender."""

    def items(self, small: bool = False) -> dict[str, str]:
        """The contenders of a workload: the unlimited gateway runs beside the small-object ones."""
        base = {"direct": self.direct, "gateway": self.gateway, "sample": self.sample}
        return {**base, "unlimited": self.unlimited} if small else base


def without_rate_limits(rendered: str) -> str:
    """The rendered configuration with its ``limit_req`` lines removed (the zones stay, unused)."""
    kept = [line for line in rendered.splitlines() if not line.strip().startswith("limit_req ")]
    if len(kept) == len(rendered.splitlines()):
        raise ValueError("the rendered gateway has no limit_req to remove")
    return "\n".join(kept) + "\n"


def start(cluster: LocalMinioCluster, workdir: Path) -> tuple[Nginx, Contenders]:
    """The rendered gateway and the adapted sample in front of ``cluster`` (already serving); on a
    failure, the ones already started are stopped (the caller has nothing to stop yet)."""
    nginx = Nginx(workdir)
    try:
        config, _, s3_port = loopback_gateway(workdir, cluster.upstreams)
        nginx.start(config, s3_port)
        sample_port = free_port()
        sample = adapt_sample(sample_source().read_text(), sample_port, free_port(), cluster, workdir)
        nginx.start_text(sample, sample_port, name="sample")
        unlimited_dir = workdir / "unlimited"
        unlimited_dir.mkdir(parents=True, exist_ok=True)
        unlimited, _, unlimited_port = loopback_gateway(unlimited_dir, cluster.upstreams)
        nginx.start_text(without_rate_limits(render_nginx_conf(unlimited)), unlimited_port, name="unlimited")
    except BaseException:
        nginx.close()
        raise
    node = cluster.nodes[0]
    rendered, adapted, bare = (p.pid for p in nginx.processes)
    return nginx, Contenders(
        f"127.0.0.1:{node.port}",
        f"127.0.0.1:{s3_port}",
        f"127.0.0.1:{sample_port}",
        f"127.0.0.1:{unlimited_port}",
        {"gateway": rendered, "sample": adapted, "unlimited": bare},
    )


def run(load: Load, contenders: Contenders, rounds: int, quick: bool) -> tuple[list[Row], float, dict]:
    """The table's gateway rows, the generator's highest CPU share in any run, and where the CPU went
    during large GETs (machine busy share, proxy CPU seconds per GiB) by contender and concurrency."""
    rows: list[Row] = []
    shares: list[float] = []
    large_gets: dict[str, dict[int, dict[str, list[float]]]] = {}

    for workload in workloads(quick):

        def one(name: str, endpoint: str, workload: Workload = workload):
            def measure(number: int) -> dict[str, float]:
                prefix = f"{name}/{workload.size}/{workload.concurrency}/{number}"
                put = load(endpoint, "put", prefix, workload)
                proxy = contenders.proxies.get(name)
                busy, cpu = machine_busy(), tree_cpu(proxy) if proxy else 0.0
                got = load(endpoint, "get", prefix, workload)
                busy_after = machine_busy()
                if workload.size >= MIB:
                    gib = workload.size * workload.requests / 2**30
                    seen = large_gets.setdefault(name, {}).setdefault(
                        workload.concurrency, {"busy": [], "proxy_cpu_per_gib": []}
                    )
                    seen["busy"].append((busy_after[0] - busy[0]) / max(1, busy_after[1] - busy[1]))
                    seen["proxy_cpu_per_gib"].append(((tree_cpu(proxy) - cpu) if proxy else 0.0) / gib)
                load(endpoint, "delete", prefix, workload)
                shares.extend([put["cpu_share"], got["cpu_share"]])
                return {
                    f"{op}_{quantity}": result[key]
                    for op, result in (("put", put), ("get", got))
                    for quantity, key in (
                        ("mibs", "mib_per_s"),
                        ("rps", "requests_per_s"),
                        ("p50", "p50_ms"),
                        ("p99", "p99_ms"),
                    )
                }

            return measure

        small = workload.size < MIB
        measured = interleaved(rounds, {name: one(name, ep) for name, ep in contenders.items(small).items()})
        rows += _rows(workload, measured)
        if not small:
            rows.append(_proxy_cpu_row(workload, large_gets))

    # MinIO's own small-PUT stall (docs/performance.md): one PUT at a time shows it in p99.
    sequential = Workload(4096, "4 KiB", 1, 50 if quick else 200)

    def one_at_a_time(name: str, endpoint: str):
        def measure(number: int) -> dict[str, float]:
            prefix = f"seq/{name}/{number}"
            put = load(endpoint, "put", prefix, sequential)
            load(endpoint, "delete", prefix, sequential)
            return {"p50": put["p50_ms"], "p99": put["p99_ms"], "rps": put["requests_per_s"]}

        return measure

    measured = interleaved(
        rounds, {name: one_at_a_time(name, contenders.items()[name]) for name in ("direct", "gateway")}
    )
    rows.append(
        Row(
            "gateway",
            "4 KiB PUT one at a time, p99 latency",
            Figure(measured["gateway"]["p99"], "ms"),
            Figure(measured["direct"]["p99"], "ms"),
            "straight to a node",
            f"{sequential.requests} sequential PUTs; shows MinIO's lock-retry stall",
            higher_is_better=False,
        )
    )
    return rows, max(shares, default=0.0), large_gets


def _proxy_cpu_row(workload: Workload, large_gets: dict[str, dict[int, dict[str, list[float]]]]) -> Row:
    """What the gateway's NGINX spent per GiB served, against the sample's, for this workload's GETs."""

    def cpu(name: str) -> Figure:
        return Figure(large_gets[name][workload.concurrency]["proxy_cpu_per_gib"], "CPU-s/GiB")

    return Row(
        "gateway",
        f"{workload.label} GET c{workload.concurrency}, proxy CPU per GiB",
        cpu("gateway"),
        cpu("sample"),
        "MinIO's sample nginx.conf",
        f"{workload.label} objects, concurrency {workload.concurrency}, {workload.requests} requests; "
        "NGINX's master and workers, user and system time",
        higher_is_better=False,
    )


def _rows(workload: Workload, measured: dict[str, dict[str, list[float]]]) -> list[Row]:
    ours = measured["gateway"]
    conditions = f"{workload.label} objects, concurrency {workload.concurrency}, {workload.requests} requests"
    alternatives = {"direct": "straight to a node", "sample": "MinIO's sample nginx.conf"}
    if "unlimited" in measured:
        alternatives["unlimited"] = "the gateway without its rate limits"
    rows = []
    for op in ("put", "get"):
        name = f"{workload.label} {op.upper()}"
        if workload.size >= MIB:
            for alt, label in alternatives.items():
                rows.append(
                    Row(
                        "gateway",
                        f"{name} c{workload.concurrency}, throughput",
                        Figure(ours[f"{op}_mibs"], "MiB/s"),
                        Figure(measured[alt][f"{op}_mibs"], "MiB/s"),
                        label,
                        conditions,
                    )
                )
            continue
        for alt, label in alternatives.items():
            rows.append(
                Row(
                    "gateway",
                    f"{name} c{workload.concurrency}, requests/s",
                    Figure(ours[f"{op}_rps"], "req/s"),
                    Figure(measured[alt][f"{op}_rps"], "req/s"),
                    label,
                    conditions,
                )
            )
        for quantile in ("p50", "p99"):
            rows.append(
                Row(
                    "gateway",
                    f"{name} c{workload.concurrency}, {quantile} latency",
                    Figure(ours[f"{op}_{quantile}"], "ms"),
                    Figure(measured["direct"][f"{op}_{quantile}"], "ms"),
                    alternatives["direct"],
                    conditions,
                    higher_is_better=False,
                )
            )
    return rows
