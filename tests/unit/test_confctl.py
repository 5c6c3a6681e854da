"""Unit tests of spicerack.confctl: selection, validation, DRY-RUN and revert logic over an in-memory conftool store.

The entities are real conftool classes generated from a schema; only their storage (``all`` and ``write``) is kept
in a dict here. Reading and writing etcd is covered by tests/integration/test_confctl.py.
"""

import logging
from typing import Any

import pytest
from conftool import loader
from conftool.drivers import BackendError, ObjectWireMetadata, ObjectWireRepresentation

from spicerack.confctl import Confctl, ConfctlError, ConftoolEntity

SCHEMA = {
    "pool": {
        "path": "pools",
        "tags": ["dc", "service"],
        "schema": {
            "pooled": {"type": "enum:yes|no|inactive", "default": "inactive"},
            "weight": {"type": "int", "default": 0},
        },
    }
}


class Store:
    """The objects of the ``pool`` entity, by ``dc/service/name``, and the writes they got."""

    def __init__(self) -> None:
        self.data: dict[str, dict[str, Any]] = {
            "eqiad/web/host1": {"pooled": "yes", "weight": 10},
            "eqiad/web/host2": {"pooled": "no", "weight": 10},
            "eqiad/api/host1": {"pooled": "yes", "weight": 5},
            "codfw/web/host3": {"pooled": "yes", "weight": 10},
        }
        self.writes: list[tuple[str, dict[str, Any]]] = []
        self.write_error: Exception | None = None
        self.ignore_writes = False


@pytest.fixture
def store() -> Store:
    return Store()


def make_entity(store: Store, *, dry_run: bool = False) -> ConftoolEntity:
    base = loader.Schema.from_data(SCHEMA, default_entities=False).entities["pool"]

    class InMemoryPool(base):  # type: ignore[misc,valid-type]
        @classmethod
        def all(cls) -> list[Any]:
            return [
                cls(*path.split("/"), wire=ObjectWireRepresentation(dict(value), ObjectWireMetadata()))
                for path, value in store.data.items()
            ]

        def write(self) -> None:
            if store.write_error is not None:
                raise store.write_error
            path = self.pprint()
            store.writes.append((path, self._to_net()))
            if not store.ignore_writes:
                store.data[path] = self._to_net()

    return ConftoolEntity(InMemoryPool, dry_run=dry_run)


def test_tags_are_anchored_regular_expressions(store):
    pool = make_entity(store)

    assert sorted(obj.pprint() for obj in pool.get(name="host1")) == ["eqiad/api/host1", "eqiad/web/host1"]
    assert [obj.pprint() for obj in pool.get(dc="eqiad", service="web", name="host(2|3)")] == ["eqiad/web/host2"]
    assert len(list(pool.get())) == 4
    with pytest.raises(ConfctlError, match=r"No match found for the conftool tags \{'name': 'host'\}"):
        list(pool.get(name="host"))


def test_bad_selections_are_confctl_errors(store):
    pool = make_entity(store)

    with pytest.raises(ConfctlError, match="Invalid regular expression"):
        list(pool.get(name="host("))
    with pytest.raises(ValueError, match="rack"):  # conftool's own error, raised as it is (as the reference)
        list(pool.get(rack="a1"))


def test_update_writes_every_match(store):
    make_entity(store).update({"weight": 1}, dc="eqiad", service="web")

    assert store.writes == [
        ("eqiad/web/host1", {"pooled": "yes", "weight": 1}),
        ("eqiad/web/host2", {"pooled": "no", "weight": 1}),
    ]


def test_invalid_values_write_nothing(store):
    pool = make_entity(store)

    with pytest.raises(ConfctlError, match=r"Invalid value\(s\) \{'pooled': 'maybe'\} for conftool object eqiad/"):
        pool.update({"pooled": "maybe"}, dc="eqiad")
    with pytest.raises(ConfctlError, match=r"Unknown field.*colour for conftool object"):
        pool.update({"weight": 2, "colour": "red"}, dc="eqiad")
    assert store.writes == []


