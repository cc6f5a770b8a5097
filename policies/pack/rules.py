"""minio-platform guardrails: pure checks over resources as the engine describes them.

Each check takes ``(resource_type, props)`` (camelCase engine property names, inputs only) or the
whole stack, and returns violation messages. ``__main__.py`` turns them into a CrossGuard policy
pack for ``pulumi preview --policy-pack``; :func:`check_manifest` runs the same checks over the
offline synth's ``build/<stack>/resources.json`` (``python policies/pack/rules.py <file> <env>``).

Secrecy is judged on the manifest only: CrossGuard's Python SDK hands validators secret values
already unwrapped, so a live policy cannot tell a secret from plain text. The synth records which
inputs are secret (as ``"[secret]"``), and the test command checks every stack's manifest.
"""

from __future__ import annotations

import ipaddress
import json
import re
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import crossplane

CONTAINER = "docker:index/container:Container"
REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
NETWORK = "docker:index/network:Network"
BUCKET = "minio:index/s3Bucket:S3Bucket"
LIFECYCLE = "minio:index/ilmPolicy:IlmPolicy"
ENCRYPTION = "minio:index/s3BucketServerSideEncryption:S3BucketServerSideEncryption"
BUCKET_POLICY = "minio:index/s3BucketPolicy:S3BucketPolicy"
ON_PURPOSE_SID = "PublicOnPurpose"
"""The Sid prefix of a statement the program writes for a bucket marked publicOnPurpose
(components/buckets.py; a test keeps the two equal)."""
IAM_POLICY = "minio:index/iamPolicy:IamPolicy"
SERVICE_ACCOUNT = "minio:index/iamServiceAccount:IamServiceAccount"
IAM_USER = "minio:index/iamUser:IamUser"
KEYCLOAK_CLIENT = "keycloak:openid/client:Client"
MINIO_PROVIDER = "pulumi:providers:minio"
KEYCLOAK_PROVIDER = "pulumi:providers:keycloak"
GRAFANA_PROVIDER = "pulumi:providers:grafana"

SECRET_MARK = "[secret]"  # noqa: S105 (how the synth marks a secret)
ADMIN_TEMPLATE = Path(__file__).resolve().parent.parent / "iam" / "admin.json"
PRIVATE_RANGES = [ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]


class Unknown:
    """A value the engine computes later: during `pulumi preview`, an input made from another
    resource's output (a container's ``image`` is its RemoteImage's id) is not known yet."""

    def __repr__(self) -> str:
        return "<computed>"


UNKNOWN = Unknown()


class Unknowable(Exception):
    """A rule needed a value that is :data:`UNKNOWN` at preview; it judges it at `pulumi up`."""

    def __init__(self, path: str):
        super().__init__(path)
        self.path = path


class Props(dict):
    """Resource properties whose ``get`` raises :class:`Unknowable` on a computed value.

    Nested objects and lists come back wrapped the same way, so a rule reads only what it needs and
    a value it needs that is not known yet is never mistaken for an absent one.
    """

    def __init__(self, values: dict[str, Any], path: str = ""):
        super().__init__(values)
        self._path = path

    def get(self, key: str, default: Any = None) -> Any:
        return _known(super().get(key, default), f"{self._path}.{key}")


class _KnownList(list):
    def __init__(self, values: list[Any], path: str):
        super().__init__(values)
        self._path = path

    def __iter__(self):
        for index, value in enumerate(super().__iter__()):
            yield _known(value, f"{self._path}[{index}]")


def _known(value: Any, path: str) -> Any:
    if value is UNKNOWN:
        raise Unknowable(path.lstrip("."))
    if isinstance(value, dict) and not isinstance(value, Props):
        return Props(value, path)
    if isinstance(value, list) and not isinstance(value, _KnownList):
        return _KnownList(value, path)
    return value


