"""Fixed storage-network addresses: inside the static half, away from Docker's dynamic range."""

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.addressing import AddressPlanError, plan_storage_addresses


def test_default_plan():
    plan = plan_storage_addresses(ipaddress.IPv4Network("172.40.0.0/24"), 4)
    assert str(plan.gateway) == "172.40.0.2"
    assert [str(a) for a in plan.nodes] == ["172.40.0.11", "172.40.0.12", "172.40.0.13", "172.40.0.14"]
    assert str(plan.dynamic_range) == "172.40.0.128/25"


def test_too_small_subnet_names_the_size_needed():
    with pytest.raises(AddressPlanError, match=r"use a /27 or larger"):
        plan_storage_addresses(ipaddress.IPv4Network("10.0.0.0/28"), 4)


@given(prefix=st.integers(16, 30), nodes=st.integers(4, 32), third=st.integers(0, 255))
def test_fixed_addresses_never_meet_the_dynamic_range(prefix, nodes, third):
    subnet = ipaddress.IPv4Network((f"10.20.{third}.0", prefix), strict=False)
    try:
        plan = plan_storage_addresses(subnet, nodes)
    except AddressPlanError:
        assert subnet.num_addresses // 2 <= 10 + nodes
        return
    fixed = [plan.gateway, *plan.nodes]
    assert len(set(fixed)) == len(fixed)
    for address in fixed:
        assert address in subnet
        assert address not in plan.dynamic_range
        assert address != subnet.network_address + 1  # the Docker bridge
