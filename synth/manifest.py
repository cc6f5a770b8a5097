"""Write a synthesis to ``build/<stack>/``: resources.json, outputs.json, graph.mmd, generated files."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from synth.run import Synthesis, mask


class SecretLeakError(RuntimeError):
    """A secret value would be written in plain text."""


def manifest(synthesis: Synthesis) -> list[dict[str, Any]]:
    """One object per registered resource, with exactly the documented keys, secrets masked."""
    return [
        {
            "urn": r.urn,
            "type": r.type,
            "name": r.name,
            "parent": r.parent,
            "custom": r.custom,
            "provider": r.provider,
            "dependencies": r.dependencies,
            "options": r.options,
            "inputs": _sorted_keys(mask(r.inputs)),
        }
        for r in synthesis.resources
    ]


def _sorted_keys(value: Any) -> Any:
    """Dicts with their keys sorted, at any depth: the engine's property maps have no stable order."""
    if isinstance(value, dict):
        return {k: _sorted_keys(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted_keys(v) for v in value]
    return value


def mermaid(synthesis: Synthesis) -> str:
    """The resource graph: solid edges from parent to child, dotted edges for dependencies."""
    ids = {r.urn: f"r{i}" for i, r in enumerate(synthesis.resources)}
    lines = ["graph TD"]
    for r in synthesis.resources:
        short_type = r.type.split(":")[-1]
        # Quotes and angle brackets would end the label: strip them from the parts, then join
        # the parts with Mermaid's line break.
        name, kind = (re.sub(r'["<>]', "", part) for part in (r.name, short_type))
        label = f"{name}<br/>{kind}"
        lines.append(f'  {ids[r.urn]}["{label}"]')
    for r in synthesis.resources:
        if r.parent in ids:
            lines.append(f"  {ids[r.parent]} --> {ids[r.urn]}")
        for dep in r.dependencies:
            if dep in ids:
                lines.append(f"  {ids[r.urn]} -.->|depends on| {ids[dep]}")
    return "\n".join(lines) + "\n"


def summary(synthesis: Synthesis) -> str:
    counts = Counter(r.type for r in synthesis.resources if r.type != "pulumi:pulumi:Stack")
    parts = ", ".join(f"{t} {n}" for t, n in sorted(counts.items()))
    return f"{sum(counts.values())} resources ({parts})"


def render_documents(synthesis: Synthesis) -> dict[str, str]:
    """Every file of ``build/<stack>/`` by name, checked for leaked secrets."""
    documents = {
        "resources.json": json.dumps(manifest(synthesis), indent=2, sort_keys=False) + "\n",
        "outputs.json": json.dumps(mask(synthesis.outputs), indent=2, sort_keys=True) + "\n",
        "graph.mmd": mermaid(synthesis),
    }
    for name, content in synthesis.files.items():
        if name in documents or "/" in name or name.startswith("."):
            raise ValueError(f"generated file name {name!r} is reserved or not a plain file name")
        documents[name] = content
    for name, text in documents.items():
        for value in synthesis.secret_values:
            if value in text:
                raise SecretLeakError(
                    f"a secret value appears in plain text in {name}; it must travel as a secret Output"
                )
    return documents


def write(synthesis: Synthesis, out_dir: Path) -> list[Path]:
    documents = render_documents(synthesis)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.iterdir():
        if stale.is_file():
            stale.unlink()
    written = []
    for name, text in documents.items():
        path = out_dir / name
        path.write_text(text)
        written.append(path)
    return written
