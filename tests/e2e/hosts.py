"""Several Docker hosts on one machine, for the multi-host tests (../shared/notes/multihost-field-notes.md).

A host is a network namespace with its own dockerd, joined to the others by a Linux bridge in the
root namespace. Addresses come from 10.219.0.0/24, refused when any route of the machine already
covers it: the tests' traffic stays inside the namespaces they made. Private (RFC 1918) on purpose:
a deployed dev Keycloak serves plain HTTP to private addresses only, as on a real hosts' LAN.
Every process started here is stopped by its PID in :meth:`SimulatedHosts.close`, which also
removes the bridge, the namespaces and the iptables rule; :func:`remove_leftovers` clears what an
interrupted run left.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

BRIDGE = "mphosts0"
PREFIX = "10.219.0"
SUBNET = f"{PREFIX}.0/24"
GATEWAY = f"{PREFIX}.1"
NAMESPACE_PREFIX = "mphost"
ROOT = Path(tempfile.gettempdir()) / "minio-platform-hosts"
"""A fixed place, so the next run finds what an interrupted one left."""
DOCKER_PORT = 2375
START_TIMEOUT = 60.0
FORWARD_RULE = ["FORWARD", "-i", BRIDGE, "-o", BRIDGE, "-j", "ACCEPT"]


def run(*command: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=timeout)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {done.stderr.strip() or done.stdout.strip()}")
    return done


@dataclass
class Host:
    number: int

    @property
    def name(self) -> str:
        return f"host{self.number}"

    @property
    def namespace(self) -> str:
        return f"{NAMESPACE_PREFIX}{self.number}"

    @property
    def address(self) -> str:
        return f"{PREFIX}.{10 + self.number}"

    @property
    def docker_host(self) -> str:
        return f"tcp://{self.address}:{DOCKER_PORT}"

    @property
    def veth(self) -> str:
        """The root-namespace end of the host's link (down: the host is cut off)."""
        return f"mpveth{self.number}"

    @property
    def directory(self) -> Path:
        return ROOT / self.name

    @property
    def socket(self) -> str:
        return f"unix://{self.directory}/docker.sock"

    @property
    def pid_file(self) -> Path:
        return self.directory / "dockerd.pid"

    def docker(self, *args: str, check: bool = True, timeout: float = 120) -> str:
        """A docker CLI command against this host's daemon (through its unix socket: works while cut off)."""
        return run("docker", "-H", self.socket, *args, check=check, timeout=timeout).stdout.strip()

    def in_namespace(self, *command: str, check: bool = True, timeout: float = 120) -> str:
        return run("ip", "netns", "exec", self.namespace, *command, check=check, timeout=timeout).stdout


def _cgroup_mounts() -> list[tuple[str, str]]:
    """The root namespace's cgroup hierarchies: ``ip netns exec`` remounts /sys and hides them."""
    mounts = []
    for line in Path("/proc/mounts").read_text().splitlines():
        _, target, kind, options, *_ = line.split()
        if kind == "cgroup" and target.startswith("/sys/fs/cgroup/"):
            controllers = [
                o
                for o in options.split(",")
                if o not in ("rw", "ro", "relatime", "nosuid", "nodev", "noexec")
            ]
            mounts.append((target, ",".join(controllers)))
    return mounts


