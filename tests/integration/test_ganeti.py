"""Integration tests of spicerack.ganeti against the Ganeti stand-in of ``servers/ganeti.py``.

The RAPI is read over HTTPS with basic authentication and the test CA; the cluster and the VM are found in Netbox
records read with the real Netbox client; ``gnt-instance`` runs over SSH on the fleet host that the RAPI names as
master, and its changes are read back through the RAPI.
"""

import time
from ipaddress import IPv4Address, IPv6Address

import pytest

from spicerack import Spicerack, ganeti
from spicerack.ganeti import GanetiError, GanetiRAPI
from spicerack.remote import RemoteExecutionError
from tests.integration.servers import free_port
from tests.integration.servers.ganeti import GANETI_MASTER, INSTANCE, NETBOX_TOKEN, RAPI_USERS

NEW_VM = "vm1002.eqiad.example.org"


@pytest.fixture
def spicerack_for(ganeti_cluster, ssh_fleet, tmp_path, monkeypatch):
    """Build a Spicerack whose ganeti/ and netbox/ config files point at the stand-in cluster."""
    (tmp_path / "ganeti").mkdir()
    (tmp_path / "ganeti" / "config.yaml").write_text("username: rapi-ro\npassword: rapi-secret\ntimeout: 5\n")
    (tmp_path / "netbox").mkdir()
    (tmp_path / "netbox" / "config.yaml").write_text(
        f"api_url: {ganeti_cluster.netbox_url}\napi_token_ro: {NETBOX_TOKEN}\napi_token_rw: unused\n"
    )
    # The RAPI listens on a free port rather than 5080 and its certificate is signed by the test CA.
    monkeypatch.setattr(ganeti, "RAPI_URL_FORMAT", f"https://{{cluster}}:{ganeti_cluster.port}")
    monkeypatch.setattr(ganeti, "WMF_CA_BUNDLE_PATH", str(ganeti_cluster.tls.ca_cert))
    # pynetbox's session must trust the test CA too (it has no CA setting of its own).
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ganeti_cluster.tls.ca_cert))

    def build(dry_run=False):
        return Spicerack(cumin_config=str(ssh_fleet.cumin_config), spicerack_config_dir=str(tmp_path), dry_run=dry_run)

    return build


def rapi(cluster, *, password="rapi-secret", timeout=5, ca=None, url=None):
    return GanetiRAPI(url or cluster.rapi_url, "rapi-ro", password, timeout, str(ca or cluster.tls.ca_cert))


def test_rapi_reads_the_cluster(ganeti_cluster):
    client = rapi(ganeti_cluster)

    assert client.master == GANETI_MASTER
    assert client.info["software_version"] == "3.0.2"
    assert client.groups() == [{"name": "row_A", "uri": "/2/groups/row_A"}, {"name": "row_B", "uri": "/2/groups/row_B"}]
    assert [group["node_cnt"] for group in client.groups(bulk=True)] == [2, 0]
    assert [node["id"] for node in client.nodes()] == [GANETI_MASTER, "test-host11"]
    assert {node["group.uuid"] for node in client.nodes(bulk=True)} == {"group-row_A"}
    assert client.fetch_instance(INSTANCE)["status"] == "running"
    assert client.fetch_instance_mac(INSTANCE) == "aa:00:00:5e:10:01"


def test_rapi_unknown_instance(ganeti_cluster):
    with pytest.raises(GanetiError, match=r"^Non-200 from API: 404: .*Nothing matches the given URI"):
        rapi(ganeti_cluster).fetch_instance("nope.eqiad.example.org")


def test_rapi_wrong_password(ganeti_cluster):
    with pytest.raises(GanetiError, match=r"^Non-200 from API: 401: "):
        rapi(ganeti_cluster, password="wrong").info  # noqa: B018


def test_rapi_untrusted_certificate(ganeti_cluster, tmp_path):
    other_ca = tmp_path / "other-ca.pem"
    other_ca.write_text(ganeti_cluster.tls.server_cert.read_text())  # a certificate that is not the signing CA

    with pytest.raises(GanetiError, match=r"^Error while performing request to RAPI .*CERTIFICATE_VERIFY_FAILED"):
        rapi(ganeti_cluster, ca=other_ca).info  # noqa: B018


def test_rapi_down(ganeti_cluster):
    with pytest.raises(GanetiError, match=r"^Error while performing request to RAPI .*Connection refused"):
        rapi(ganeti_cluster, url=f"https://localhost:{free_port()}").master  # noqa: B018


def test_rapi_answers_500(ganeti_cluster):
    ganeti_cluster.fault.kind = "500"

    with pytest.raises(GanetiError, match=r"^Error while performing request to RAPI .*too many 500 error responses"):
        rapi(ganeti_cluster).info  # noqa: B018


def test_rapi_hangs(ganeti_cluster):
    ganeti_cluster.fault.kind = "hang"
    start = time.monotonic()

    with pytest.raises(GanetiError, match=r"^Error while performing request to RAPI .*Read timed out"):
        rapi(ganeti_cluster, timeout=1).info  # noqa: B018

    assert time.monotonic() - start < 30  # bounded: a few tries of 1 s, not the server's 60 s


def test_rapi_malformed_answer(ganeti_cluster):
    ganeti_cluster.fault.kind = "malformed"

    with pytest.raises(GanetiError, match=r"^Malformed JSON answer from RAPI "):
        rapi(ganeti_cluster).fetch_instance(INSTANCE)


