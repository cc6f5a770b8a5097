"""The offline synth (`make render`'s work) of the dev stack at 4, 16 and 32 nodes, each in a fresh
interpreter as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from bench.report import Figure, Row, interleaved

NODES = (4, 16, 32)
PROGRAM = """
import json, sys
from pathlib import Path
from synth.run import synthesize
from synth.stackfile import read_stack_file
nodes = int(sys.argv[1])
synthesis = synthesize(read_stack_file(Path("Pulumi.dev.yaml"), "dev", {"cluster": {"nodes": nodes}}))
print(json.dumps({"resources": len(synthesis.resources)}))
"""


def run(rounds: int) -> list[Row]:
    def at(nodes: int):
        def measure(number: int) -> dict[str, float]:
            began = time.monotonic()
            done = subprocess.run(
                [sys.executable, "-c", PROGRAM, str(nodes)],
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            seconds = time.monotonic() - began
            if done.returncode != 0:
                raise RuntimeError(f"synth of {nodes} nodes failed: {done.stderr.strip()[-500:]}")
            return {"seconds": seconds, "resources": json.loads(done.stdout.splitlines()[-1])["resources"]}

        return measure

    measured = interleaved(rounds, {nodes: at(nodes) for nodes in NODES})
    base = Figure(measured[4]["seconds"], "s")
    rows = [
        Row(
            "synth",
            "synth of the dev stack (4 nodes)",
            base,
            None,
            "target: under 2 s",
            f"{measured[4]['resources'][0]:.0f} resources, fresh interpreter, under Pulumi mocks",
        )
    ]
    for nodes in NODES[1:]:
        rows.append(
            Row(
                "synth",
                f"synth at {nodes} nodes",
                Figure(measured[nodes]["seconds"], "s"),
                base,
                "the same at 4 nodes",
                f"{measured[nodes]['resources'][0]:.0f} resources; target for 32: under 2.5× the 4-node time "
                "(a ratio above 0.4)",
                higher_is_better=False,
            )
        )
    return rows
