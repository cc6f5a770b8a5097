"""`make own-volumes` (docs/security.md): the drives and log queues of a stack made before the nodes
ran as the image's minio user are handed over to it, and a volume a running container uses is
refused. Docker and the MinIO image only: a stack label of its own, no deployment."""

from __future__ import annotations

import subprocess
import uuid

import pytest

from tests.e2e.conftest import docker
from tests.e2e.engine import ROOT

pytestmark = pytest.mark.e2e


@pytest.fixture
def old_volumes(images):
    """Two node volumes and one that is not a node's, root's as a stack made before #30 left them."""
    stack = f"handover-{uuid.uuid4().hex[:8]}"
    names = ["minio91-data1", "minio91-log-queue", "keycloak91-data"]
    made = []
    try:
        for name in names:
            docker("volume", "create", "--label", f"com.minio-platform.stack={stack}", name)
            made.append(name)
            docker("run", "--rm", "--user", "0", "--entrypoint", "sh", "-v", f"{name}:/v", images["minio"],
                   "-c", "mkdir -p /v/bucket && echo old > /v/bucket/object")  # fmt: skip
        yield stack, images["minio"]
    finally:
        subprocess.run(["docker", "rm", "-f", "handover-user"], capture_output=True, check=False)
        subprocess.run(["docker", "volume", "rm", *made], capture_output=True, check=False)


def owners(image: str, volume: str) -> str:
    return docker("run", "--rm", "--entrypoint", "stat", "-v", f"{volume}:/v", image,
                  "-c", "%u:%g", "/v", "/v/bucket", "/v/bucket/object")  # fmt: skip


def own_volumes(stack: str, image: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", "own-volumes", f"STACK={stack}", f"MINIO_IMAGE={image}"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_own_volumes_hands_a_stacks_node_volumes_to_minio_and_leaves_the_rest(old_volumes):
    stack, image = old_volumes
    assert owners(image, "minio91-data1").split() == ["0:0"] * 3
    # A running container on one of them: refused before any volume changes hands.
    docker(
        "run", "-d", "--name", "handover-user", "--entrypoint", "sleep", "-v", "minio91-data1:/v", image, "60"
    )
    refused = own_volumes(stack, image)
    assert refused.returncode != 0 and "in use by a running container" in refused.stderr, refused
    assert "handover-user" in refused.stderr
    assert owners(image, "minio91-log-queue").split() == ["0:0"] * 3
    docker("rm", "-f", "handover-user")

    done = own_volumes(stack, image)
    assert done.returncode == 0, done.stderr
    for volume in ("minio91-data1", "minio91-log-queue"):
        assert owners(image, volume).split() == ["1001:0"] * 3, volume
        assert f"{volume} now belongs to minio" in done.stdout
    assert owners(image, "keycloak91-data").split() == ["0:0"] * 3
    # The node's user can now write where root's files were.
    docker("run", "--rm", "--user", "1001:0", "--entrypoint", "sh", "-v", "minio91-data1:/v", image,
           "-c", "echo new > /v/bucket/object")  # fmt: skip
    nothing = own_volumes("no-such-stack", image)
    assert nothing.returncode != 0 and "no MinIO node volume of stack no-such-stack" in nothing.stderr
