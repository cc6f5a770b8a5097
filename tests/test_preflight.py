"""`make dev`'s preflight: every image the stack runs is here or pullable, or the synth runs instead.

The machine this project is built on has Docker and no registry: there `pulumi up` of the dev
stack failed half-way, on the first image it could not pull. The Makefile is run for real, with
stand-ins for the `pulumi` and `docker` commands on PATH.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

from synth import preflight
from synth.preflight import main, stack_images, unavailable
from tests.graph import CONTAINER

ROOT = Path(__file__).resolve().parents[1]


class FakeDocker:
    """Answers `docker image inspect` and `docker pull` from two sets of image names."""

    def __init__(self, present: set[str], pullable: set[str] = frozenset()):
        self.present, self.pullable, self.calls = set(present), set(pullable), []

    def __call__(self, args):
        self.calls.append(list(args))
        image = args[-1]
        ok = image in self.present or (args[0] == "pull" and image in self.pullable)
        if args[0] == "pull" and ok:
            self.present.add(image)
        error = "" if ok else f"Error response from daemon: pull access denied for {image}\n"
        return subprocess.CompletedProcess(args, 0 if ok else 1, "", error)


def test_the_images_are_those_the_containers_run(synth):
    synthesis = synth("dev")
    images = stack_images(synthesis)
    assert len(images) == len(set(images)) >= 5
    assert {"grafana/grafana", "grafana/loki", "grafana/alloy", "prom/prometheus"} <= {
        i.split(":")[0] for i in images
    }
    assert len(synthesis.of_type(CONTAINER)) >= len(images)


def test_present_images_are_not_pulled_and_missing_ones_are_pulled_or_named():
    docker = FakeDocker(present={"a:1"}, pullable={"b:2"})
    assert unavailable(["a:1", "b:2", "c:3"], docker) == {
        "c:3": "Error response from daemon: pull access denied for c:3"
    }
    assert ["pull", "--quiet", "a:1"] not in docker.calls
    assert ["pull", "--quiet", "b:2"] in docker.calls


def test_main_names_every_missing_image_and_the_ways_out(capsys):
    assert main(["--stack", "dev"], FakeDocker(present=set())) == 1
    out = capsys.readouterr().out
    assert "image(s) of the dev stack are not here and cannot be pulled" in out
    assert "grafana/grafana" in out and "make images" in out


def test_main_passes_when_everything_is_here(synth):
    images = set(stack_images(synth("dev")))
    assert main(["--stack", "dev"], FakeDocker(present=images)) == 0


def _stand_ins(tmp_path: Path, images_present: bool, bridge_present: bool = True) -> dict[str, str]:
    """`pulumi` (records its arguments) and `docker` (an engine with or without the images)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "pulumi.log"
    (bin_dir / "pulumi").write_text(
        textwrap.dedent(f"""\
        #!/bin/sh
        echo "$@" >> {log}
        exit 0
        """)
    )
    # The sign-in bridge's image is here either way unless the test says otherwise: `make dev`
    # builds it only when it is missing.
    missing = 'echo "no such image: $3" >&2; exit 1'
    bridge = "exit 0" if bridge_present else missing
    image_answer = (
        "exit 0" if images_present else f'case "$3" in minio-platform/signin:*) {bridge} ;; esac; {missing}'
    )

    (bin_dir / "docker").write_text(
        textwrap.dedent(f"""\
        #!/bin/sh
        case "$1" in
          info) exit 0 ;;
          image) {image_answer} ;;
          pull) echo "Error response from daemon: lookup registry-1.docker.io: no such host" >&2; exit 1 ;;
        esac
        exit 1
        """)
    )
    for tool in ("pulumi", "docker"):
        (bin_dir / tool).chmod(0o755)
    # A base image of another name: build.sh stops at once instead of making one with debootstrap.
    return {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PULUMI_LOG": str(log),
        "BASE_IMAGE": "stand-in/base:1",
    }


def make_dev(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The README's main command, onto a backend folder of the test's own."""
    return subprocess.run(
        ["make", "--no-print-directory", "dev", f"PULUMI_BACKEND_URL=file://{tmp_path}/state"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def test_make_dev_without_the_images_runs_the_synth_and_says_why(tmp_path):
    env = _stand_ins(tmp_path, images_present=False)
    done = make_dev(tmp_path, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "lookup registry-1.docker.io: no such host" in done.stdout
    assert "cannot deploy here without those images; running the offline synth instead" in done.stdout
    assert "synth dev:" in done.stdout
    assert not (tmp_path / "pulumi.log").exists(), "pulumi ran although the images are missing"


def test_make_dev_without_the_bridge_image_tries_to_build_it_then_runs_the_synth(tmp_path):
    env = _stand_ins(tmp_path, images_present=False, bridge_present=False)
    done = make_dev(tmp_path, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "images/build.sh signin" in done.stdout
    assert "base image stand-in/base:1 is not in Docker" in done.stderr
    assert (
        "the console's sign-in bridge image could not be built; running the offline synth instead"
        in done.stdout
    )
    assert "synth dev:" in done.stdout
    assert not (tmp_path / "pulumi.log").exists()


def test_make_dev_with_the_images_deploys(tmp_path):
    env = _stand_ins(tmp_path, images_present=True)
    done = make_dev(tmp_path, env)
    # The stand-in pulumi has no outputs, so the closing `make info` fails: what matters is that
    # the deployment ran, and not the synth.
    calls = (tmp_path / "pulumi.log").read_text().splitlines()
    assert "stack select --create dev" in calls and "up --refresh --stack dev" in calls, calls
    assert "synth dev:" not in done.stdout and "offline synth instead" not in done.stdout


def test_a_pull_that_hangs_counts_as_unavailable(monkeypatch):
    def hang(command, **kwargs):
        raise subprocess.TimeoutExpired(command, kwargs["timeout"])

    monkeypatch.setattr(preflight.subprocess, "run", hang)
    answer = preflight.docker(["pull", "--quiet", "slow:1"])
    assert answer.returncode == 124 and f"no answer within {preflight.PULL_SECONDS} s" in answer.stderr
    assert preflight.unavailable(["slow:1"]) == {"slow:1": f"no answer within {preflight.PULL_SECONDS} s"}
