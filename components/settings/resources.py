"""CPU and memory limits of the services beside the nodes (the nodes' own: ``cluster.cpus`` and
``cluster.memoryMb``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from components.settings.base import Cpus, Section


class ServiceLimits(Section):
    """One service's limits; an entry in the stack file changes only the keys it gives."""

    cpus: Cpus | None = Field(None, gt=0, description="CPU limit (Docker --cpus); null: none")
    memory_mb: int | None = Field(
        None, ge=64, description="Memory limit in MiB (Docker --memory), its tmpfs included; null: none"
    )


DEFAULT_LIMITS: dict[str, ServiceLimits] = {
    "gateway": ServiceLimits(cpus=1, memory_mb=256),
    # Keycloak's JVM sizes its heap from the limit (70 % of it); start-dev builds itself at each
    # start, which one core makes about twice as slow.
    "keycloak": ServiceLimits(cpus=2, memory_mb=1536),
    "signin": ServiceLimits(cpus=0.5, memory_mb=128),
    # pg_dump and the tool's parts in flight (4 of 16 MiB), or a drill's download on its tmpfs.
    "backup": ServiceLimits(cpus=1, memory_mb=512),
    "prometheus": ServiceLimits(cpus=1, memory_mb=1024),
    "alertmanager": ServiceLimits(cpus=0.5, memory_mb=128),
    "grafana": ServiceLimits(cpus=1, memory_mb=512),
    "loki": ServiceLimits(cpus=1, memory_mb=1024),
    "alloy": ServiceLimits(cpus=1, memory_mb=512),
    "log_gate": ServiceLimits(cpus=0.5, memory_mb=128),
}


def _limits(service: str, what: str) -> Any:
    return Field(default_factory=lambda: DEFAULT_LIMITS[service], description=what)


class ResourceSettings(Section):
    """Every service's CPU and memory limits, each with a default (docs/security.md)."""

    gateway: ServiceLimits = _limits("gateway", "The NGINX gateway")
    keycloak: ServiceLimits = _limits("keycloak", "Keycloak (identity.mode deploy)")
    signin: ServiceLimits = _limits("signin", "The console's sign-in bridge")
    backup: ServiceLimits = _limits("backup", "The backup service (backups.schedules)")
    prometheus: ServiceLimits = _limits("prometheus", "Prometheus (observability.mode deploy or metrics)")
    alertmanager: ServiceLimits = _limits(
        "alertmanager", "Alertmanager (observability.mode deploy or metrics)"
    )
    grafana: ServiceLimits = _limits("grafana", "Grafana (observability.mode deploy)")
    loki: ServiceLimits = _limits("loki", "Loki (observability.mode deploy)")
    alloy: ServiceLimits = _limits("alloy", "Alloy, the log agent")
    log_gate: ServiceLimits = _limits("log_gate", "The log gate in front of Alloy")

    @model_validator(mode="before")
    @classmethod
    def _over_defaults(cls, given: Any) -> Any:
        """``{gateway: {memoryMb: 512}}`` keeps the gateway's default CPU limit."""
        if not isinstance(given, dict):
            return given
        merged = dict(given)
        for key, value in given.items():
            service = next((s for s, f in cls.model_fields.items() if key in (s, f.alias)), None)
            if service is not None and isinstance(value, dict):
                merged[key] = {**DEFAULT_LIMITS[service].model_dump(by_alias=True), **value}
        return merged
