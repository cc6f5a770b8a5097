"""The MinIO Overview dashboard as code (grafana-foundation-sdk): typed panels and PromQL queries.

``minio-overview.json`` beside this file is generated from it (``make dashboards``; a test fails when
the file is stale) and is what the stack gives Grafana (components/monitoring.py). The panels are
the seed's: health, capacity, request rate by API, bandwidth, errors, latency and top buckets. The
e2e tier evaluates every query here on a live Prometheus scraping the stack.

    python -m dashboards.overview            # print the JSON
    python -m dashboards.overview --write    # rewrite minio-overview.json
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass

from grafana_foundation_sdk.builders import bargauge, dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef, GridPos

from components.grafana import DASHBOARD_FILE, PROMETHEUS_DATASOURCE_UID

UID = "minio-overview"
RATE = "$__rate_interval"
"""Grafana's interval for rate(): at least four scrapes, whatever the zoom."""

CLUSTER = '{job="minio-cluster"}'
NODES = '{job="minio-nodes"}'
BUCKETS = '{job="minio-buckets"}'
USED = (
    f"max(minio_cluster_capacity_usable_total_bytes{CLUSTER})"
    f" - max(minio_cluster_capacity_usable_free_bytes{CLUSTER})"
)


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str


def _prometheus() -> DataSourceRef:
    return DataSourceRef(type_val="prometheus", uid=PROMETHEUS_DATASOURCE_UID)


def _with_queries(panel, *queries: Query):
    panel = panel.datasource(_prometheus())
    for ref_id, query in zip("ABCDEFGH", queries, strict=False):
        panel = panel.with_target(
            prometheus.Dataquery()
            .datasource(_prometheus())
            .expr(query.expr)
            .legend_format(query.legend)
            .ref_id(ref_id)
        )
    return panel


def _stat(title: str, x: int, query: Query, description: str = "") -> stat.Panel:
    panel = stat.Panel().title(title).grid_pos(GridPos(h=4, w=4, x=x, y=0))
    if description:
        panel = panel.description(description)
    return _with_queries(panel, query)


def _series(
    title: str, unit: str, x: int, y: int, *queries: Query, description: str = "", width: int = 12
) -> timeseries.Panel:
    panel = timeseries.Panel().title(title).unit(unit).grid_pos(GridPos(h=8, w=width, x=x, y=y))
    if description:
        panel = panel.description(description)
    return _with_queries(panel, *queries)


def panels() -> list:
    """Every panel, top to bottom: six stats, then capacity, traffic, errors, latency, buckets."""
    return [
        _stat("Nodes online", 0, Query(f"max(minio_cluster_nodes_online_total{CLUSTER})", "online")),
        _stat("Nodes offline", 4, Query(f"max(minio_cluster_nodes_offline_total{CLUSTER})", "offline")),
        _stat("Drives online", 8, Query(f"max(minio_cluster_drive_online_total{CLUSTER})", "online")),
        _stat("Drives offline", 12, Query(f"max(minio_cluster_drive_offline_total{CLUSTER})", "offline")),
        _stat(
            "Cluster health",
            16,
            Query(f"min(minio_cluster_health_status{CLUSTER})", "healthy"),
            "1: every erasure set has write quorum",
        ),
        _stat("Write quorum (drives)", 20, Query(f"max(minio_cluster_write_quorum{CLUSTER})", "quorum")),
        _series(
            "Usable capacity",
            "bytes",
            0,
            4,
            Query(f"max(minio_cluster_capacity_usable_total_bytes{CLUSTER})", "total"),
            Query(USED, "used"),
            Query(f"max(minio_cluster_capacity_usable_free_bytes{CLUSTER})", "free"),
        ),
        _series(
            "Data growth (per day)",
            "bytes",
            12,
            4,
            Query(
                f"deriv(max(minio_cluster_capacity_usable_total_bytes{CLUSTER}"
                f" - minio_cluster_capacity_usable_free_bytes{CLUSTER})[1h:]) * 86400",
                "growth",
            ),
            description="Rate of change of used usable capacity, per day",
        ),
        _series(
            "S3 requests by API",
            "reqps",
            0,
            12,
            Query(f"sum by (api) (rate(minio_s3_requests_total{NODES}[{RATE}]))", "{{api}}"),
        ),
        _series(
            "S3 bandwidth",
            "Bps",
            12,
            12,
            Query(f"sum(rate(minio_s3_traffic_received_bytes{NODES}[{RATE}]))", "in"),
            Query(f"sum(rate(minio_s3_traffic_sent_bytes{NODES}[{RATE}]))", "out"),
        ),
        _series(
            "S3 errors",
            "reqps",
            0,
            20,
            Query(f"sum(rate(minio_s3_requests_4xx_errors_total{NODES}[{RATE}]))", "4xx"),
            Query(f"sum(rate(minio_s3_requests_5xx_errors_total{NODES}[{RATE}]))", "5xx"),
        ),
        _series(
            "Time to first byte",
            "s",
            12,
            20,
            *(
                Query(
                    f"histogram_quantile({q}, sum by (le) "
                    f"(rate(minio_s3_requests_ttfb_seconds_distribution{NODES}[{RATE}])))",
                    f"p{round(q * 100)}",
                )
                for q in (0.5, 0.99)
            ),
        ),
        _with_queries(
            bargauge.Panel()
            .title("Top buckets by size")
            .description("From MinIO's background scanner: lags behind recent writes")
            .unit("bytes")
            .grid_pos(GridPos(h=8, w=24, x=0, y=28)),
            Query(f"topk(10, max by (bucket) (minio_bucket_usage_total_bytes{BUCKETS}))", "{{bucket}}"),
        ),
    ]


def build() -> dict:
    """The dashboard as Grafana takes it (a plain JSON document)."""
    board = (
        dashboard.Dashboard("MinIO Overview")
        .uid(UID)
        .tags(["minio", "minio-platform"])
        .timezone("browser")
        .refresh("30s")
        .time("now-6h", "now")
        .readonly()
    )
    for number, panel in enumerate(panels(), start=1):
        board = board.with_panel(panel.id(number))
    return json.loads(JSONEncoder(sort_keys=True).encode(board.build()))


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    if argv == ["--write"]:
        DASHBOARD_FILE.write_text(render())
        print(f"wrote {DASHBOARD_FILE.name}")
        return 0
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
