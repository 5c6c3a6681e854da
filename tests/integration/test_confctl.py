"""Conftool entities against a real etcd (v2 API), loaded with conftool's own syncer: changes land in etcd."""

import logging

import pytest

from spicerack import Spicerack
from spicerack.confctl import Confctl, ConfctlError, ConftoolEntity
from spicerack.dbctl import Dbctl
from tests.integration.servers.etcd_v2 import ConftoolFiles

pytestmark = pytest.mark.integration

MW1001_NGINX = "pools/eqiad/appserver/nginx/mw1001"
S1_SECTION = {
    "master": "db1001",
    "min_replicas": 0,
    "readonly": False,
    "ro_reason": "",
    "flavor": "regular",
    "omit_replicas_in_mwconfig": False,
}


def entity(files: ConftoolFiles, name: str = "node", *, dry_run: bool = False) -> ConftoolEntity:
    return Confctl(config=str(files.config), schema=str(files.schema), dry_run=dry_run).entity(name)


def test_get_returns_the_synced_objects(conftool_files):
    objects = list(entity(conftool_files).get(dc="eqiad", service="nginx"))

    assert sorted(obj.name for obj in objects) == ["mw1001", "mw1002"]
    assert {obj.pooled for obj in objects} == {"inactive"}
    assert objects[0].tags == {"dc": "eqiad", "cluster": "appserver", "service": "nginx"}


def test_tags_are_regular_expressions_matching_whole_values(conftool_files):
    node = entity(conftool_files)

    assert sorted(obj.name for obj in node.get(name="mw100.", service="nginx")) == ["mw1001", "mw1002"]
    assert sorted(obj.tags["dc"] for obj in node.get(service="nginx|apache2", name="mw.*1")) == [
        "codfw",
        "eqiad",
        "eqiad",
    ]
    with pytest.raises(ConfctlError, match="No match found for the conftool tags"):
        list(node.get(name="mw100"))  # a prefix is not a match


def test_set_and_verify_writes_to_etcd(conftool_files):
    entity(conftool_files).set_and_verify("pooled", "yes", name="mw1001", service="nginx")

    assert conftool_files.read(MW1001_NGINX)["pooled"] == "yes"
    assert conftool_files.read("pools/eqiad/appserver/apache2/mw1001")["pooled"] == "inactive"
    assert conftool_files.read("pools/eqiad/appserver/nginx/mw1002")["pooled"] == "inactive"


def test_update_changes_several_fields_of_every_match(conftool_files):
    entity(conftool_files).update({"pooled": "no", "weight": 10}, dc="eqiad", service="apache2")

    for host in ("mw1001", "mw1002"):
        assert conftool_files.read(f"pools/eqiad/appserver/apache2/{host}") == {"pooled": "no", "weight": 10}
    assert conftool_files.read(MW1001_NGINX) == {"pooled": "inactive", "weight": 0}


def test_dry_run_writes_nothing(conftool_files, caplog):
    before = conftool_files.keys()
    node = entity(conftool_files, dry_run=True)
    caplog.set_level(logging.DEBUG, logger="spicerack.confctl")

    node.set_and_verify("pooled", "yes", dc="eqiad")
    node.update({"weight": 5}, service="nginx")
    with node.change_and_revert("pooled", "inactive", "no", service="apache2") as changed:
        assert len(changed) == 2
        assert conftool_files.keys() == before

    assert conftool_files.keys() == before
    assert "Skipping conftool update on dry-run mode" in caplog.text
    assert next(node.get(name="mw1001", service="nginx")).pooled == "inactive"  # reads are real


def test_filter_objects_matches_on_values(conftool_files):
    conftool_files.write(MW1001_NGINX, {"pooled": "yes", "weight": 10})
    node = entity(conftool_files)

    pooled = list(node.filter_objects({"pooled": "yes"}, dc="eqiad"))
    heavy_and_pooled = list(node.filter_objects({"pooled": "yes", "weight": 10}, service="nginx"))

    assert [obj.pprint() for obj in pooled] == ["eqiad/appserver/nginx/mw1001"]
    assert [obj.name for obj in heavy_and_pooled] == ["mw1001"]
    assert list(node.filter_objects({"pooled": "no"}, dc="eqiad")) == []
    with pytest.raises(ConfctlError, match='Could not find property "color"'):
        list(node.filter_objects({"color": "red"}, dc="eqiad"))


def test_update_objects_changes_only_the_given_objects(conftool_files):
    conftool_files.write(MW1001_NGINX, {"pooled": "yes", "weight": 10})
    node = entity(conftool_files)

    node.update_objects({"pooled": "no"}, node.filter_objects({"pooled": "yes"}, dc="eqiad"))

    assert conftool_files.read(MW1001_NGINX) == {"pooled": "no", "weight": 10}
    assert conftool_files.read("pools/eqiad/appserver/nginx/mw1002")["pooled"] == "inactive"