class SimulatedHosts:
    """``count`` hosts, each a namespace with a dockerd listening on ``tcp://<address>:2375``."""

    def __init__(self, count: int) -> None:
        self.hosts = [Host(n) for n in range(1, count + 1)]

    def __enter__(self) -> SimulatedHosts:
        try:
            self.open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        remove_leftovers()
        taken = [
            line.split()[0]
            for line in run("ip", "-4", "route", "show").stdout.splitlines()
            if line.split()[0] != "default"
            and ipaddress.ip_network(line.split()[0]).overlaps(ipaddress.ip_network(SUBNET))
        ]
        if taken:
            raise RuntimeError(f"the simulated hosts' {SUBNET} overlaps this machine's routes {taken}")
        run("ip", "link", "add", BRIDGE, "type", "bridge")
        run("ip", "addr", "add", f"{GATEWAY}/24", "dev", BRIDGE)
        run("ip", "link", "set", BRIDGE, "up")
        # The root dockerd sets FORWARD to DROP and bridged frames pass through iptables.
        run("iptables", "-I", *FORWARD_RULE[:1], "1", *FORWARD_RULE[1:])
        for host in self.hosts:
            self._link(host)
            self.start(host)
        for host in self.hosts:
            self.wait(host)

    def _link(self, host: Host) -> None:
        run("ip", "netns", "add", host.namespace)
        run("ip", "link", "add", host.veth, "type", "veth", "peer", "name", "eth0", "netns", host.namespace)
        run("ip", "link", "set", host.veth, "master", BRIDGE)
        run("ip", "link", "set", host.veth, "up")
        host.in_namespace("ip", "addr", "add", f"{host.address}/24", "dev", "eth0")
        host.in_namespace("ip", "link", "set", "eth0", "up")
        host.in_namespace("ip", "link", "set", "lo", "up")
        host.in_namespace("ip", "route", "add", "default", "via", GATEWAY)

    def start(self, host: Host) -> None:
        """Start the host's dockerd (its containers with restart policies come back with it)."""
        for sub in ("etc", "data", "exec"):
            (host.directory / sub).mkdir(parents=True, exist_ok=True)
        fix_ups = ["mount -t tmpfs cgroup /sys/fs/cgroup"]
        for target, controllers in _cgroup_mounts():
            fix_ups += [f"mkdir -p {target}", f"mount -t cgroup -o {controllers} cgroup {target}"]
        fix_ups += [f"mount --bind {host.directory}/etc /etc/docker", f"hostname {host.name}"]
        flags = [
            f"--data-root={host.directory}/data",
            f"--exec-root={host.directory}/exec",
            f"--pidfile={host.pid_file}",
            f"-H {host.socket}",
            f"-H tcp://{host.address}:{DOCKER_PORT}",
            f"--bip=192.168.{200 + host.number}.1/24",
            f"--cgroup-parent={host.name}",
            # Without it a plain tcp listener makes dockerd wait 15 s at start.
            "--tls=false",
        ]
        script = " && ".join(fix_ups) + " && exec dockerd " + " ".join(flags)
        log = (host.directory / "dockerd.log").open("ab")
        subprocess.Popen(
            ["ip", "netns", "exec", host.namespace, "unshare", "--uts", "--mount", "sh", "-c", script],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def wait(self, host: Host) -> None:
        """Until the host's daemon answers on its tcp address (START_TIMEOUT)."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if run("docker", "-H", host.docker_host, "version", check=False, timeout=10).returncode == 0:
                return
            time.sleep(0.5)
        log = (host.directory / "dockerd.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(
            f"{host.name}'s dockerd did not answer on {host.docker_host} in {START_TIMEOUT:.0f} s:\n{log}"
        )

    def stop(self, host: Host) -> None:
        """Stop the host's dockerd (its containers stop with it), waiting for it to exit."""
        pid = _read_pid(host.pid_file)
        if pid is not None:
            _terminate(pid)

    def cut(self, host: Host) -> None:
        """Cut the host off the others (a partition: its daemon and containers keep running)."""
        run("ip", "link", "set", host.veth, "down")

    def reconnect(self, host: Host) -> None:
        run("ip", "link", "set", host.veth, "up")

    def load_images(self, *images: str, hosts: Sequence[Host] | None = None) -> None:
        """Copy images from the machine's own engine into every host, or ``hosts`` (no registry is
        reachable)."""
        archive = ROOT / "images.tar"
        run("docker", "save", "-o", str(archive), *images, timeout=600)
        try:
            for host in self.hosts if hosts is None else hosts:
                host.docker("load", "-i", str(archive), timeout=600)
        finally:
            archive.unlink(missing_ok=True)

    def close(self) -> None:
        for host in self.hosts:
            # Containers first: a host's dockerd stops them, but their restart policies would
            # bring them back if the same data root were started again.
            containers = _all_containers(host) if _read_pid(host.pid_file) is not None else []
            if containers:
                host.docker("rm", "-f", "-v", *containers, check=False, timeout=120)
            self.stop(host)
        remove_leftovers()


def _all_containers(host: Host) -> list[str]:
    try:
        return host.docker("ps", "-aq", timeout=20).split()
    except (RuntimeError, subprocess.TimeoutExpired):
        return []


def _read_pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def _terminate(pid: int) -> None:
    """SIGTERM, up to 30 s to exit, then SIGKILL."""
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]


def remove_leftovers() -> None:
    """What an interrupted run left: dockerds (by their pid files), namespaces, links, the rule, files."""
    if ROOT.exists():
        for pid_file in ROOT.glob("host*/dockerd.pid"):
            pid = _read_pid(pid_file)
            if pid is not None:
                _terminate(pid)
    for namespace in run("ip", "netns", "list", check=False).stdout.split("\n"):
        name = namespace.split(" ")[0]
        if name.startswith(NAMESPACE_PREFIX):
            run("ip", "netns", "delete", name, check=False)
    run("ip", "link", "delete", BRIDGE, check=False)
    # A namespace some process still holds outlives `ip netns delete`, and its link with it.
    for line in run("ip", "-o", "link", "show", check=False).stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name.startswith("mpveth"):
            run("ip", "link", "delete", name, check=False)
    while run("iptables", "-D", *FORWARD_RULE, check=False).returncode == 0:
        pass
    if ROOT.exists():
        # Leftover mounts (overlay layers) under a data root would make rmtree fail; unmount first.
        for line in reversed(Path("/proc/mounts").read_text().splitlines()):
            target = line.split()[1]
            if target.startswith(str(ROOT)):
                run("umount", "-l", target, check=False)
        shutil.rmtree(ROOT, ignore_errors=True)
