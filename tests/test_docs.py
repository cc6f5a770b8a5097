"""The documents match the code: the generated configuration reference, the outputs page, the
README's summary example, and every link between the pages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from day2.summary import render_summary
from synth.reference import PAGE, render
from synth.run import mask
from tests.test_hosts import THREE_HOSTS

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))


def test_the_configuration_reference_is_generated_from_the_settings():
    assert PAGE.read_text() == render(), "docs/configuration.md is stale: run `make docs`"


def _models(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[type[BaseModel]]:
    from synth.reference import _model_of

    seen.add(model)
    for field in model.model_fields.values():
        inner = _model_of(field.annotation)
        if inner is not None and inner not in seen:
            _models(inner, seen)
    return seen


def test_every_settings_field_and_rule_is_described():
    """The reference is only as good as the descriptions it is generated from."""
    from components.settings import PlatformSettings

    undescribed = [
        f"{model.__name__}.{name}"
        for model in _models(PlatformSettings, set())
        for name, field in model.model_fields.items()
        # A section (an object key) is described by its model's docstring, its heading on the page.
        if not field.description
        and not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel))
    ]
    assert not undescribed, f"fields without a description: {undescribed}"
    rules = [check for _, check in PlatformSettings()._checks()]
    rules += [
        d.func
        for m in _models(PlatformSettings, set())
        for d in m.__pydantic_decorators__.model_validators.values()
    ]
    assert len(rules) > 10 and all((rule.__doc__ or "").strip() for rule in rules)


def test_the_reference_carries_defaults_limits_and_list_item_fields():
    page = PAGE.read_text()
    for row in (
        "| `buckets[].noncurrentRetentionDays` | integer | `7` | > 0 |",
        "| `cluster.drivesPerNode` | integer | `1` | ≥ 1; ≤ 16 |",
        "| `cluster.memoryMb` | integer | `4096` | ≥ 512 |",
        "| `cluster.cpus` | number | unset | > 0 |",
        '| `resources.gateway` | object | `{"cpus": 1.0, "memoryMb": 256}` | `cpus`: > 0; `memoryMb`: ≥ 64 |',
        "| `identity.groups[].buckets` |",
        "| `observability.alloyImage` | string | `grafana/alloy:v1.11.3` |",
    ):
        assert row in page, row
    assert "pulumi config set --path 'minio-platform:buckets[1].retentionDays' 60" in page


def _documented_outputs() -> set[str]:
    table = (ROOT / "docs" / "outputs.md").read_text()
    return {
        name
        for row in re.findall(r"^\| (.+?) \|", table, re.M)
        for name in re.findall(r"`([a-z0-9_]+)`", row)
    }


def test_every_output_is_documented_and_every_documented_output_exists(synth):
    variants = [
        synth("dev"),
        synth("prod"),
        synth(
            "dev",
            {
                "observability": {"mode": "none"},
                "buckets": [],
                "serviceAccounts": [],
                "identity": {"groups": [{"name": "storage-admins", "policy": "consoleAdmin"}]},
            },
        ),
        synth("dev", THREE_HOSTS),
    ]
    exported = set().union(*(set(s.outputs) for s in variants))
    documented = _documented_outputs() - {"dev", "prod", "observability", "identity"}
    assert exported - documented == set(), "exported but not in docs/outputs.md"
    assert documented - exported == set(), "in docs/outputs.md but never exported"


def test_the_readme_summary_example_is_what_make_info_prints(synth):
    example = README.read_text().split("## What you get and how to sign in", 1)[1]
    block = example.split("```text\n", 1)[1].split("```", 1)[0]
    printed = render_summary(mask(synth("dev").outputs), "dev")
    for line in block.splitlines():
        if "dashboard:" in line:  # the mocks have no Grafana to give the dashboard a real link
            continue
        assert line.rstrip() in printed.splitlines(), line


def test_login_teardown_and_troubleshooting_are_on_the_first_screen():
    first_screen = "\n".join(README.read_text().splitlines()[:20])
    for anchor in ("#what-you-get-and-how-to-sign-in", "#tearing-down", "#troubleshooting"):
        assert f"]({anchor})" in first_screen, anchor


def test_the_first_screen_names_the_default_images_flaw_and_the_fixed_build():
    """The settings' default MinIO image predates CVE-2025-62506's fix (the policy pack flags it):
    the README's first screen (24 rows) says so, and how to build the fixed one."""
    import sys

    from components.settings import DEFAULT_MINIO_IMAGE

    sys.path.insert(0, str(ROOT / "policies" / "pack"))  # the pack's modules import as siblings
    import rules

    image = rules.Resource(rules.REMOTE_IMAGE, "minio-cluster-image", {"name": DEFAULT_MINIO_IMAGE})
    assert rules.minio_image_has_the_2025_fix(image), "the default is fixed now: drop the warning"
    first_screen = " ".join(README.read_text().splitlines()[:24])
    for needed in (f"`{DEFAULT_MINIO_IMAGE}`", "CVE-2025-62506", "`make images`", "`cluster.image`"):
        assert needed in first_screen, needed


def _anchors(path: Path) -> set[str]:
    headings = re.findall(r"^#{1,6} (.+)$", path.read_text(), re.M)
    return {re.sub(r"[^a-z0-9 \-]", "", h.lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda p: p.name)
def test_every_relative_link_resolves(page):
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+://", target):
            continue
        file_part, _, anchor = target.partition("#")
        destination = (page.parent / file_part).resolve() if file_part else page
        assert destination.exists(), f"{page.name}: {target}"
        if anchor and destination.suffix == ".md":
            assert anchor in _anchors(destination), f"{page.name}: {target}"


def test_the_readme_stays_a_front_door():
    lines = README.read_text().splitlines()
    assert len(lines) < 300, f"README has {len(lines)} lines: depth belongs in docs/"
    assert "user's note" not in README.read_text()
    for page in DOCS:
        if page.name != "migration.md":
            assert "user's note" not in page.read_text(), page.name
