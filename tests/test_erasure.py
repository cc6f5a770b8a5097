"""The erasure planner against MinIO's own layout rules (cmd/endpoint-ellipses.go, cmd/erasure.go)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.erasure import ErasureLayoutError, default_parity, erasure_set_size, plan_erasure


@pytest.mark.parametrize(
    ("nodes", "drives", "set_size", "sets", "parity", "read_q", "write_q", "lose_read", "lose_write"),
    [
        # The user's 4-node cluster: EC:2, reads survive 2 lost nodes, writes only 1 (quorum 3).
        (4, 1, 4, 1, 2, 2, 3, 2, 1),
        (5, 1, 5, 1, 2, 3, 3, 2, 2),
        (6, 1, 6, 1, 3, 3, 4, 3, 2),
        (8, 2, 16, 1, 4, 12, 12, 2, 2),
        (16, 1, 16, 1, 4, 12, 12, 4, 4),
        (32, 1, 16, 2, 4, 12, 12, 4, 4),
        # 4 x 5 = 20 drives: 10 and 5 do not spread symmetrically over 4 nodes, so sets of 4.
        (4, 5, 4, 5, 2, 2, 3, 2, 1),
    ],
)
def test_layouts_match_minio(nodes, drives, set_size, sets, parity, read_q, write_q, lose_read, lose_write):
    plan = plan_erasure(nodes, drives)
    assert (plan.set_size, plan.set_count, plan.parity) == (set_size, sets, parity)
    assert (plan.read_quorum, plan.write_quorum) == (read_q, write_q)
    assert (plan.node_losses_readable, plan.node_losses_writable) == (lose_read, lose_write)


def test_explicit_parity_changes_quorum():
    plan = plan_erasure(4, 1, parity=1)
    assert (plan.read_quorum, plan.write_quorum, plan.node_losses_writable) == (3, 3, 1)


@pytest.mark.parametrize(("nodes", "drives"), [(17, 1), (19, 1), (1, 1)])
def test_impossible_layouts_are_refused(nodes, drives):
    with pytest.raises(ErasureLayoutError):
        erasure_set_size(nodes, drives)


@pytest.mark.parametrize("parity", [0, 3, 4])
def test_parity_outside_one_to_half_is_refused(parity):
    with pytest.raises(ErasureLayoutError, match="at most half"):
        plan_erasure(4, 1, parity=parity)


def test_default_parity_table():
    assert [default_parity(n) for n in (2, 3, 4, 5, 6, 7, 8, 16)] == [1, 1, 2, 2, 3, 3, 4, 4]


@given(nodes=st.integers(2, 64), drives=st.integers(1, 16))
def test_any_accepted_layout_is_one_minio_could_form(nodes, drives):
    try:
        plan = plan_erasure(nodes, drives)
    except ErasureLayoutError:
        total = nodes * drives
        assert not any(total % s == 0 and (nodes % s == 0 or s % nodes == 0) for s in range(2, 17)), (
            "refused a layout MinIO accepts"
        )
        return
    total = nodes * drives
    assert 2 <= plan.set_size <= 16
    assert total % plan.set_size == 0
    assert nodes % plan.set_size == 0 or plan.set_size % nodes == 0
    assert plan.set_count * plan.set_size == total
    # The split-brain guard: a write needs a strict majority of the set.
    assert plan.write_quorum > plan.set_size / 2
    assert plan.read_quorum + plan.parity == plan.set_size
    assert plan.node_losses_writable <= plan.node_losses_readable
