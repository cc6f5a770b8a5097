"""Where drives live (#33 item 1): host folders or the local driver's options, one drive per path,
the layout guard refusing a moved drive like a moved node. The real engine: the e2e tier keeps its
drives in host folders it chose and finds the objects there after `destroy` and `up`."""

from __future__ import annotations

import pytest

from components.layout_guard import _LayoutProvider, drive_problems, layout_record
from components.pools import PoolShape, plan_pools
from components.settings import SettingsError, settings_from_config
from tests.graph import VOLUME, plain

HOST = {"hostPath": "/srv/minio/{node}/data{drive}"}


def test_host_folders_are_bind_mounts_of_the_local_driver(synth):
    synthesis = synth("dev", {"cluster": {"drivesPerNode": 2, "drives": HOST}})
    volumes = {v.inputs["name"]: v.inputs for v in synthesis.of_type(VOLUME)}
    assert volumes["minio3-data2"]["driver"] == "local"
    assert volumes["minio3-data2"]["driverOpts"] == {
        "type": "none",
        "o": "bind",
        "device": "/srv/minio/minio3/data2",
    }
    (guard,) = [r for r in synthesis.resources if r.type.endswith("PoolLayout")]
    assert plain(guard.inputs["drives"])["1"] == [
        "bind /srv/minio/minio1/data1",
        "bind /srv/minio/minio1/data2",
    ]
    assert any("smallest drive" in w for w in synthesis.warnings), synthesis.warnings


def test_driver_options_fill_in_node_and_drive_and_plain_volumes_stay_as_they_were(synth):
    device = {"driverOptions": {"type": "xfs", "device": "/dev/disk/by-label/{node}-{drive}"}}
    synthesis = synth("dev", {"cluster": {"drives": device}})
    volumes = {v.inputs["name"]: v.inputs for v in synthesis.of_type(VOLUME)}
    assert volumes["minio2-data"]["driverOpts"] == {"type": "xfs", "device": "/dev/disk/by-label/minio2-1"}
    plain_dev = synth("dev")
    assert all("driverOpts" not in v.inputs for v in plain_dev.of_type(VOLUME))
    (guard,) = [r for r in plain_dev.resources if r.type.endswith("PoolLayout")]
    assert "drives" not in guard.inputs, "a stack without cluster.drives keeps the record it had"


@pytest.mark.parametrize(
    ("cluster", "key", "says"),
    [
        ({"drivesPerNode": 2, "drives": {"hostPath": "/srv/minio/{node}"}}, "cluster.drives.hostPath",
         "one drive per path"),
        ({"drives": {"hostPath": "/srv/minio/data{drive}"}}, "cluster.drives.hostPath", "one drive per path"),
        ({"drives": {"hostPath": "/srv/{node}/{drive}", "driverOptions": {"type": "xfs"}}},
         "cluster.drives.driverOptions", "not both"),
        ({"drives": {"hostPath": "srv/{node}/{drive}"}}, "cluster.drives.hostPath", "absolute"),
        ({"drives": {"hostPath": "/srv/../{node}/{drive}"}}, "cluster.drives.hostPath", "absolute"),
        ({"drives": {"hostPath": "/srv/{host}/{drive}"}}, "cluster.drives.hostPath", "{node} and {drive}"),
        ({"drives": {"driverOptions": {"type": "xfs", "device": "/dev/sdb"}}},
         "cluster.drives.driverOptions.device", "one drive per path"),
        ({"drives": {"driverOptions": {"mountpoint": "/x"}}}, "cluster.drives.driverOptions",
         "type, device, o"),
        # One drive's folder inside another's: the second pool's inside minio1's.
        ({"pools": [{"nodes": 4, "drives": HOST},
                    {"nodes": 4, "drives": {"hostPath": "/srv/minio/minio1/data1/{node}"}}]},
         "cluster.pools[1].drives.hostPath", "one drive per path"),
    ],
)  # fmt: skip
def test_drive_mistakes_are_refused_naming_the_key(cluster, key, says):
    with pytest.raises(SettingsError) as raised:
        settings_from_config({"cluster": cluster})
    assert f"minio-platform:{key} = " in str(raised.value) and says in str(raised.value), raised.value


def sources(kind: str, nodes: range = range(1, 5)) -> dict[int, list[str]]:
    return {n: ["volume" if kind == "volume" else f"bind /srv/minio/minio{n}/data1"] for n in nodes}


def record(drives: dict | None, *shapes: PoolShape) -> dict:
    return layout_record(plan_pools(shapes or (PoolShape(4, 1),), None), True, None, drives)


def test_the_guard_refuses_drives_that_move_under_nodes_holding_data():
    before = record(None)
    assert drive_problems(before, record(None)) == []
    assert drive_problems(before, record(sources("volume"))) == [], "the same volumes, now recorded"
    (moved,) = drive_problems(before, record(sources("bind")))
    assert "minio1 (volume -> bind /srv/minio/minio1/data1)" in moved and "append a pool" in moved
    assert drive_problems(record(sources("bind")), record(sources("bind"))) == []
    # A new pool may have drives of its own: its nodes hold nothing yet.
    grown = record({**sources("volume"), **sources("bind", range(5, 9))}, PoolShape(4, 1), PoolShape(4, 1))
    assert drive_problems(before, grown) == []
    check = _LayoutProvider().check(before, record(sources("bind")))
    assert [f.reason for f in check.failures] == [moved]
