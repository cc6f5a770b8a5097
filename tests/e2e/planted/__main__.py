"""Planted violations for the policy pack: a MinIO node (by its role label) publishing a host port,
a container given the Docker socket, and one given a password in its environment; none of them
runs with no-new-privileges or any other hardening (a user, a read-only root filesystem, dropped
capabilities, a memory limit).

Run by tests/e2e/test_real_engine.py as a project of its own, under the real engine with
`--policy-pack policies/pack`: `pulumi up` must stop before it creates anything.
"""

import os

import pulumi_docker as docker

image = docker.RemoteImage("planted-image", name=os.environ["PLANTED_IMAGE"], keep_locally=True)
docker.Container(
    "planted-node",
    name="planted-minio",
    image=image.image_id,
    command=["server", "/data"],
    ports=[docker.ContainerPortArgs(internal=9000, external=19900, ip="127.0.0.1")],
    labels=[
        docker.ContainerLabelArgs(label="com.minio-platform.role", value="minio"),
        docker.ContainerLabelArgs(label="com.minio-platform.stack", value="e2e"),
    ],
)
docker.Container(
    "planted-socket",
    name="planted-socket-holder",
    image=image.image_id,
    command=["sleep", "60"],
    volumes=[
        docker.ContainerVolumeArgs(host_path="/var/run/docker.sock", container_path="/var/run/docker.sock")
    ],
    labels=[docker.ContainerLabelArgs(label="com.minio-platform.stack", value="e2e")],
)
docker.Container(
    "planted-secret",
    name="planted-secret-holder",
    image=image.image_id,
    command=["sleep", "60"],
    envs=["POSTGRES_PASSWORD=planted-password-in-the-environment"],
    labels=[docker.ContainerLabelArgs(label="com.minio-platform.stack", value="e2e")],
)
