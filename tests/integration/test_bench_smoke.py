"""`make bench QUICK=1` as CI runs it: every benchmark works end to end and fills its row.

A smoke, not a speed test: nothing here compares figures. The quick mode runs the same code as
the full one (fewer rounds, smaller objects and database, no deploy rounds).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from bench.gateway import sample_source
from tests.conftest import ROOT, require_binary

EXPECTED = {
    "synth": 3,
    # large: 3 workloads x PUT/GET x 2 alternatives, and the proxy's CPU per GiB of each; small: 2
    # workloads x PUT/GET x (3 req/s, p50, p99), the third req/s row the gateway less its rate
    # limits; one at a time; boto3: 2 batches x (req/s, p99)
    "gateway": 3 * 2 * 2 + 3 + 2 * 2 * 5 + 1 + 2 * 2,
    "backup": 4,
    "deploy": 1,
}


def test_quick_bench_fills_every_row(tmp_path, minio_binary, mc_binary):
    s3load = require_binary(
        "s3load", "run `make tools` (builds tools/s3load with Go)", "MINIO_PLATFORM_S3LOAD"
    )
    assert sample_source().is_file()  # MinIO's sample nginx.conf, from the module `make tools` fetched
    env = {
        **os.environ,
        "MINIO_PLATFORM_MINIO": minio_binary,
        "MINIO_PLATFORM_MC": mc_binary,
        "MINIO_PLATFORM_S3LOAD": s3load,
    }
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["mode"].startswith("QUICK") and report["rounds"] == 2
    sections = [row["section"] for row in report["rows"]]
    assert {s: sections.count(s) for s in EXPECTED} == EXPECTED
    for row in report["rows"]:
        if row["section"] == "deploy":
            assert row["missing"].startswith("not run with QUICK=1"), row
            continue
        assert not row["missing"], row
        assert len(row["ours"]["values"]) == 2 and min(row["ours"]["values"]) > 0, row
        if row["theirs"] is not None:
            assert len(row["theirs"]["values"]) == 2 and min(row["theirs"]["values"]) > 0, row
            assert row["ratio"] > 0, row
    alternatives = {row["alternative"] for row in report["rows"] if row["section"] == "gateway"}
    assert alternatives == {
        "straight to a node", "MinIO's sample nginx.conf", "the gateway without its rate limits"
    }  # fmt: skip
    table = (tmp_path / "report.md").read_text()
    assert table.count("\n| ") == len(report["rows"]) + 1  # the header and one line per row
    assert "Load generator (tools/s3load" in table and "CPU-s per GiB" in table
    assert "boto3 rows: the headers of its PUTs" in table
    assert report["machine"]["cores"] == str(os.cpu_count())
