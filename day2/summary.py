"""What a stack gave you: where to open each service and how to sign in, from its outputs.

Reads ``pulumi stack output --json`` *without* ``--show-secrets``: it never prints a password, only
the command that shows it, so the summary is safe in a terminal log or a CI job.
"""

from __future__ import annotations

from typing import Any

REVEAL = "pulumi stack output {name} --show-secrets --stack {stack}"


def _reveal(name: str, stack: str) -> str:
    return REVEAL.format(name=name, stack=stack)


def _pool_line(pool: dict[str, Any], parity: int) -> str:
    """One pool's erasure coding and what it survives; a single node's in drives (it has no peer)."""
    nodes = pool["nodes"]
    if len(nodes) > 1:
        return (
            f"pool {pool['pool']}: {len(nodes)} nodes ({nodes[0]}-{nodes[-1]}), {pool['sets']} set(s) of "
            f"{pool['set_size']} drives, parity {parity}: reads survive {pool['node_losses_readable']} node "
            f"loss(es), writes {pool['node_losses_writable']}"
        )
    if pool["set_size"] == 1:
        return f"single node {nodes[0]}, one drive, no erasure coding: it survives no drive loss"
    return (
        f"single node {nodes[0]}, one set of {pool['set_size']} drives, parity {parity}: reads survive "
        f"{pool['drive_losses_readable']} drive loss(es), writes {pool['drive_losses_writable']}; the "
        "node's loss stops everything"
    )


def render_summary(outputs: dict[str, Any], stack: str) -> str:
    """A short, aligned text of the stack's entry points, sign-ins and layout."""
    rows: list[tuple[str, str]] = []

    def add(label: str, *lines: str) -> None:
        rows.append((label, lines[0]))
        rows.extend(("", line) for line in lines[1:])

    console = [outputs["console_url"]]
    root = f"the root user {outputs['minio_root_user']}"
    reveal = _reveal("minio_root_password", stack)
    if "console_break_glass_url" in outputs:
        console.append(
            f"signs in with Keycloak; break-glass access keys at {outputs['console_break_glass_url']} "
            f"({root}: {reveal})"
        )
    else:
        console.append(f"access keys; {root} for emergencies only: {reveal}")
    add("MinIO console", *console)

    s3 = [f"{outputs['s3_endpoint']}  (region {outputs['region']}, path-style requests)"]
    accounts = sorted(outputs.get("service_account_access_keys") or {})
    if accounts:
        s3.append(
            f"service accounts {', '.join(accounts)}; secret keys: "
            f"{_reveal('service_account_secret_keys', stack)}"
        )
    if "database_s3_endpoint" in outputs:
        s3.append(f"from containers on {outputs['database_network']}: {outputs['database_s3_endpoint']}")
    add("S3 endpoint", *s3)

    if "keycloak_admin_url" in outputs:
        add(
            "Keycloak admin",
            outputs["keycloak_admin_url"],
            f"user {outputs['keycloak_admin_user']}; password: {_reveal('keycloak_admin_password', stack)}",
        )
    sso = [outputs["sso_issuer_url"], "MinIO's STS turns a Keycloak token into credentials (docs/sso.md)"]
    if "sso_demo_users" in outputs:
        sso.append(f"demo users' passwords: {_reveal('sso_demo_users', stack)}")
    add("SSO issuer", *sso)

    if "grafana_url" in outputs:
        grafana = [outputs["grafana_url"], f"dashboard: {outputs['grafana_dashboard_url']}"]
        if "grafana_admin_user" in outputs:
            grafana.append(
                f"user {outputs['grafana_admin_user']}; password: {_reveal('grafana_admin_password', stack)}"
            )
        add("Grafana", *grafana)
    else:
        add("Monitoring", "none (observability.mode: none)")

    buckets = outputs.get("buckets") or []
    add("Buckets", ", ".join(buckets) if buckets else "none configured")
    ec = outputs["erasure_coding"]
    add("Erasure coding", *(_pool_line(pool, ec["parity"]) for pool in ec["pools"]))

    width = max(len(label) for label, _ in rows) + 2
    body = "\n".join(f"  {label:<{width}}{text}".rstrip() for label, text in rows)
    outputs_json = f"pulumi stack output --json --show-secrets --stack {stack}"
    if "minio_auditor_user" in outputs:
        who = f"as the read-only {outputs['minio_auditor_user']}; root is for emergencies only"
        check = f"{outputs_json} | python -m day2 verify --outputs -"
    else:
        who = "as root: a stack that manages nothing inside MinIO has no auditor identity"
        check = f"{outputs_json} | python -m day2 verify --account root --outputs -"
    title = f"minio-platform stack '{stack}' ({outputs['environment']}):"
    return f"{title}\n\n{body}\n\nCheck it end to end ({who}): {check}\n"