def test_cluster_and_group_from_netbox(spicerack_for, ganeti_cluster):
    client = spicerack_for().ganeti()

    group = client.get_group("row_A", cluster="eqiad")

    assert group.site == "eqiad"
    assert group.cluster.fqdn == "localhost"
    assert group.cluster.routed is False
    assert client.rapi("eqiad").master == GANETI_MASTER


def test_unknown_cluster_and_group(spicerack_for, ganeti_cluster):
    client = spicerack_for().ganeti()

    with pytest.raises(GanetiError, match=r"^Unable to find virtualization cluster group codfw on Netbox"):
        client.rapi("codfw")
    with pytest.raises(GanetiError, match=r"^Unable to find virtualization cluster row_C in cluster group eqiad"):
        client.get_group("row_C", cluster="eqiad")


def test_instance_lifecycle_through_the_master(spicerack_for, ganeti_cluster):
    client = spicerack_for().ganeti()
    instance = client.instance(INSTANCE)  # the cluster comes from the VM's record in Netbox
    cluster_rapi = client.rapi(instance.cluster)

    instance.shutdown(timeout=0)
    assert cluster_rapi.fetch_instance(INSTANCE)["admin_state"] == "down"
    instance.set_boot_media("network")
    assert cluster_rapi.fetch_instance(INSTANCE)["hvparams"]["boot_order"] == "network"
    instance.startup()
    assert cluster_rapi.fetch_instance(INSTANCE)["status"] == "running"
    instance.remove(shutdown_timeout=1)
    with pytest.raises(GanetiError, match=r"^Non-200 from API: 404"):
        cluster_rapi.fetch_instance(INSTANCE)

    assert ganeti_cluster.gnt_calls() == [
        f"shutdown --force --timeout=0 {INSTANCE}",
        f"modify --hypervisor-parameters=boot_order=network {INSTANCE}",
        f"startup --force {INSTANCE}",
        f"remove --shutdown-timeout=1 --force {INSTANCE}",
    ]


def test_add_instance(spicerack_for, ganeti_cluster):
    client = spicerack_for().ganeti()
    instance = client.instance(NEW_VM, cluster="eqiad")  # not in Netbox yet: the cluster is given

    instance.add(
        group="row_B",
        vcpus=2,
        memory=2.5,
        disk=15,
        storage_type="plain",
        net=IPv4Address("192.0.2.10"),
        ip6=IPv6Address("2001:db8::10"),
    )

    created = client.rapi("eqiad").fetch_instance(NEW_VM)
    assert created["beparams"] == {"vcpus": 2, "memory": 2560}
    assert created["disk.sizes"] == [15360]
    assert created["nic.ips"] == ["192.0.2.10"]
    assert created["hvparams"]["raw"].startswith("boot_order=network,kvm_extra=")
    assert "opt/ip6\\,string=2001:db8::10" in created["hvparams"]["raw"]
    assert client.rapi("eqiad").fetch_instance_mac(NEW_VM).startswith("aa:00:00:5e:10:")


def test_failing_gnt_instance_raises(spicerack_for, ganeti_cluster):
    instance = spicerack_for().ganeti().instance("ghost.eqiad.example.org", cluster="eqiad")

    with pytest.raises(RemoteExecutionError):
        instance.startup()

    assert ganeti_cluster.gnt_calls() == ["startup --force ghost.eqiad.example.org"]


def test_dry_run_reads_but_changes_nothing(spicerack_for, ganeti_cluster):
    client = spicerack_for(dry_run=True).ganeti()
    instance = client.instance(INSTANCE)

    instance.shutdown()
    instance.remove()
    instance.add(
        group="row_A", vcpus=1, memory=1, disk=1, storage_type="drbd", net="private", ip6=IPv6Address("2001:db8::1")
    )

    assert client.rapi("eqiad").fetch_instance(INSTANCE)["status"] == "running"
    assert ganeti_cluster.gnt_calls() == []
    assert ganeti_cluster.load()["instances"].keys() == {INSTANCE}


def test_bad_parameters_run_nothing(spicerack_for, ganeti_cluster):
    instance = spicerack_for().ganeti().instance(NEW_VM, cluster="eqiad")

    with pytest.raises(GanetiError, match=r"^Invalid storage type 'ceph'"):
        instance.add(
            group="row_A", vcpus=1, memory=1, disk=1, storage_type="ceph", net="private", ip6=IPv6Address("2001:db8::1")
        )

    assert ganeti_cluster.gnt_calls() == []


def test_config_errors(spicerack_for, ganeti_cluster, tmp_path):
    (tmp_path / "ganeti" / "config.yaml").write_text("username: rapi-ro\n")

    with pytest.raises(GanetiError, match=r"^Missing key\(s\) password, timeout in the Ganeti config file"):
        spicerack_for().ganeti()
    assert RAPI_USERS  # the stand-in's users table is what the config above authenticates against


def test_node_and_group_details_as_cookbooks_read_them(ganeti_cluster):
    client = rapi(ganeti_cluster)

    # As sre.ganeti.drain-node and resource-report read them: instances per node, free resources per group.
    master = next(node for node in client.nodes(bulk=True) if node["name"] == GANETI_MASTER)
    groups = {group["uuid"]: group for group in client.groups(bulk=True)}
    free_memory = sum(node["mfree"] for node in client.nodes(bulk=True) if node["group.uuid"] == "group-row_A")

    assert master["pinst_list"] == [INSTANCE]
    assert master["sinst_list"] == []
    assert groups["group-row_A"]["node_cnt"] == 2
    assert free_memory == 96000
