"""Shared fixtures: the whole program under Pulumi mocks, for any stack file or settings variant."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from synth.run import Synthesis, synthesize
from synth.stackfile import read_stack_file

ROOT = Path(__file__).resolve().parent.parent

SynthFn = Callable[..., Synthesis]


@pytest.fixture(scope="session")
def synth() -> SynthFn:
    """``synth(stack="dev", overrides=None)`` runs ``__main__.py`` for ``Pulumi.<stack>.yaml``.

    ``overrides`` (keys without the project prefix) are deep-merged over the stack file, so a test
    can ask for "the dev stack with 8 nodes of 2 drives". Runs are cached per (stack, overrides):
    the result is read-only.
    """
    cache: dict[tuple[str, str], Synthesis] = {}

    def run(stack: str = "dev", overrides: Mapping[str, Any] | None = None) -> Synthesis:
        key = (stack, json.dumps(overrides or {}, sort_keys=True))
        if key not in cache:
            cache[key] = synthesize(read_stack_file(ROOT / f"Pulumi.{stack}.yaml", stack, overrides))
        return cache[key]

    return run


def require_binary(name: str, how_to_get: str, env_var: str | None = None) -> str:
    """The path of a real tool a test needs, or a skip naming how to get it.

    ``env_var`` names a variable holding the exact binary to use, when set (see `make tools`).

    With REQUIRE_INTEGRATION=1 (set by .ci/run) a missing tool fails the test instead: CI must
    never count a skipped real-server test as a pass.
    """
    pinned = os.environ.get(env_var, "") if env_var else ""
    if pinned and os.access(pinned, os.X_OK):
        return pinned  # the pinned build `make tools` made (the Makefile exports its path)
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
    path = shutil.which(name, path=search)
    if path:
        return path
    message = f"{name} is not installed: {how_to_get}"
    if os.environ.get("REQUIRE_INTEGRATION") == "1":
        pytest.fail(f"{message} (REQUIRE_INTEGRATION=1 forbids skipping)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def alloycheck() -> str:
    """tools/alloycheck, which runs a rendered Alloy pipeline on sample lines (tests/test_logs.py)."""
    return require_binary(
        "alloycheck",
        "run `make test` or `make tools` (builds tools/alloycheck with Go)",
        "MINIO_PLATFORM_ALLOYCHECK",
    )
