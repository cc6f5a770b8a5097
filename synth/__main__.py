"""Offline synth: ``python -m synth --stack dev`` (or ``make render STACK=dev``).

Runs the program under Pulumi mocks with the stack's config file and writes ``build/<stack>/``.
Needs no Docker, no Pulumi CLI, no network and no credentials.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from components.settings import SettingsError
from synth.manifest import SecretLeakError, summary, write
from synth.run import ROOT, close_idle_event_loops, synthesize
from synth.stackfile import read_stack_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m synth", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="dev", help="stack name (default: dev)")
    parser.add_argument("--stack-file", type=Path, help="config file (default: Pulumi.<stack>.yaml)")
    parser.add_argument("--out", type=Path, help="output folder (default: build/<stack>)")
    args = parser.parse_args(argv)

    stack_file = args.stack_file or ROOT / f"Pulumi.{args.stack}.yaml"
    out_dir = args.out or ROOT / "build" / args.stack
    if not stack_file.is_file():
        print(f"synth: no stack file {stack_file}", file=sys.stderr)
        return 2
    config = read_stack_file(stack_file, args.stack)
    try:
        synthesis = synthesize(config)
    except SettingsError as err:
        print(f"synth: {stack_file.name}: {err}", file=sys.stderr)
        return 2
    try:
        write(synthesis, out_dir)
    except SecretLeakError as err:
        print(f"synth: refusing to write {out_dir}: {err}", file=sys.stderr)
        return 3
    for key in config.placeholders:
        print(
            f"synth: {key} is a secure: value; offline it is replaced by a marked placeholder",
            file=sys.stderr,
        )
    for warning in synthesis.warnings:
        print(f"synth: warning: {warning}", file=sys.stderr)
    print(
        f"synth {args.stack}: {summary(synthesis)} -> "
        f"{out_dir.relative_to(ROOT) if out_dir.is_relative_to(ROOT) else out_dir}"
    )
    return 0


if __name__ == "__main__":
    code = main()
    close_idle_event_loops()
    sys.exit(code)