def test_dry_run_logs_and_writes_nothing(store, caplog):
    pool = make_entity(store, dry_run=True)
    caplog.set_level(logging.DEBUG, logger="spicerack.confctl")

    pool.set_and_verify("pooled", "no", name="host1")
    with pool.change_and_revert("pooled", "yes", "no", dc="eqiad") as changed:
        assert len(changed) == 2

    assert store.writes == []
    assert caplog.text.count("Skipping conftool update on dry-run mode") == 6
    with pytest.raises(ConfctlError, match="Invalid value"):  # validated in DRY-RUN too
        pool.update({"weight": "heavy"}, name="host1")


def test_set_and_verify_checks_the_value_read_back(store):
    store.ignore_writes = True

    with pytest.raises(ConfctlError, match="Conftool key pooled has value 'yes', expecting 'no' for tags: "):
        make_entity(store).set_and_verify("pooled", "no", name="host1", service="web")


def test_write_errors_are_confctl_errors(store):
    store.write_error = BackendError("etcd is down")
    with pytest.raises(ConfctlError, match="Error writing to etcd the conftool object eqiad/web/host1: etcd is down"):
        make_entity(store).update({"weight": 1}, name="host1", service="web")

    store.write_error = RuntimeError("boom")
    with pytest.raises(ConfctlError, match="Generic error in conftool updating eqiad/web/host1: boom"):
        make_entity(store).update({"weight": 1}, name="host1", service="web")


def test_filter_objects(store):
    pool = make_entity(store)

    assert [obj.pprint() for obj in pool.filter_objects({"pooled": "yes", "weight": 10}, dc="eqiad")] == [
        "eqiad/web/host1"
    ]
    assert list(pool.filter_objects({"pooled": "inactive"})) == []
    with pytest.raises(ConfctlError, match='Could not find property "colour" in object eqiad/web/host1'):
        list(pool.filter_objects({"colour": "red"}, dc="eqiad"))


def test_change_and_revert_acts_only_on_objects_with_the_original_value(store):
    pool = make_entity(store)

    with pool.change_and_revert("pooled", "yes", "no", service="web") as changed:
        assert sorted(obj.pprint() for obj in changed) == ["codfw/web/host3", "eqiad/web/host1"]
        assert store.data["eqiad/web/host1"]["pooled"] == "no"
        assert store.data["codfw/web/host3"]["pooled"] == "no"

    assert store.data["eqiad/web/host1"]["pooled"] == "yes"
    assert store.data["codfw/web/host3"]["pooled"] == "yes"
    assert store.data["eqiad/web/host2"]["pooled"] == "no"
    assert len(store.writes) == 4


def test_change_and_revert_keeps_the_change_when_the_body_raises(store):
    with (
        pytest.raises(ValueError, match="failed"),
        make_entity(store).change_and_revert("pooled", "yes", "no", name="host3"),
    ):
        raise ValueError("failed")

    assert store.data["codfw/web/host3"]["pooled"] == "no"


def test_confctl_file_errors(tmp_path):
    schema = tmp_path / "schema.yaml"
    schema.write_text("pool:\n  path: pools\n  tags: [dc]\n  schema: {}\n", encoding="utf-8")
    config = tmp_path / "config.yaml"
    config.write_text("driver: nosuchdriver\n", encoding="utf-8")

    with pytest.raises(ConfctlError, match=r"Conftool configuration file .*nope\.yaml not found"):
        Confctl(config=str(tmp_path / "nope.yaml"), schema=str(schema))
    with pytest.raises(ConfctlError, match=r"Unable to set up conftool.s driver from .*config\.yaml"):
        Confctl(config=str(config), schema=str(schema))


@pytest.mark.parametrize("dry_run", [True, False])
def test_confctl_loads_conftool_through_its_client_read_only_in_dry_run(tmp_path, monkeypatch, dry_run):
    schema = tmp_path / "schema.yaml"
    schema.write_text("pool:\n  path: pools\n  tags: [dc]\n  schema: {}\n", encoding="utf-8")
    config = tmp_path / "config.yaml"
    config.write_text("driver: etcd\n", encoding="utf-8")
    calls = []

    class Client:
        def __init__(self, **kwargs):
            calls.append(kwargs)
            self.schema = loader.Schema.from_file(str(schema))

    monkeypatch.setattr("spicerack.confctl.ConftoolClient", Client)

    entity = Confctl(config=str(config), schema=str(schema), dry_run=dry_run).entity("pool")

    assert calls == [{"configfile": str(config), "schemafile": str(schema), "irc_logging": False, "read_only": dry_run}]
    assert isinstance(entity, ConftoolEntity)
