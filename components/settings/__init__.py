"""Stack settings: the only module that reads ``pulumi.Config``.

The stack's configuration becomes one frozen, validated :class:`PlatformSettings`. Components take
pieces of it as typed arguments and never read config themselves. A bad configuration stops the
program before any resource registers, with one :class:`SettingsError` that lists every problem
as ``<key> = <value>: <what is allowed>``.

Keys are camelCase in the stack files (``minio-platform:cluster`` with ``drivesPerNode``...);
fields are snake_case here. Secrets are separate top-level keys that must be ``secure:`` values;
they are held as :class:`pydantic.SecretStr` so they never print.
"""
# One module per area: base (errors, enums, value types), cluster, network, gateway, identity,
# buckets, observability, resources, secrets; platform (the whole, and the rules between sections); loading.

from components.settings.alerting import AlertingSettings, ReceiverSettings
from components.settings.backup_service import (
    DEFAULT_BACKUP_IMAGE,
    BackupScheduleSettings,
    BackupServiceSettings,
    ConfigExportSettings,
)
from components.settings.base import (
    ADMIN_USER,
    AUDITOR_USER,
    DEFAULT_ALERTMANAGER_IMAGE,
    DEFAULT_ALLOY_IMAGE,
    DEFAULT_GRAFANA_IMAGE,
    DEFAULT_KEYCLOAK_IMAGE,
    DEFAULT_LOG_QUEUE_SIZE,
    DEFAULT_LOKI_IMAGE,
    DEFAULT_METRICS_TOKEN_DAYS,
    DEFAULT_MINIO_IMAGE,
    DEFAULT_NGINX_IMAGE,
    DEFAULT_PROMETHEUS_IMAGE,
    DEFAULT_SIGNIN_IMAGE,
    METRICS_USER,
    PROJECT,
    Environment,
    Invalid,
    Mode,
    ObservabilityMode,
    SettingsError,
    TlsMode,
    image_is_digest_pinned,
)
from components.settings.buckets import (
    AnonymousAccess,
    BucketSettings,
    LifecycleRuleSettings,
    LockMode,
    NotificationSettings,
    ObjectLockSettings,
    ServiceAccountSettings,
)
from components.settings.cluster import ClusterSettings
from components.settings.gateway import GatewaySettings
from components.settings.hosts import HostSettings
from components.settings.iam import CustomPolicySettings, IamGroupSettings, IamSettings, IamUserSettings
from components.settings.identity import BUILTIN_POLICIES, ConsoleSignIn, GroupSettings, IdentitySettings
from components.settings.loading import OBJECT_KEYS, SCALAR_KEYS, load_settings, settings_from_config
from components.settings.network import NetworkSettings
from components.settings.observability import ObservabilitySettings
from components.settings.platform import PlatformSettings
from components.settings.resources import ResourceSettings, ServiceLimits
from components.settings.secrets import SECRET_KEYS, Secrets

__all__ = [
    "ADMIN_USER",
    "AUDITOR_USER",
    "BUILTIN_POLICIES",
    "DEFAULT_ALERTMANAGER_IMAGE",
    "DEFAULT_ALLOY_IMAGE",
    "DEFAULT_BACKUP_IMAGE",
    "DEFAULT_GRAFANA_IMAGE",
    "DEFAULT_KEYCLOAK_IMAGE",
    "DEFAULT_LOG_QUEUE_SIZE",
    "DEFAULT_LOKI_IMAGE",
    "DEFAULT_METRICS_TOKEN_DAYS",
    "DEFAULT_MINIO_IMAGE",
    "DEFAULT_NGINX_IMAGE",
    "DEFAULT_PROMETHEUS_IMAGE",
    "DEFAULT_SIGNIN_IMAGE",
    "METRICS_USER",
    "OBJECT_KEYS",
    "PROJECT",
    "SCALAR_KEYS",
    "SECRET_KEYS",
    "AlertingSettings",
    "AnonymousAccess",
    "BackupScheduleSettings",
    "BackupServiceSettings",
    "BucketSettings",
    "ClusterSettings",
    "ConfigExportSettings",
    "ConsoleSignIn",
    "CustomPolicySettings",
    "Environment",
    "GatewaySettings",
    "GroupSettings",
    "HostSettings",
    "IamGroupSettings",
    "IamSettings",
    "IamUserSettings",
    "IdentitySettings",
    "Invalid",
    "LifecycleRuleSettings",
    "LockMode",
    "Mode",
    "NetworkSettings",
    "NotificationSettings",
    "ObjectLockSettings",
    "ObservabilityMode",
    "ObservabilitySettings",
    "PlatformSettings",
    "ReceiverSettings",
    "ResourceSettings",
    "Secrets",
    "ServiceAccountSettings",
    "ServiceLimits",
    "SettingsError",
    "TlsMode",
    "image_is_digest_pinned",
    "load_settings",
    "settings_from_config",
]
