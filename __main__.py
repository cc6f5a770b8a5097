"""minio-platform: settings -> platform -> stack outputs."""

import pulumi

from components.platform import Platform, PlatformArgs
from components.settings import load_settings

# Validated first: a bad stack config stops here, before any resource registers.
settings = load_settings()

platform = Platform("minio", PlatformArgs(settings=settings))

pulumi.export("environment", settings.environment.value)
