"""The offline synth: what `make render` writes, and what it refuses to write."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synth import __main__ as synth_cli
from synth.manifest import SecretLeakError, manifest, mermaid, render_documents
from synth.mocks import is_secret, secret
from synth.run import Synthesis, mask
from synth.stackfile import placeholder_for, read_stack_file

ROOT = Path(__file__).resolve().parent.parent
RESOURCE_KEYS = ["urn", "type", "name", "parent", "custom", "provider", "dependencies", "options", "inputs"]
OPTION_KEYS = [
    "protect",
    "retainOnDelete",
    "deleteBeforeReplace",
    "replaceOnChanges",
    "ignoreChanges",
    "additionalSecretOutputs",
]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_render_writes_the_documented_files(stack, tmp_path, capsys):
    assert synth_cli.main(["--stack", stack, "--out", str(tmp_path)]) == 0
    written = {p.name for p in tmp_path.iterdir()}
    assert {"resources.json", "outputs.json", "graph.mmd"} <= written

    resources = json.loads((tmp_path / "resources.json").read_text())
    assert isinstance(resources, list) and resources
    urns = {r["urn"] for r in resources}
    for resource in resources:
        assert list(resource) == RESOURCE_KEYS
        assert list(resource["options"]) == OPTION_KEYS
        assert resource["parent"] is None or resource["parent"] in urns
        assert resource["provider"] is None or resource["provider"] in urns
        assert set(resource["dependencies"]) <= urns
        assert isinstance(resource["custom"], bool)
    assert isinstance(json.loads((tmp_path / "outputs.json").read_text()), dict)
    assert (tmp_path / "graph.mmd").read_text().startswith("graph TD\n")

    summary = capsys.readouterr().out
    assert summary.startswith(f"synth {stack}: {len(resources) - 1} resources (")


def test_prod_secure_values_become_marked_placeholders(capsys, tmp_path):
    assert synth_cli.main(["--stack", "prod", "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert (
        "minio-platform:tlsPrivateKey is a secure: value; offline it is replaced by a marked placeholder"
        in err
    )
    for path in tmp_path.iterdir():
        assert "offline-synth-placeholder" not in path.read_text(), f"placeholder leaked into {path.name}"


def test_invalid_stack_file_fails_before_writing(tmp_path, capsys):
    bad = tmp_path / "Pulumi.bad.yaml"
    bad.write_text((ROOT / "Pulumi.dev.yaml").read_text().replace("nodes: 4", "nodes: 3"))
    out = tmp_path / "out"
    assert synth_cli.main(["--stack", "bad", "--stack-file", str(bad), "--out", str(out)]) == 2
    assert "minio-platform:cluster.nodes = 3" in capsys.readouterr().err
    assert not out.exists()


def test_missing_stack_file_is_an_error(tmp_path, capsys):
    assert synth_cli.main(["--stack", "nope", "--stack-file", str(tmp_path / "missing.yaml")]) == 2
    assert "no stack file" in capsys.readouterr().err


def test_stack_file_reading_matches_the_cli_encoding(tmp_path):
    path = tmp_path / "Pulumi.t.yaml"
    path.write_text(
        "config:\n"
        "  minio-platform:environment: dev\n"
        "  minio-platform:cluster: {nodes: 4, drivesPerNode: 1}\n"
        "  minio-platform:rootPassword: {secure: v1:abc}\n"
        "  docker:host: unix:///x.sock\n"
    )
    config = read_stack_file(path, "t", overrides={"cluster": {"nodes": 8}, "gateway": {"tls": "none"}})
    assert config.values["minio-platform:environment"] == "dev"
    assert json.loads(config.values["minio-platform:cluster"]) == {"nodes": 8, "drivesPerNode": 1}
    assert json.loads(config.values["minio-platform:gateway"]) == {"tls": "none"}
    assert config.values["minio-platform:rootPassword"] == placeholder_for("rootPassword")
    assert config.secret_keys == ("minio-platform:rootPassword",) == config.placeholders
    assert config.values["docker:host"] == "unix:///x.sock"


def _synthesis_with(inputs: dict, files: dict | None = None) -> Synthesis:
    from synth.mocks import RecordedResource

    resource = RecordedResource(
        urn="urn:pulumi:t::p::x:index:X::a",
        type="x:index:X",
        name="a",
        parent=None,
        custom=True,
        provider=None,
        dependencies=[],
        options=dict.fromkeys(OPTION_KEYS, False),
        inputs=inputs,
    )
    return Synthesis("t", [resource], {}, files or {}, [], (), {"s3cr3t-value-123"})


def test_secret_inputs_are_masked_in_the_manifest():
    synthesis = _synthesis_with(
        {"envs": ["A=1", secret("PASSWORD=s3cr3t-value-123")], "nested": {"k": secret("x")}}
    )
    assert manifest(synthesis)[0]["inputs"] == {"envs": ["A=1", "[secret]"], "nested": {"k": "[secret]"}}
    assert "s3cr3t-value-123" not in json.dumps(manifest(synthesis))


@pytest.mark.parametrize(
    ("inputs", "files"),
    [
        ({"command": ["--password", "s3cr3t-value-123"]}, None),  # a secret used as a plain input
        ({}, {"nginx.conf": "auth s3cr3t-value-123;"}),  # a secret rendered into a file
    ],
)
def test_plain_text_secret_anywhere_refuses_the_whole_render(inputs, files):
    with pytest.raises(SecretLeakError):
        render_documents(_synthesis_with(inputs, files))


def test_graph_has_parent_and_dependency_edges():
    from synth.mocks import RecordedResource

    opts = dict.fromkeys(OPTION_KEYS, False)
    parent = RecordedResource("urn:a", "t:index:P", "p", None, False, None, [], opts, {})
    child = RecordedResource("urn:b", "t:index:C", "c", "urn:a", True, None, [], opts, {})
    user = RecordedResource("urn:c", "t:index:U", "u", "urn:a", True, None, ["urn:b"], opts, {})
    graph = mermaid(Synthesis("t", [parent, child, user], {}, {}, [], ()))
    assert "r0 --> r1" in graph and "r0 --> r2" in graph
    assert "r2 -.->|depends on| r1" in graph
    assert 'r1["c<br/>C"]' in graph, "the label keeps its line break"


def test_every_generated_password_is_long_and_leaves_the_stack_only_as_a_secret(synth):
    """What the program decides: the length of each password it generates, and that no output
    carries one (or anything derived from one) outside a value marked secret."""
    synthesis = synth("dev")
    passwords = synthesis.of_type("random:index/randomPassword:RandomPassword")
    assert len(passwords) >= 5, [p.name for p in passwords]
    short = {p.name: p.inputs["length"] for p in passwords if p.inputs["length"] < 20}
    assert short == {}, "generated passwords of fewer than 20 characters"
    leaked = {
        name: [s for s in synthesis.secret_values if s in json.dumps(mask(value))]
        for name, value in synthesis.outputs.items()
    }
    assert {name: found for name, found in leaked.items() if found} == {}
    assert is_secret(synthesis.outputs["minio_root_password"])


def test_two_runs_write_identical_files():
    from synth.run import synthesize

    first = render_documents(synthesize(read_stack_file(ROOT / "Pulumi.dev.yaml", "dev")))
    second = render_documents(synthesize(read_stack_file(ROOT / "Pulumi.dev.yaml", "dev")))
    assert first == second
