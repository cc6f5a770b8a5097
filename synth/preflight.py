"""Before ``make dev`` deploys: is every image the stack needs here, or can Docker pull it?

``python -m synth.preflight --stack dev`` lists the images the stack's ``pulumi up`` would use
(from the offline synth of its stack file), keeps those the engine already has, pulls the others,
and exits 1 naming each image that is neither here nor pullable. A machine with Docker but no
registry (no network, or a registry that refuses) would otherwise fail in the middle of
``pulumi up``, after the networks and volumes exist, on the first image it cannot pull.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from components.settings import SettingsError
from synth.run import ROOT, Synthesis, close_idle_event_loops, synthesize
from synth.stackfile import read_stack_file

REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"

Docker = Callable[[Sequence[str]], subprocess.CompletedProcess]


PULL_SECONDS = 900


def docker(args: Sequence[str]) -> subprocess.CompletedProcess:
    """The Docker CLI; a pull that hangs (a registry that accepts connections, then stalls) ends
    as a failure after PULL_SECONDS."""
    try:
        return subprocess.run(
            ["docker", *args], capture_output=True, text=True, timeout=PULL_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(args, 124, "", f"no answer within {PULL_SECONDS} s")


def stack_images(synthesis: Synthesis) -> list[str]:
    """Every image the stack's containers run, once each."""
    return sorted({r.inputs["name"] for r in synthesis.of_type(REMOTE_IMAGE)})


def unavailable(images: Sequence[str], run: Docker = docker) -> dict[str, str]:
    """The images the engine neither has nor can pull, with Docker's reason for each."""
    missing = {}
    for image in images:
        if run(["image", "inspect", image]).returncode == 0:
            continue
        print(f"preflight: pulling {image}", file=sys.stderr, flush=True)
        pulled = run(["pull", "--quiet", image])
        if pulled.returncode != 0:
            lines = (pulled.stderr or pulled.stdout).strip().splitlines()
            missing[image] = lines[-1] if lines else f"docker pull exited {pulled.returncode}"
    return missing


def main(argv: list[str] | None = None, run: Docker = docker) -> int:
    parser = argparse.ArgumentParser(prog="python -m synth.preflight", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="dev", help="stack name (default: dev)")
    parser.add_argument("--stack-file", type=Path, help="config file (default: Pulumi.<stack>.yaml)")
    args = parser.parse_args(argv)
    stack_file = args.stack_file or ROOT / f"Pulumi.{args.stack}.yaml"
    try:
        synthesis = synthesize(read_stack_file(stack_file, args.stack))
    except SettingsError as err:
        print(f"preflight: {stack_file.name}: {err}", file=sys.stderr)
        return 2
    missing = unavailable(stack_images(synthesis), run)
    if not missing:
        return 0
    print(f"preflight: {len(missing)} image(s) of the {args.stack} stack are not here and cannot be pulled:")
    for image, reason in missing.items():
        print(f"  {image}: {reason}")
    print(
        "  Reach a registry, `docker load` them, or point the stack's image keys at local images "
        "(docs/configuration.md; `make images` builds MinIO, NGINX and Keycloak from source)."
    )
    return 1


if __name__ == "__main__":
    code = main()
    close_idle_event_loops()
    sys.exit(code)