def test_change_and_revert_only_touches_objects_with_the_original_value(conftool_files):
    conftool_files.write(MW1001_NGINX, {"pooled": "yes", "weight": 10})
    node = entity(conftool_files)

    with node.change_and_revert("pooled", "yes", "no", service="nginx", dc="eqiad") as changed:
        assert [obj.name for obj in changed] == ["mw1001"]
        assert conftool_files.read(MW1001_NGINX)["pooled"] == "no"
        assert conftool_files.read("pools/eqiad/appserver/nginx/mw1002")["pooled"] == "inactive"

    assert conftool_files.read(MW1001_NGINX) == {"pooled": "yes", "weight": 10}


def test_change_and_revert_leaves_the_change_when_the_body_raises(conftool_files):
    conftool_files.write(MW1001_NGINX, {"pooled": "yes", "weight": 10})

    with pytest.raises(RuntimeError), entity(conftool_files).change_and_revert("pooled", "yes", "no", name="mw1001"):
        raise RuntimeError("the work failed")

    assert conftool_files.read(MW1001_NGINX)["pooled"] == "no"


def test_invalid_value_changes_nothing(conftool_files):
    before = conftool_files.keys()
    node = entity(conftool_files)

    with pytest.raises(ConfctlError, match=r"Invalid value\(s\).*for conftool object eqiad/appserver/"):
        node.update({"pooled": "maybe"}, dc="eqiad")
    with pytest.raises(ConfctlError, match="Unknown field"):
        node.update({"colour": "red"}, dc="eqiad")
    with pytest.raises(ConfctlError, match="Invalid value"):
        node.set_and_verify("weight", "heavy", name="mw1001")

    assert conftool_files.keys() == before


def test_bad_selections(conftool_files):
    node = entity(conftool_files)

    with pytest.raises(ConfctlError, match="No match found for the conftool tags"):
        list(node.get(dc="ulsfo"))
    with pytest.raises(ValueError, match="non-existent tags: rack"):  # conftool's own, as in the reference
        list(node.get(rack="a1"))
    with pytest.raises(ConfctlError, match="Invalid regular expression"):
        list(node.get(name="mw[1"))
    with pytest.raises(ConfctlError, match="No match found for the conftool tags"):
        node.set_and_verify("pooled", "yes", dc="ulsfo")


def test_other_entities_of_the_schema(conftool_files):
    service = entity(conftool_files, "service")
    discovery = entity(conftool_files, "discovery")

    assert sorted(obj.tags["dc"] for obj in service.get(name="nginx")) == ["codfw", "eqiad"]
    discovery.set_and_verify("pooled", True, dnsdisc="search", name="eqiad")
    assert conftool_files.read("discovery/search/eqiad") == {"pooled": True, "references": [], "ttl": 300}


def test_unknown_entity_and_bad_files(conftool_files, tmp_path):
    with pytest.raises(ConfctlError, match="Unknown conftool entity 'horse', the schema has: dbconfig-instance, "):
        entity(conftool_files, "horse")
    with pytest.raises(ConfctlError, match=r"Conftool configuration file .*missing\.yaml not found"):
        Confctl(config=str(tmp_path / "missing.yaml"), schema=str(conftool_files.schema))
    with pytest.raises(ConfctlError, match=r"Conftool schema file .*missing\.yaml not found"):
        Confctl(config=str(conftool_files.config), schema=str(tmp_path / "missing.yaml"))
    broken = tmp_path / "broken-schema.yaml"
    broken.write_text("horse:\n  path: horses\n", encoding="utf-8")  # no tags nor schema
    loaded = Confctl(config=str(conftool_files.config), schema=str(broken))  # conftool skips (and logs) bad entities
    with pytest.raises(ConfctlError, match=r"Unknown conftool entity 'horse', the schema has: node$"):
        loaded.entity("horse")
    bad_config = tmp_path / "bad-config.yaml"
    bad_config.write_text("no_such_option: 1\n", encoding="utf-8")
    with pytest.raises(ConfctlError, match="Invalid conftool configuration file"):
        Confctl(config=str(bad_config), schema=str(conftool_files.schema))


def test_etcd_down_is_a_confctl_error(conftool_files, tmp_path):
    etcdrc = tmp_path / "etcdrc-down"
    etcdrc.write_text("host: 127.0.0.1\nport: 9\nprotocol: http\n", encoding="utf-8")  # discard port: nothing there
    config = tmp_path / "config-down.yaml"
    config.write_text(
        conftool_files.config.read_text(encoding="utf-8").replace(str(conftool_files.etcdrc), str(etcdrc)),
        encoding="utf-8",
    )
    node = Confctl(config=str(config), schema=str(conftool_files.schema), dry_run=False).entity("node")

    with pytest.raises(ConfctlError, match="Unable to read the conftool objects from etcd"):
        list(node.get(dc="eqiad"))


