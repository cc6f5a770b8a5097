"""`pulumi up` from an empty stack and `pulumi preview` with nothing to change, on the real engine
and Docker (the e2e tier's stack), and the chain of resources that sets the `up` time."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from bench.report import Figure, Row
from tests.e2e.conftest import docker_available, image_present, remove_leftovers
from tests.e2e.engine import STACK, Engine, e2e_images, stack_config


def unavailable() -> str:
    """Why the deploy rows cannot run here, or "" when they can."""
    if not shutil.which("pulumi"):
        return "no Pulumi CLI on PATH (../shared/pulumi-engine/build.sh builds one)"
    if not docker_available():
        return "no reachable Docker engine"
    missing = [name or role for role, name in e2e_images().items() if not name or not image_present(name)]
    return f"the local images {missing} are missing (`make images`)" if missing else ""


CREATED = re.compile(r"^\s*\+\s+(?P<type>\S+) (?P<name>\S+) created \((?P<seconds>[\d.]+)s\)", re.MULTILINE)
"""A resource's line in `pulumi up`'s non-interactive display, with its own duration."""


def displayed_type(token: str) -> str:
    """A type token as `pulumi up` prints it: a module path ending in the type's own name is dropped
    (docker:index/container:Container -> docker:index:Container), any other kept
    (pulumi-python:dynamic/storage:PoolLayout stays)."""
    match = re.fullmatch(r"([^:]+):([^:/]+)/([^:]+):([^:]+)", token)
    if match and match[3].lower() == match[4].lower():
        return f"{match[1]}:{match[2]}:{match[4]}"
    return token


def critical_path(output: str, export: dict) -> list[tuple[str, float]]:
    """The longest chain of resources through their dependencies (and their providers), weighted by
    each resource's own creation time as `pulumi up` printed it: the chain that sets the `up` time."""
    seconds = {(m["type"], m["name"]): float(m["seconds"]) for m in CREATED.finditer(output)}
    resources = export["deployment"]["resources"]
    by_urn = {r["urn"]: r for r in resources}

    def key(urn: str) -> tuple[str, str]:
        type_, name = urn.split("::")[-2:]
        return displayed_type(type_.rsplit("$", 1)[-1]), name

    longest: dict[str, tuple[float, str]] = {}

    def total(urn: str) -> float:
        if urn not in longest:
            resource = by_urn[urn]
            gates = [*resource.get("dependencies", [])]
            if resource.get("provider"):
                gates.append(resource["provider"].rsplit("::", 1)[0])
            gates = [g for g in gates if g in by_urn]
            best = max(gates, key=total, default="")
            # A component's own line spans its children's: only real (custom) resources count.
            own = seconds.get(key(urn), 0.0) if resource.get("custom") else 0.0
            longest[urn] = (own + (total(best) if best else 0.0), best)
        return longest[urn][0]

    if not resources:
        return []
    current = max(by_urn, key=total)
    chain = []
    while current:
        if by_urn[current].get("custom"):
            chain.append((key(current)[1], seconds.get(key(current), 0.0)))
        current = longest[current][1]
    return chain[::-1]


def run(rounds: int, workdir: Path) -> tuple[list[Row], str]:
    """The deploy rows, and the critical path of the last `up`, in words."""
    pulumi = shutil.which("pulumi") or "pulumi"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    remove_leftovers()
    engine = Engine(pulumi, workdir)
    engine.write_config(stack_config(e2e_images()))
    ups, previews, paths = [], [], []
    chain: list[tuple[str, float]] = []
    try:
        for _ in range(rounds):
            up = engine.make_up()
            ups.append(up.seconds)
            preview = engine.preview("--expect-no-changes")
            previews.append(preview.seconds)
            chain = critical_path(up.output, json.loads(engine.export()))
            paths.append(sum(seconds for _, seconds in chain))
            engine.destroy()
            remove_leftovers()  # the retained volumes too: every round starts from nothing
    finally:
        engine.run("destroy", "--yes", *engine.stack_args(), check=False)
        remove_leftovers()
    words = " → ".join(f"{name} ({seconds:.0f} s)" for name, seconds in chain if seconds >= 1)
    conditions = f"the e2e tier's stack ({STACK}): 4 nodes, gateway, Keycloak; local backend"
    rows = [
        Row("deploy", "`make up` from an empty stack, wall time", Figure(ups, "s"), Figure(paths, "s"),
            "the critical path: the chain's own durations, added",
            f"{conditions}; includes the CLI's start and `--refresh`", higher_is_better=False),
        Row("deploy", "`pulumi preview` with nothing to change, wall time", Figure(previews, "s"), None,
            "—", conditions),
    ]  # fmt: skip
    return rows, words
