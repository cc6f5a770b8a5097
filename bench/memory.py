"""A process's peak resident memory, read from the kernel while it runs."""

from __future__ import annotations

import threading
import time
from pathlib import Path


class PeakRss:
    """Polls ``VmHWM`` of one process until it exits; :attr:`peak` in bytes.

    Not wait4's ``ru_maxrss``: Linux folds the pre-exec copy of the parent (a Python harness, itself
    100 MB and more) into it. VmHWM belongs to the process's own address space, and only grows.
    """

    def __init__(self, pid: int, interval: float = 0.02):
        self.peak = 0
        self._status = Path(f"/proc/{pid}/status")
        self._interval = interval
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while True:
            try:
                fields = dict(line.split(":", 1) for line in self._status.read_text().splitlines())
                if fields.get("State", "").strip().startswith("Z"):
                    return  # exited, not yet reaped: the last reading stands
                self.peak = max(self.peak, int(fields["VmHWM"].split()[0]) * 1024)
            except (OSError, KeyError, ValueError):
                return  # gone
            time.sleep(self._interval)

    def result(self) -> int:
        """The peak, once the process has exited (call after waiting for it)."""
        self._thread.join(timeout=5)
        return self.peak
