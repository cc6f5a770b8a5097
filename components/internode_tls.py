"""TLS between MinIO nodes, and from the gateway and Prometheus to them, for a multi-host stack.

Node-to-node traffic leaves the machine once nodes run on several hosts, so every node serves
HTTPS on its S3 port (which also carries MinIO's internode RPC) and its console port, with a
certificate signed by a CA this stack creates with the tls provider. Every node trusts the CA
(``<certs dir>/CAs/ca.crt``) and so does every client inside the platform: the peers, ``mc ready``
in the health check, the gateway (``proxy_ssl_verify``) and Prometheus.

Each certificate names its node (``minioN``, its address) and ``localhost``, and every one also
names :data:`SHARED_NAME`: the gateway load-balances over all nodes with one upstream, so it checks
that it reaches *a node of this cluster* rather than a particular one.

Rotation (docs/cluster.md "Internode TLS"): node certificates last a year and are renewed by the
first `pulumi up` in their last 30 days (the tls provider's ``early_renewal_hours``); the CA lasts
ten years. A renewed certificate is a changed upload, so `pulumi up` replaces every node at once
(the same short full restart as a new pool); ``pulumi up --replace`` on a certificate forces it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_tls as tls

SHARED_NAME = "minio"
"""A DNS name in every node certificate: what the gateway and Prometheus verify."""
CERTS_DIR = "/etc/minio/certs"
"""``minio server --certs-dir``: public.crt, private.key and CAs/ca.crt."""
MC_CA_PATH = "/etc/minio/mc/certs/CAs/ca.crt"
"""Where ``mc`` (the health check) looks for extra CAs."""
NODE_VALIDITY_HOURS = 24 * 365
NODE_EARLY_RENEWAL_HOURS = 24 * 30
CA_VALIDITY_HOURS = 24 * 365 * 10


@dataclass(frozen=True)
class Certificate:
    certificate: pulumi.Output[str]
    private_key: pulumi.Output[str]
    """Secret."""


class InternodeTls(pulumi.ComponentResource):
    """The cluster's CA and one certificate per node."""

    ca_certificate: pulumi.Output[str]
    nodes: dict[str, Certificate]
    """By node name."""

    def __init__(
        self,
        name: str,
        node_addresses: Mapping[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("minio-platform:storage:InternodeTls", name, None, opts)
        self._name = name
        child = pulumi.ResourceOptions(parent=self)
        ca_key = tls.PrivateKey(f"{name}-ca-key", algorithm="ECDSA", ecdsa_curve="P256", opts=child)
        self._ca_key = ca_key
        ca = tls.SelfSignedCert(
            f"{name}-ca",
            private_key_pem=ca_key.private_key_pem,
            is_ca_certificate=True,
            subject=tls.SelfSignedCertSubjectArgs(common_name="minio-platform internode CA"),
            validity_period_hours=CA_VALIDITY_HOURS,
            early_renewal_hours=24 * 90,
            allowed_uses=["cert_signing", "crl_signing", "digital_signature"],
            opts=child,
        )
        self.ca_certificate = ca.cert_pem
        self._ca = ca
        self.nodes = {
            node: self.issue(node, [node, SHARED_NAME, "localhost"], [address, "127.0.0.1"])
            for node, address in node_addresses.items()
        }
        self.register_outputs({"ca_certificate": self.ca_certificate})

    def issue(self, subject: str, dns_names: list[str], ip_addresses: list[str]) -> Certificate:
        """A server (and client) certificate signed by the CA: a node's, or a service's the nodes call."""
        child = pulumi.ResourceOptions(parent=self)
        key = tls.PrivateKey(f"{self._name}-{subject}-key", algorithm="ECDSA", ecdsa_curve="P256", opts=child)
        request = tls.CertRequest(
            f"{self._name}-{subject}-request",
            private_key_pem=key.private_key_pem,
            subject=tls.CertRequestSubjectArgs(common_name=subject),
            dns_names=dns_names,
            ip_addresses=ip_addresses,
            opts=child,
        )
        certificate = tls.LocallySignedCert(
            f"{self._name}-{subject}-cert",
            cert_request_pem=request.cert_request_pem,
            ca_private_key_pem=self._ca_key.private_key_pem,
            ca_cert_pem=self._ca.cert_pem,
            validity_period_hours=NODE_VALIDITY_HOURS,
            early_renewal_hours=NODE_EARLY_RENEWAL_HOURS,
            # Both: a node is a server to its peers and a client of them.
            allowed_uses=["digital_signature", "key_encipherment", "server_auth", "client_auth"],
            opts=child,
        )
        return Certificate(
            certificate=certificate.cert_pem, private_key=pulumi.Output.secret(key.private_key_pem)
        )
