"""The minio-platform policy pack: `pulumi preview --policy-pack policies/pack`."""

from crossguard import policies
from pulumi_policy import PolicyPack

PolicyPack(name="minio-platform", policies=policies())