@dataclass(frozen=True)
class Resource:
    type: str
    name: str
    props: dict[str, Any]
    """Read through :class:`Props` (wrapped on construction)."""

    def __post_init__(self) -> None:
        if not isinstance(self.props, Props):
            object.__setattr__(self, "props", Props(self.props))


def _labels(props: dict[str, Any]) -> dict[str, str]:
    return {label.get("label"): label.get("value") for label in props.get("labels") or []}


def _is_minio_node(resource: Resource) -> bool:
    return resource.type == CONTAINER and _labels(resource.props).get("com.minio-platform.role") == "minio"


# --- mandatory ------------------------------------------------------------------------------------


def minio_nodes_publish_no_ports(resource: Resource) -> list[str]:
    if _is_minio_node(resource) and (resource.props.get("ports") or resource.props.get("publishAllPorts")):
        return [f"MinIO node {resource.name} publishes host ports: only the gateway may"]
    return []


_IMAGE_RE = re.compile(r"^[^@\s]+?(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.\-]*))?(?:@sha256:[a-f0-9]{64})?$")


def image_pinned(reference: str) -> bool:
    """A version tag other than ``latest``, or a digest; image IDs (``sha256:...``) are pinned by nature."""
    if reference.startswith("sha256:"):
        return True
    if "@sha256:" in reference:
        return True
    match = _IMAGE_RE.match(reference)
    tag = match.group("tag") if match else None
    return bool(tag) and tag != "latest"


def images_pinned(resource: Resource) -> list[str]:
    field = {"docker:index/remoteImage:RemoteImage": "name", CONTAINER: "image"}.get(resource.type)
    if field is None:
        return []
    reference = resource.props.get(field)
    if isinstance(reference, str) and not image_pinned(reference):
        return [f"{resource.name} uses image {reference!r}: pin a version tag (never latest) or a digest"]
    return []


DOCKER_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock")
LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")


def no_host_access(resource: Resource) -> list[str]:
    """No container is privileged, shares the host's network, or mounts the Docker socket (root on
    the host for whoever controls the container)."""
    if resource.type != CONTAINER:
        return []
    props = resource.props
    found = []
    if props.get("privileged"):
        found.append(f"{resource.name} runs privileged")
    if props.get("networkMode") == "host":
        found.append(f"{resource.name} shares the host's network")
    sources = [v.get("hostPath") for v in props.get("volumes") or []]
    sources += [m.get("source") for m in props.get("mounts") or []]
    for source in sources:
        if isinstance(source, str) and source.rstrip("/") in DOCKER_SOCKETS:
            found.append(f"{resource.name} mounts the Docker socket {source}: that is root on the host")
    return found


