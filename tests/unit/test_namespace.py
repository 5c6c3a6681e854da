"""Unit tests of the package namespace: the reference's names, resolved on first access."""

import importlib
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest

import spicerack
from spicerack import Spicerack, SpicerackError

# The names `from spicerack import ...` gives in the reference (v13.1), client modules and constants alike.
REFERENCE_NAMES = [
    "APIClient", "AlertingHosts", "Alertmanager", "AlertmanagerHosts", "AptGetHosts", "COOKBOOKS_CUSTOM_PREFIX",
    "Catalog", "Confctl", "ConftoolEntity", "DHCP", "Dbctl", "Debmonitor", "Discovery", "ElasticsearchClusters",
    "EtcdctlController", "Ganeti", "Host", "ICINGA_DOMAIN", "IcingaHosts", "Ipmi", "Kafka", "Kubernetes", "Lock",
    "MANAGEMENT_IFACE_NAME", "MediaWiki", "Mysql", "Netbox", "NetboxServer", "NoLock", "Orchestrator", "PeeringDB",
    "PuppetHosts", "PuppetServer", "Reason", "Redfish", "RedfishDell", "RedfishSupermicro", "RedisCluster", "Remote",
    "RemoteError", "RemoteHosts", "RepoSync", "RunCookbookError", "SPICERACK_PREFIX", "Spicerack", "SpicerackError",
    "SpicerackExtenderBase", "TypeHosts", "create_elasticsearch_clusters", "get_ca_via_srv_record",
    "get_lock_instance", "irc_logger", "sal_logger",
]  # fmt: skip


def _module_exists(name: str) -> bool:
    module_name = spicerack._LAZY_NAMES.get(name, ("spicerack", ""))[0]
    return importlib.util.find_spec(module_name) is not None


@pytest.mark.parametrize("name", REFERENCE_NAMES)
def test_reference_names_are_in_the_namespace(name):
    assert name in spicerack.__all__
    assert name in dir(spicerack)
    if _module_exists(name):
        module_name, attribute = spicerack._LAZY_NAMES.get(name, ("spicerack", name))
        assert getattr(spicerack, name) is getattr(importlib.import_module(module_name), attribute)


def test_from_import_of_the_names_cookbooks_use():
    namespace: dict[str, object] = {}
    exec("from spicerack import Spicerack, RemoteHosts, Reason, ICINGA_DOMAIN, ConftoolEntity", namespace)
    assert namespace["RemoteHosts"].__module__ == "spicerack.remote"
    assert namespace["ICINGA_DOMAIN"] == "icinga.wikimedia.org"
    assert namespace["ConftoolEntity"].__name__ == "ConftoolEntity"


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'NoSuchClient'"):
        spicerack.NoSuchClient  # noqa: B018


def test_name_of_a_missing_module_is_a_clear_import_error(monkeypatch):
    monkeypatch.setitem(spicerack._LAZY_NAMES, "Imaginary", ("spicerack.imaginary", "Imaginary"))
    with pytest.raises(ImportError, match=r"its module spicerack\.imaginary is not part of this version"):
        exec("from spicerack import Imaginary", {})


def test_a_resolved_name_is_kept_in_the_module_globals():
    spicerack.Reason  # noqa: B018
    assert "Reason" in vars(spicerack)


def test_import_spicerack_imports_no_client_module():
    code = (
        "import sys, spicerack\n"
        "heavy = [m for m in sys.modules if m.startswith(('spicerack.', 'cumin', 'wmflib', 'pynetbox', 'kubernetes', "
        "'kafka', 'redis', 'etcd', 'git', 'requests', 'conftool', 'pymysql'))]\n"
        "print(','.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # only the bottom modules without dependencies: exceptions, the logger names and the run's hooks
    assert result.stdout.strip() == "spicerack._hooks,spicerack._names,spicerack.exceptions"


def test_patched_namespace_names_are_used_by_the_accessor():
    with mock.patch("spicerack.gethostname", return_value="patched-host"):
        assert Spicerack().current_hostname == "patched-host"
    with mock.patch("spicerack.get_username", return_value="patched-user"):
        assert Spicerack().username == "patched-user"


def test_config_dir_is_a_path():
    config_dir = Spicerack(spicerack_config_dir="/etc/sr").config_dir
    assert isinstance(config_dir, Path)
    assert config_dir / "netbox" / "config.yaml" == Path("/etc/sr/netbox/config.yaml")


def test_dns_accessor_uses_the_namespace_dns_class(tmp_path):
    with mock.patch("spicerack.Dns") as mocked_dns:
        assert Spicerack(spicerack_config_dir=str(tmp_path)).dns() is mocked_dns.return_value
    mocked_dns.assert_called_once_with()


def test_puppet_server_accessor_uses_the_namespace_srv_lookup(tmp_path):
    spicerack = Spicerack(spicerack_config_dir=str(tmp_path))
    with (
        mock.patch("spicerack.get_ca_via_srv_record", return_value="puppetca1.example.org") as mocked_lookup,
        mock.patch.object(Spicerack, "remote") as mocked_remote,
    ):
        mocked_remote.return_value.query.return_value.__len__.return_value = 1
        spicerack.puppet_server()
    mocked_lookup.assert_called_once_with("eqiad.wmnet")
    mocked_remote.return_value.query.assert_called_once_with("puppetca1.example.org")


def test_reposync_accessor_opens_the_repository_with_the_namespace_repo(tmp_path):
    (tmp_path / "reposync").mkdir()
    (tmp_path / "reposync" / "config.yaml").write_text(
        f"base_dir: {tmp_path}\nrepos: [data]\nremotes: ['host1']\n", encoding="utf-8"
    )
    (tmp_path / "data").mkdir()
    spicerack = Spicerack(spicerack_config_dir=str(tmp_path))
    with mock.patch("spicerack.Repo") as mocked_repo, mock.patch.object(Spicerack, "remote"):
        mocked_repo.return_value.bare = False
        with pytest.raises(SpicerackError, match="is not a bare git repository"):
            spicerack.reposync("data")
    mocked_repo.assert_called_once_with(tmp_path / "data")
