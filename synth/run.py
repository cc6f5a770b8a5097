"""Run the real program (``__main__.py``) under Pulumi mocks and collect what it registered."""

from __future__ import annotations

import asyncio
import gc
import logging
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import settings as runtime_settings

from components.settings import PROJECT
from synth.mocks import PlatformMocks, RecordedResource, RecordingMonitor, is_secret, secret, unwrap
from synth.stackfile import StackConfig

ROOT = Path(__file__).resolve().parent.parent
MAIN = ROOT / "__main__.py"
SECRET_MASK = "[secret]"  # noqa: S105 (the mask, not a credential)


@dataclass
class Synthesis:
    stack: str
    resources: list[RecordedResource]
    outputs: dict[str, Any]
    """Stack outputs; secret ones wrapped (see :func:`synth.mocks.is_secret`)."""
    files: dict[str, str]
    """Generated configuration files by name, as the platform renders them."""
    warnings: list[str]
    placeholders: tuple[str, ...]
    secret_values: set[str] = field(default_factory=set)
    """Every secret value seen in inputs, outputs and config: what must never appear in plain text."""

    def of_type(self, type_: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == type_]

    def named(self, type_: str, name: str) -> RecordedResource:
        matches = [r for r in self.resources if r.type == type_ and r.name == name]
        if len(matches) != 1:
            raise LookupError(f"expected one {type_} named {name!r}, found {len(matches)}")
        return matches[0]


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            self.messages.append(record.getMessage())


def synthesize(config: StackConfig, monitor: RecordingMonitor | None = None) -> Synthesis:
    """Run ``__main__.py`` for one stack under mocks. Raises what the program raises (e.g. SettingsError).

    ``monitor``, when given, records the registrations: a caller can see what registered before a
    failure.
    """
    pulumi.runtime.set_all_config(config.values, list(config.secret_keys))
    runtime_settings.set_root_resource(None)  # a fresh root stack, so earlier runs' outputs do not linger
    monitor = monitor or RecordingMonitor(PlatformMocks())
    capture = _Capture()
    logger = logging.getLogger(f"synth.{config.stack}")
    logger.propagate = False
    logger.handlers = [capture]
    pulumi.runtime.set_mocks(
        monitor.mocks, project=PROJECT, stack=config.stack, preview=False, logger=logger, monitor=monitor
    )
    collected: dict[str, Any] = {}

    @pulumi.runtime.test
    def program():
        namespace = runpy.run_path(str(MAIN), run_name="__main__")
        platform = namespace.get("platform")
        stack = runtime_settings.get_root_resource()
        exports = dict(stack.outputs) if stack is not None else {}
        files = dict(getattr(platform, "generated_files", {}) or {})

        async def gather() -> None:
            collected["outputs"] = {k: await _resolve(v) for k, v in exports.items()}
            collected["files"] = {k: await _resolve(v) for k, v in files.items()}

        return asyncio.ensure_future(gather())

    program()
    synthesis = Synthesis(
        stack=config.stack,
        # Registration order depends on async scheduling; a stable order keeps builds diffable.
        resources=sorted(monitor.records, key=lambda r: (r.type != "pulumi:pulumi:Stack", r.urn)),
        outputs=collected.get("outputs", {}),
        files={},
        warnings=capture.messages,
        placeholders=config.placeholders,
    )
    for name, content in collected.get("files", {}).items():
        if is_secret(content):
            raise ValueError(f"generated file {name} is secret as a whole; render secrets as file references")
        synthesis.files[name] = content
    synthesis.secret_values = _secret_values(synthesis, config)
    return synthesis


async def _resolve(value: Any) -> Any:
    output = pulumi.Output.from_input(value)
    resolved = await output.future()
    return secret(resolved) if await output.is_secret() else resolved


def _secret_values(synthesis: Synthesis, config: StackConfig) -> set[str]:
    """Atomic secrets: secret config values and every secret-wrapped string (inputs, outputs, state).

    A container that is secret as a whole (the engine marks a whole ``envs`` list secret when one
    entry is) does not make each of its entries a secret: the secret entries are found on their own,
    from the config value or the generated output they were built from.
    """
    found: set[str] = {config.values[k] for k in config.secret_keys}

    def walk(value: Any) -> None:
        if is_secret(value):
            inner = unwrap(value)
            if isinstance(inner, str):
                found.add(inner)
            else:
                walk(inner)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    for resource in synthesis.resources:
        walk(resource.inputs)
        walk(resource.state)
    walk(synthesis.outputs)
    # Strings too short to be credentials would match by accident (e.g. a port or "true").
    return {v for v in found if len(v) >= 8}


def mask(value: Any) -> Any:
    """The value with every secret replaced by ``"[secret]"``."""
    if is_secret(value):
        return SECRET_MASK
    if isinstance(value, dict):
        return {k: mask(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask(v) for v in value]
    return value


def close_idle_event_loops() -> None:
    """Close the per-thread loops the mock runtime leaves open.

    Left to the garbage collector at interpreter exit, they print "Exception ignored in
    BaseEventLoop.__del__". Only done on the way out: a later synthesis in the same process would
    be handed a closed loop.
    """
    for obj in gc.get_objects():
        if isinstance(obj, asyncio.AbstractEventLoop) and not obj.is_running() and not obj.is_closed():
            obj.close()
