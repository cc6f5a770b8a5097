"""Rows of the report, their statistics, the machine they ran on, and the two files written."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Figure:
    """One contender's measurements over the rounds, in ``unit``."""

    values: list[float]
    unit: str

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def spread(self) -> tuple[float, float]:
        return min(self.values), max(self.values)

    def text(self) -> str:
        low, high = self.spread
        return f"{_number(self.median)} {self.unit} ({_number(low)}–{_number(high)})"


@dataclass
class Row:
    """One line of the table: this project's figure against the alternative's."""

    section: str
    figure: str
    ours: Figure | None
    theirs: Figure | None
    alternative: str
    conditions: str
    higher_is_better: bool = True
    missing: str = ""
    """Why the row has no figures (only the deploy row may say this in a full run)."""
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        """Ours over theirs, oriented so that above 1 means this project leads."""
        if self.ours is None or self.theirs is None or not self.theirs.median or not self.ours.median:
            return None
        ratio = self.ours.median / self.theirs.median
        return ratio if self.higher_is_better else 1 / ratio


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def interleaved(
    rounds: int, contenders: dict[str, Callable[[int], dict[str, float]]]
) -> dict[str, dict[str, list[float]]]:
    """Run each contender once per round, in an order rotated every round (no contender always goes
    first on a warm or a cold machine); every measured quantity collected per contender."""
    names = list(contenders)
    collected: dict[str, dict[str, list[float]]] = {name: {} for name in names}
    for number in range(rounds):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            for quantity, value in contenders[name](number).items():
                collected[name].setdefault(quantity, []).append(value)
    return collected


def _command_version(command: Sequence[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return "absent"
    text = (done.stdout or done.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def machine() -> dict[str, str]:
    """Cores, memory and the versions the figures depend on."""
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    memory_gib = int(meminfo["MemTotal"].split()[0]) / 2**20
    return {
        "cores": str(os.cpu_count()),
        "memory": f"{memory_gib:.1f} GiB",
        "kernel": platform.release(),
        "python": platform.python_version(),
        # Built from source with `go install`, they call themselves DEVELOPMENT: name the module.
        "minio": os.environ.get("MINIO_PLATFORM_MINIO_VERSION")
        or _command_version([os.environ.get("MINIO_PLATFORM_MINIO", "minio"), "--version"]),
        "mc": os.environ.get("MINIO_PLATFORM_MC_VERSION")
        or _command_version([os.environ.get("MINIO_PLATFORM_MC", "mc"), "--version"]),
        "nginx": _command_version(["nginx", "-v"]),
        "postgresql": _command_version(["pg_dump", "--version"]),
        "pulumi": _command_version(["pulumi", "version"]),
    }


def _cells(*cells: str) -> str:
    """One table line; a ``|`` inside a cell (``pg_dump | mc pipe``) is escaped, not a column."""
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def write(out: Path, rows: list[Row], meta: dict[str, object]) -> None:
    """``report.json`` (every value) and ``report.md`` (the table a person reads)."""
    out.mkdir(parents=True, exist_ok=True)
    records = []
    for row in rows:
        record = asdict(row)
        record["ratio"] = row.ratio
        for side in ("ours", "theirs"):
            figure = getattr(row, side)
            if figure is not None:
                record[side].update(median=figure.median, spread=list(figure.spread))
        records.append(record)
    (out / "report.json").write_text(json.dumps({**meta, "rows": records}, indent=2) + "\n")

    lines = [
        "# minio-platform benchmarks",
        "",
        f"Machine: {meta['machine']['cores']} cores, {meta['machine']['memory']} memory, "  # type: ignore[index]
        f"kernel {meta['machine']['kernel']}. Mode: {meta['mode']}; {meta['rounds']} interleaved rounds, "  # type: ignore[index]
        "median (min–max). Ratio: this project over the alternative, above 1 when this project leads.",
        "",
        "| Figure | This project | Alternative | Ratio | Conditions |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        if row.missing:
            lines.append(_cells(row.figure, "—", "—", "—", f"not measured: {row.missing}"))
            continue
        ratio = f"{row.ratio:.2f}×" if row.ratio is not None else "—"
        theirs = f"{row.theirs.text()} ({row.alternative})" if row.theirs else row.alternative
        ours = row.ours.text() if row.ours else "—"
        lines.append(_cells(row.figure, ours, theirs, ratio, row.conditions))
    lines += ["", "Versions:", ""]
    lines += [f"- {name}: {version}" for name, version in meta["machine"].items()]  # type: ignore[union-attr]
    notes = meta.get("notes") or []
    if notes:
        lines += ["", "Notes:", ""] + [f"- {note}" for note in notes]  # type: ignore[union-attr]
    (out / "report.md").write_text("\n".join(lines) + "\n")