SECRET_WORDS = ("PASSWORD", "PASSWD", "SECRET", "TOKEN", "CREDENTIAL", "PRIVATE_KEY", "API_KEY")
"""Parts of an environment variable's name that say its value is a secret (MINIO_ROOT_PASSWORD,
MINIO_KMS_SECRET_KEY, MINIO_IDENTITY_OPENID_CLIENT_SECRET, MINIO_*_WEBHOOK_AUTH_TOKEN_*,
KC_BOOTSTRAP_ADMIN_CLIENT_SECRET, KC_DB_PASSWORD, GF_SECURITY_ADMIN_PASSWORD, LOKI_BEARER_TOKEN...)."""
SECRET_NAMES = ("MINIO_ACCESS_KEY", "MINIO_SECRET_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
"""Secret-holding names the words miss (MinIO's legacy root credentials, S3 clients' own)."""
_URL_WITH_PASSWORD_RE = re.compile(r"[a-z][a-z0-9+.-]*://[^/@\s:]+:[^/@\s]+@", re.IGNORECASE)


def secret_looking(key: str) -> bool:
    """A variable whose name says it holds a secret; a ``*_FILE`` variable holds a path to one."""
    name = key.upper()
    if name.endswith("_FILE"):
        return False
    return name in SECRET_NAMES or any(word in name for word in SECRET_WORDS)


def no_secrets_in_environment(resource: Resource) -> list[str]:
    """No container carries a secret in its environment: ``docker inspect`` and ``/proc/<pid>/environ``
    show it to whoever can read them on the host. Secrets go to files (``*_FILE`` variables,
    MINIO_CONFIG_ENV_FILE, KC_CONFIG_FILE). Judged on names, and on URLs that carry a password."""
    if resource.type != CONTAINER:
        return []
    envs = resource.props.get("envs")
    if envs == SECRET_MARK:
        return [f"{resource.name} has a secret in its environment: put it in a file (see docs/security.md)"]
    found = []
    for entry in envs or []:
        if not isinstance(entry, str):
            continue
        key, _, value = entry.partition("=")
        if secret_looking(key):
            found.append(
                f"{resource.name} sets {key} in its environment: give the service the secret in a file "
                "(a *_FILE variable or its config file, see docs/security.md)"
            )
        elif _URL_WITH_PASSWORD_RE.search(value):
            found.append(
                f"{resource.name} sets {key} to a URL with a password in it: put the credential in a file"
            )
    return found


def no_new_privileges(resource: Resource) -> list[str]:
    """Every container runs with ``no-new-privileges``: nothing in it gains privileges through a
    setuid or file-capability binary."""
    if resource.type != CONTAINER:
        return []
    options = [str(o).replace("=", ":") for o in resource.props.get("securityOpts") or []]
    if "no-new-privileges:true" in options or "no-new-privileges" in options:
        return []
    return [f"{resource.name} lacks the security option no-new-privileges:true"]


def _runs_as_root(user: Any) -> bool:
    """An unset user is the image's, which may be root: every container here names its own."""
    if user is UNKNOWN:
        raise Unknowable("user")
    name = str(user or "").partition(":")[0]
    return name in ("", "0", "root")


def _never_runs(props: dict[str, Any]) -> bool:
    """A container created and never started, without network: a files container, which holds
    what its service is given (the provider cannot upload into a read-only container)."""
    return (
        props.get("start") is False and props.get("mustRun") is False and props.get("networkMode") == "none"
    )


def containers_hardened(resource: Resource) -> list[str]:
    """Every container runs as a non-root user, on a read-only root filesystem, with every
    capability dropped and a memory limit (docs/security.md, "Hardened containers"). A container
    that never runs (:func:`_never_runs`) needs the user and the capabilities alone: whoever starts
    it by hand starts it without privileges."""
    if resource.type != CONTAINER:
        return []
    props, found = resource.props, []
    if _runs_as_root(props.get("user")):
        found.append(f"{resource.name} runs as root: give it a non-root user (uid:gid)")
    capabilities = props.get("capabilities") or {}
    if "ALL" not in [str(c).upper() for c in (capabilities.get("drops") or [])]:
        found.append(f"{resource.name} keeps Docker's default capabilities: drop ALL")
    if _never_runs(props):
        return found
    if props.get("readOnly") is not True:
        found.append(f"{resource.name} has a writable root filesystem: set read_only, with tmpfs or volumes")
    if not props.get("memory"):
        found.append(f"{resource.name} has no memory limit")
    return found


def only_the_gateway_is_public(resource: Resource) -> list[str]:
    """Only the gateway publishes on a non-loopback address; every other published port binds to
    127.0.0.0/8 (an unset address is Docker's 0.0.0.0)."""
    if resource.type != CONTAINER or _labels(resource.props).get("com.minio-platform.role") == "gateway":
        return []
    found = []
    for port in resource.props.get("ports") or []:
        address = port.get("ip") or "0.0.0.0"  # noqa: S104 (Docker's default, what the rule refuses)
        try:
            loopback = ipaddress.IPv4Address(address) in LOOPBACK
        except ValueError:
            loopback = False
        if not loopback:
            found.append(
                f"{resource.name} publishes {port.get('external') or port.get('internal')} on {address}: "
                "only the gateway may publish beyond 127.0.0.1"
            )
    return found


def images_digest_pinned(resource: Resource) -> list[str]:
    """Advisory everywhere (the settings require digests in prod): a tag can be moved to other bytes."""
    if resource.type != REMOTE_IMAGE:
        return []
    reference = resource.props.get("name")
    if isinstance(reference, str) and "@sha256:" not in reference and not reference.startswith("sha256:"):
        return [f"{resource.name} uses {reference!r} without a digest: a tag can be moved to other bytes"]
    return []


def _admin_document() -> dict:
    return json.loads(ADMIN_TEMPLATE.read_text())


def _wildcards(document: dict) -> list[str]:
    statements = document.get("Statement") or []
    return [a for s in statements for a in (s.get("Action") or []) if a in ("s3:*", "admin:*", "*")]


def no_wildcard_grants(resource: Resource) -> list[str]:
    if resource.type not in (IAM_POLICY, SERVICE_ACCOUNT):
        return []
    text = resource.props.get("policy")
    if not isinstance(text, str) or text == SECRET_MARK:
        return []
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        return [f"{resource.name} has a policy that is not JSON"]
    wildcards = _wildcards(document)
    if wildcards and document != _admin_document():
        return [f"{resource.name} grants {wildcards}: only the admin template may"]
    return []


def _plain(value: Any) -> bool:
    return value is not None and value != SECRET_MARK


def credentials_are_secret(resource: Resource) -> list[str]:
    """Judged on the synth manifest, where secret inputs read ``"[secret]"``."""
    props, found = resource.props, []
    fields = {
        MINIO_PROVIDER: ["minioPassword"],
        KEYCLOAK_PROVIDER: ["password"],
        GRAFANA_PROVIDER: ["auth"],
        KEYCLOAK_CLIENT: ["clientSecret"],
        IAM_USER: ["secret"],
    }.get(resource.type, [])
    found += [f"{resource.name}.{f} is in plain text" for f in fields if _plain(props.get(f))]
    if resource.type == CONTAINER:
        envs = props.get("envs")
        if isinstance(envs, list):
            found += [
                f"{resource.name} sets {entry.split('=', 1)[0]} in plain text"
                for entry in envs
                if isinstance(entry, str) and secret_looking(entry.partition("=")[0])
            ]
        uploads = props.get("uploads")
        if isinstance(uploads, list):
            found += [
                f"{resource.name} uploads {u.get('file')} in plain text"
                for u in uploads
                if isinstance(u, dict)
                and str(u.get("file", "")).endswith(".key")
                and _plain(u.get("content"))
            ]
    return found


def _buckets_without(resources: list[Resource], covering_type: str, what: str) -> list[str]:
    """Buckets that no resource of ``covering_type`` names."""
    covered = {r.props.get("bucket") for r in resources if r.type == covering_type}
    return [
        f"bucket {r.props.get('bucket')} {what}"
        for r in resources
        if r.type == BUCKET and r.props.get("bucket") not in covered
    ]


def buckets_have_lifecycle(resources: list[Resource]) -> list[str]:
    return _buckets_without(resources, LIFECYCLE, "has no lifecycle policy")


FILES_OF_LABEL = "com.minio-platform.files-of"
"""On a files container: the name of the service whose files it holds (the provider cannot upload
into a read-only container, components/conventions.py ``hardened_container``)."""


def _uploads(resources: list[Resource], container: Resource) -> Any:
    """What ``container`` is given: its own uploads, or its files container's."""
    own = container.props.get("uploads")
    if own:
        return own
    name = container.props.get("name")
    held = [
        r.props.get("uploads")
        for r in resources
        if r.type == CONTAINER and name is not None and _labels(r.props).get(FILES_OF_LABEL) == name
    ]
    return held[0] if len(held) == 1 else []


def _gateway(resources: list[Resource]) -> Resource | None:
    return next(
        (
            r
            for r in resources
            if r.type == CONTAINER and _labels(r.props).get("com.minio-platform.role") == "gateway"
        ),
        None,
    )


NGINX_CONF = "/etc/nginx/nginx.conf"
SHIELD_VARIABLE = "$s3_forged_upload"
"""The gateway's verdict on a forged unsigned-trailer upload (components/gateway.py, the shield)."""
SHIELD_REFUSES = {"1:0:0", "1:0:1", "1:1:1"}
"""unsigned trailer : Authorization sent : Snowball: the shapes of CVE-2026-41145 and -40344."""


def _parse_nginx(text: str) -> list[dict[str, Any]]:
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as conf:
        conf.write(text)
        conf.flush()
        payload = crossplane.parse(conf.name, single=True, comments=False, check_ctx=False, check_args=False)
    if payload["status"] != "ok":
        raise ValueError(payload["errors"])
    return payload["config"][0]["parsed"]


def _shield_problems(text: str) -> list[str]:
    """What the shield lacks in a gateway's nginx.conf (nothing: it is whole)."""
    try:
        tree = _parse_nginx(text)
    except ValueError as err:
        return [f"its nginx.conf does not parse: {err}"]
    http = next((d["block"] for d in tree if d["directive"] == "http"), [])
    verdicts = [d for d in http if d["directive"] == "map" and d["args"][-1:] == [SHIELD_VARIABLE]]
    refused = {
        entry["directive"] for entry in (verdicts[0]["block"] if verdicts else []) if entry["args"] == ["1"]
    }
    problems = [] if refused >= SHIELD_REFUSES else [f"no map refuses {sorted(SHIELD_REFUSES - refused)}"]
    for server in (d["block"] for d in http if d["directive"] == "server"):
        proxied = [
            location
            for location in server
            if location["directive"] == "location"
            and any(
                d["directive"] == "proxy_pass"
                and ("s3_upstream" in d["args"][0] or "minio_s3" in d["args"][0])
                for d in location.get("block", [])
            )
        ]
        if not proxied:
            continue
        names = " ".join(d["args"][0] for d in server if d["directive"] == "server_name")
        guarded = any(
            d["directive"] == "if" and d["args"] == [SHIELD_VARIABLE]
            and any(r["directive"] == "return" and r["args"][:1] == ["403"] for r in d.get("block", []))
            for d in server
        )  # fmt: skip
        if not guarded:
            problems.append(f"the S3 server {names} does not return 403 on {SHIELD_VARIABLE}")
        for location in proxied:
            judged = {
                d["args"][0].lower(): d["args"][1:]
                for d in location["block"]
                if d["directive"] == "proxy_set_header"
            }
            if judged.get("authorization") != ["$http_authorization"] or judged.get(
                "x-amz-content-sha256"
            ) != ["$http_x_amz_content_sha256"]:
                problems.append(
                    f"location {' '.join(location['args'])} of {names} does not send MinIO the judged headers"
                )
    return problems


def gateway_shields_known_flaws(resources: list[Resource]) -> list[str]:
    """The gateway refuses the forged uploads of CVE-2026-41145 and CVE-2026-40344 (unfixed in
    community MinIO) on every S3 server, and passes MinIO exactly the headers it judged. Judged on
    the nginx.conf the gateway is given (through its files container)."""
    resource = _gateway(resources)
    if resource is None:
        return []
    uploads = _uploads(resources, resource) or []
    if uploads == SECRET_MARK:
        # With a TLS key among them the uploads are one secret value: the synth manifest masks
        # them whole, the live pack (preview, up) reads them.
        raise Unknowable("uploads")
    conf = next((u.get("content") for u in uploads if u.get("file") == NGINX_CONF), None)
    if not isinstance(conf, str):
        return [f"{resource.name} uploads no {NGINX_CONF}: the shield cannot be checked"]
    return [f"{resource.name} lacks the shield: {problem}" for problem in _shield_problems(conf)]


FIXED_MINIO_RELEASE = "2025-10-15T17-29-55Z"
"""The first MinIO release with the fix for CVE-2025-62506 (GHSA-jjjj-jwhf-8rgr, a privilege
escalation of service accounts and STS sessions); community MinIO published no image of it."""
_MINIO_RELEASE = re.compile(r"(?:^|/)minio:RELEASE\.(?P<when>\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z)")


def minio_image_has_the_2025_fix(resource: Resource) -> list[str]:
    """A MinIO server image tagged with a release known to predate CVE-2025-62506's fix."""
    if resource.type != REMOTE_IMAGE:
        return []
    reference = resource.props.get("name")
    match = _MINIO_RELEASE.search(reference) if isinstance(reference, str) else None
    if match and match.group("when") < FIXED_MINIO_RELEASE:
        return [
            f"{resource.name} runs MinIO {reference.split('@')[0]!r}, which predates the fix for "
            f"CVE-2025-62506 (RELEASE.{FIXED_MINIO_RELEASE}, published as source only): build the fixed "
            "image with `make images` and push it to your registry (README, its first screen)"
        ]
    return []


def prod_gateway_terminates_tls(resources: list[Resource]) -> list[str]:
    gateway = _gateway(resources)
    if gateway is None:
        return ["no gateway container found"]
    ports = {p.get("internal") for p in gateway.props.get("ports") or []}
    uploads = _uploads(resources, gateway)
    files = {u.get("file") for u in uploads} if isinstance(uploads, list) else set()
    problems = []
    if 443 not in ports:
        problems.append("the prod gateway does not publish 443")
    if isinstance(uploads, list) and "/etc/nginx/tls/tls.key" not in files:
        problems.append("the prod gateway carries no TLS key")
    return problems


# --- advisory -------------------------------------------------------------------------------------


def private_subnets(resource: Resource) -> list[str]:
    if resource.type != NETWORK:
        return []
    problems = []
    for config in resource.props.get("ipamConfigs") or []:
        subnet = config.get("subnet")
        if subnet and not any(ipaddress.IPv4Network(subnet).subnet_of(p) for p in PRIVATE_RANGES):
            problems.append(f"{resource.name} uses {subnet}, outside RFC 1918 private space")
    return problems


def prod_buckets_encrypted(resources: list[Resource]) -> list[str]:
    return _buckets_without(resources, ENCRYPTION, "is not encrypted")


def prod_keycloak_not_in_dev_mode(resource: Resource) -> list[str]:
    """A container started with Keycloak's ``start-dev``: an H2 database inside the container, no
    production defaults. The program deploys Keycloak that way alone (``identity.mode: deploy``), so
    prod configures an existing Keycloak (``identity.mode: external``)."""
    if resource.type != CONTAINER:
        return []
    command = _known(resource.props.get("command"), "command") or []
    if "start-dev" in list(command):
        return [
            f"{resource.name} runs Keycloak in development mode (start-dev: its realm in an H2 file "
            "inside the container, no production defaults): use identity.mode external in prod"
        ]
    return []


def _grants_anyone(statement: dict) -> bool:
    principal = statement.get("Principal")
    if principal == "*":
        return True
    aws = principal.get("AWS") if isinstance(principal, dict) else None
    return aws == "*" or (isinstance(aws, list) and "*" in aws)


def prod_buckets_not_anonymous(resource: Resource) -> list[str]:
    """A bucket policy or acl that lets anyone in, unless the bucket says it is public on purpose
    (its statements' Sid, written by the program for publicOnPurpose: true)."""
    if resource.type == BUCKET:
        acl = resource.props.get("acl")
        return [f"{resource.name} has acl {acl}: anyone may use it"] if acl not in (None, "private") else []
    if resource.type != BUCKET_POLICY:
        return []
    text = resource.props.get("policy")
    try:
        document = json.loads(text) if isinstance(text, str) else {}
    except json.JSONDecodeError:
        return [f"{resource.name} has a policy that is not JSON"]
    open_to_anyone = [
        s for s in document.get("Statement") or [] if s.get("Effect") == "Allow" and _grants_anyone(s)
    ]
    unmarked = [s for s in open_to_anyone if not str(s.get("Sid", "")).startswith(ON_PURPOSE_SID)]
    if unmarked:
        actions = sorted({a for s in unmarked for a in s.get("Action") or []})
        return [
            f"{resource.name} lets anyone {', '.join(actions)} without being marked public on purpose "
            "(publicOnPurpose: true on the bucket)"
        ]
    return []


def prod_nodes_have_peers(resource: Resource) -> list[str]:
    """A MinIO node whose command names its drives by path alone (``/data{1...4}``, no URL of a
    peer): single-node mode, which stops serving when its one node stops. The settings refuse it in
    prod before anything registers; this holds a graph built another way to the same line."""
    if not _is_minio_node(resource):
        return []
    command = _known(resource.props.get("command"), "command") or []
    drives = [a for a in command if isinstance(a, str) and a.startswith("/data")]
    if drives and not any(isinstance(a, str) and "://" in a for a in command):
        return [
            f"MinIO node {resource.name} serves {drives[0]} alone (single-node mode: no peer, so its "
            "loss stops everything): prod runs 4 or more nodes"
        ]
    return []


def prod_nodes_have_limits(resource: Resource) -> list[str]:
    if _is_minio_node(resource) and not (resource.props.get("cpus") and resource.props.get("memory")):
        return [f"MinIO node {resource.name} has no CPU and memory limits"]
    return []


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    mandatory: bool
    check: Callable[..., list[str]]
    scope: str
    """``resource`` (one resource at a time) or ``stack`` (the whole stack)."""
    prod_only: bool = False
    dev_only: bool = False
    """Applies to every stack but prod (the advisory twin of a prod-only mandatory rule)."""
    manifest_only: bool = False
    """Needs secrecy information only the synth manifest carries."""


RULES = [
    Rule("minio-nodes-publish-no-ports", "MinIO containers publish no host ports", True,
         minio_nodes_publish_no_ports, "resource"),
    Rule("images-pinned", "Every image is pinned by version tag or digest, never latest", True,
         images_pinned, "resource"),
    Rule("buckets-have-lifecycle", "Every bucket has a lifecycle policy", True,
         buckets_have_lifecycle, "stack"),
    Rule("no-wildcard-grants", "No policy grants s3:* or admin:* except the admin template", True,
         no_wildcard_grants, "resource"),
    Rule("credentials-are-secret", "Passwords, client secrets, KMS and TLS keys travel as secrets", True,
         credentials_are_secret, "resource", manifest_only=True),
    Rule("no-secrets-in-environment", "No container is given a secret in its environment (files instead)",
         True, no_secrets_in_environment, "resource"),
    Rule("no-new-privileges", "Every container runs with no-new-privileges", True, no_new_privileges,
         "resource"),
    Rule("containers-hardened",
         "Every container runs as non-root, read-only, with all capabilities dropped and a memory limit",
         True, containers_hardened, "resource"),
    Rule("prod-gateway-terminates-tls", "The prod gateway terminates TLS", True,
         prod_gateway_terminates_tls, "stack", prod_only=True),
    Rule("gateway-shields-known-flaws",
         "The gateway refuses the forged uploads of CVE-2026-41145 and CVE-2026-40344 on every S3 server",
         True, gateway_shields_known_flaws, "stack"),
    Rule("prod-minio-image-has-the-2025-fix", "Prod runs no MinIO release that predates CVE-2025-62506's fix",
         True, minio_image_has_the_2025_fix, "resource", prod_only=True),
    Rule("prod-keycloak-not-in-dev-mode", "Prod runs no Keycloak in development mode (start-dev)", True,
         prod_keycloak_not_in_dev_mode, "resource", prod_only=True),
    Rule("prod-buckets-not-anonymous",
         "No prod bucket lets anyone in unless it is marked public on purpose", True,
         prod_buckets_not_anonymous, "resource", prod_only=True),
    Rule("prod-nodes-have-peers", "Prod MinIO runs as a cluster of nodes, never a single node", True,
         prod_nodes_have_peers, "resource", prod_only=True),
    Rule("no-host-access", "No container is privileged, on the host network or given the Docker socket",
         True, no_host_access, "resource"),
    Rule("only-the-gateway-is-public", "Only the gateway publishes ports beyond loopback", True,
         only_the_gateway_is_public, "resource"),
    Rule("private-subnets", "Network subnets lie in RFC 1918 private space", False,
         private_subnets, "resource"),
    Rule("images-digest-pinned", "Images are pinned by digest (a tag can move)", False,
         images_digest_pinned, "resource"),
    Rule("prod-buckets-encrypted", "Prod buckets are encrypted", False, prod_buckets_encrypted, "stack",
         prod_only=True),
    Rule("prod-nodes-have-limits", "Prod MinIO nodes have CPU and memory limits", False,
         prod_nodes_have_limits, "resource", prod_only=True),
    Rule("minio-image-has-the-2025-fix", "No MinIO release that predates CVE-2025-62506's fix (advisory)",
         False, minio_image_has_the_2025_fix, "resource", dev_only=True),
]  # fmt: skip


@dataclass(frozen=True)
class Finding:
    rule: str
    mandatory: bool
    message: str


UNJUDGED = "judged-at-update"
"""The advisory finding of a rule that needed a value only `pulumi up` knows."""


def unjudged_message(rule: Rule, subject: str, path: str) -> str:
    return (
        f"{rule.name} cannot judge {subject} during preview: {path} is computed by another resource; "
        "the rule judges it again when `pulumi up` creates the resource"
    )


def judge(rule: Rule, subject: Resource | list[Resource]) -> tuple[list[str], str | None]:
    """``(violations, None)``, or ``([], path)`` when the rule needed the computed value at ``path``."""
    try:
        return rule.check(subject), None
    except Unknowable as unknown:
        return [], unknown.path


def check_resources(
    resources: list[Resource], environment: str, rules: Iterable[Rule] = RULES
) -> list[Finding]:
    findings: list[Finding] = []
    for rule in rules:
        if (rule.prod_only and environment != "prod") or (rule.dev_only and environment == "prod"):
            continue
        subjects: list[tuple[str, Any]] = (
            [("the stack", resources)] if rule.scope == "stack" else [(r.name, r) for r in resources]
        )
        for name, subject in subjects:
            messages, unknown = judge(rule, subject)
            findings += [Finding(rule.name, rule.mandatory, m) for m in messages]
            if unknown is not None:
                findings.append(Finding(UNJUDGED, False, unjudged_message(rule, name, unknown)))
    return findings


def check_manifest(path: Path, environment: str) -> list[Finding]:
    """Every rule over a synth manifest (``build/<stack>/resources.json``)."""
    entries = json.loads(path.read_text())
    resources = [Resource(e["type"], e["name"], e["inputs"]) for e in entries]
    return check_resources(resources, environment)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] not in ("dev", "prod"):
        print("usage: python policies/pack/rules.py build/<stack>/resources.json dev|prod", file=sys.stderr)
        return 2
    findings = check_manifest(Path(argv[0]), argv[1])
    for finding in findings:
        level = "mandatory" if finding.mandatory else "advisory"
        print(f"{level}: {finding.rule}: {finding.message}")
    mandatory = sum(f.mandatory for f in findings)
    print(f"{len(findings)} finding(s), {mandatory} mandatory")
    return 1 if mandatory else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