def test_spicerack_accessor(conftool_files):
    spicerack = Spicerack(
        conftool_config=str(conftool_files.config), conftool_schema=str(conftool_files.schema), dry_run=False
    )

    node = spicerack.confctl("node")
    node.set_and_verify("weight", 7, name="mw2001")

    assert isinstance(node, ConftoolEntity)
    assert conftool_files.read("pools/codfw/appserver/nginx/mw2001")["weight"] == 7
    assert spicerack.confctl("discovery") is not node  # one client per entity call, one conftool setup


def test_lb_remote_cluster_depools_each_group_in_etcd(conftool_files, remote_fleet):
    hosts = [f"test-host0{i}" for i in range(1, 5)]
    for host in hosts:
        conftool_files.write(f"pools/eqiad/fleet/web/{host}", {"pooled": "yes", "weight": 1})
    conftool_files.write("pools/eqiad/fleet/web/test-host05", {"pooled": "no", "weight": 1})
    # Each host reads its own conftool object from etcd while it runs: it must see itself depooled.
    own_key = f"{conftool_files.etcd_url}/v2/keys{conftool_files.namespace}/v1/pools/eqiad/fleet/web/"
    read_own = f"json.loads(json.load(u.urlopen('{own_key}' + os.environ['FLEET_HOST']))['node']['value'])"
    command = f"python3 -c \"import json, os, urllib.request as u; print('pooled:' + {read_own}['pooled'])\""

    cluster = remote_fleet.query_confctl(entity(conftool_files), service="web", name="test-host0[1-4]")
    results = cluster.run(command, svc_to_depool=["web"], batch_size=2)

    assert [(str(nodes), output.message().decode()) for nodes, output in results] == [
        ("test-host[01-02]", "pooled:no"),
        ("test-host[03-04]", "pooled:no"),
    ]
    for host in hosts:
        assert conftool_files.read(f"pools/eqiad/fleet/web/{host}") == {"pooled": "yes", "weight": 1}
    assert conftool_files.read("pools/eqiad/fleet/web/test-host05") == {"pooled": "no", "weight": 1}


def test_dbctl_reads_and_writes_through_conftool(conftool_files):
    conftool_files.write("dbconfig-section/eqiad/s1", S1_SECTION)
    conftool_files.write(
        "dbconfig-instance/eqiad/db1001",
        {
            "host_ip": "10.0.0.1",
            "port": 3306,
            "note": "",
            "sections": {"s1": {"pooled": True, "weight": 100, "percentage": 100}},
        },
    )
    dbctl = Dbctl(config=str(conftool_files.config), schema=str(conftool_files.schema), dry_run=False)

    instance = dbctl.instance.get("db1001", "eqiad")
    result = dbctl.instance.weight("db1001", 50, section="s1")

    assert instance.host_ip == "10.0.0.1"
    assert result.success, result.messages
    assert conftool_files.read("dbconfig-instance/eqiad/db1001")["sections"]["s1"]["weight"] == 50
    assert dbctl.section.get("s1", "eqiad").master == "db1001"

    conftool_files.write("mediawiki-config/eqiad/dbconfig", {"val": {}})  # dbctl commits over a live config only
    commit = dbctl.config.commit(batch=True, comment="integration test")

    assert commit.success, commit.messages
    assert dbctl.config.live_config["eqiad"]["sectionLoads"]["s1"] == [{"db1001": 50}, {}]
    assert conftool_files.read("mediawiki-config/eqiad/dbconfig")["val"]["sectionLoads"]["s1"] == [{"db1001": 50}, {}]


def test_dbctl_dry_run_writes_nothing(conftool_files):
    conftool_files.write("dbconfig-section/eqiad/s1", S1_SECTION)
    conftool_files.write(
        "dbconfig-instance/eqiad/db1001",
        {"host_ip": "10.0.0.1", "port": 3306, "note": "", "sections": {"s1": {"pooled": True, "weight": 100}}},
    )
    before = conftool_files.keys()
    dbctl = Spicerack(
        conftool_config=str(conftool_files.config), conftool_schema=str(conftool_files.schema), dry_run=True
    ).dbctl()

    result = dbctl.instance.depool("db1001", section="s1")

    assert result.success, result.messages
    assert conftool_files.keys() == before
    assert dbctl.instance.get("db1001", "eqiad").sections["s1"]["pooled"] is True


def test_dbctl_needs_its_entities(conftool_files, tmp_path):
    schema = tmp_path / "schema-no-db.yaml"
    schema.write_text(
        "discovery:\n  path: discovery\n  tags: [dnsdisc]\n  schema:\n    pooled: {type: bool, default: false}\n",
        encoding="utf-8",
    )

    with pytest.raises(ConfctlError, match="lacks the entities dbctl needs: dbconfig-instance, dbconfig-section"):
        Dbctl(config=str(conftool_files.config), schema=str(schema))
