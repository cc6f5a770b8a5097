"""nginx configurations as data: directive trees in crossplane's payload shape, written by crossplane.

A configuration is a list of directives (``directive``, ``args``, ``block``) built by plain functions
and written out by ``crossplane.build``, which quotes each argument as nginx reads it. The tests
read the trees back with ``crossplane.parse``. Used by the gateway and the log gate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import crossplane

Directive = dict[str, Any]
"""One nginx directive in crossplane's payload shape; ``block`` only on block directives."""
SCRATCH = "/tmp"  # noqa: S108 (a private tmpfs in the containers; exists and is writable on a test host)
"""Where an nginx of this project writes (its pid file and temp files): the containers' tmpfs
(``Hardening.scratch``) and the configurations' ``temp_dir`` default, one value."""


def directive(name: str, *args: object, block: Sequence[Directive] | None = None) -> Directive:
    built: Directive = {"directive": name, "args": [str(arg) for arg in args]}
    if block is not None:
        built["block"] = list(block)
    return built


def comment(text: str) -> list[Directive]:
    """A comment, one ``#`` line per line of ``text``: why a rule is there, kept in the rendered file."""
    return [{"directive": "#", "args": [], "comment": f" {line}"} for line in text.splitlines()]


def main_context(
    pid_file: str, workers: int | str, connections: int, http: Sequence[Directive]
) -> list[Directive]:
    """A whole nginx.conf: the main context (pid file, errors to stderr), ``events``, ``http``."""
    return [
        directive("worker_processes", workers),
        directive("pid", pid_file),
        directive("error_log", "/dev/stderr", "warn"),
        directive("events", block=[directive("worker_connections", connections)]),
        directive("http", block=http),
    ]


def temp_paths(prefix: str) -> list[Directive]:
    """Every temp path nginx may be built with, as ``<prefix>-<kind>`` folders. nginx creates the
    temp folders of every module it was built with at start, wherever they point: left at their
    built-in place (/var/cache/nginx in nginx's own images) they fail a read-only, non-root
    container ("mkdir() ... failed"). Point them all at its scratch tmpfs."""
    return [
        directive(f"{kind}_temp_path", f"{prefix}-{folder}")
        for kind, folder in (
            ("client_body", "client-body"),
            ("proxy", "proxy"),
            ("fastcgi", "fastcgi"),
            ("uwsgi", "uwsgi"),
            ("scgi", "scgi"),
        )
    ]


def build(tree: Sequence[Directive]) -> str:
    """The configuration's text. Every directive gets a line number first: ``crossplane.build``
    writes a comment that shares its predecessor's number on that predecessor's line."""
    counter = iter(range(1, 1_000_000))

    def number(block: Sequence[Directive]) -> list[Directive]:
        numbered = []
        for item in block:
            copy = {**item, "line": next(counter)}
            if "block" in item:
                copy["block"] = number(item["block"])
            numbered.append(copy)
        return numbered

    return crossplane.build(number(tree))
