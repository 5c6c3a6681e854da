"""Unit tests of spicerack.peeringdb: configuration, input checks and the on-disk cache (no server involved)."""

import json
import logging
import os
import time
from pathlib import Path

import pytest

from spicerack import Spicerack
from spicerack.exceptions import SpicerackError
from spicerack.peeringdb import CacheMiss, PeeringDB, PeeringDBError, _cache_file, peeringdb_from_config

UNREACHABLE_URL = "http://peeringdb.invalid/api/"
ANSWER = {"meta": {}, "data": [{"asn": 14907}]}


def write_config(config_dir: Path, content: str) -> None:
    (config_dir / "peeringdb").mkdir(parents=True, exist_ok=True)
    (config_dir / "peeringdb" / "config.yaml").write_text(content)


def cached_client(cachedir: Path, ttl: int = 3600) -> PeeringDB:
    return PeeringDB(cachedir=cachedir, ttl=ttl, baseurl=UNREACHABLE_URL)


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_defaults() -> None:
    peeringdb = PeeringDB()

    assert peeringdb.baseurl == PeeringDB.baseurl == "https://www.peeringdb.com/api/"
    assert peeringdb.ttl == 86400
    assert peeringdb.cachedir is None
    assert not peeringdb.use_cache
    assert "Authorization" not in peeringdb.session.headers
    assert "spicerack.peeringdb.PeeringDB" in peeringdb.session.headers["User-Agent"]


def test_constructor_options(tmp_path: Path) -> None:
    peeringdb = PeeringDB(
        ttl=60,
        cachedir=tmp_path / "a" / "cache",
        proxies={"https": "http://proxy.example.org:8080"},
        token="ro-key",
        baseurl="http://mirror.example.org/api",
    )

    assert peeringdb.baseurl == "http://mirror.example.org/api/"
    assert PeeringDB.baseurl == "https://www.peeringdb.com/api/"
    assert peeringdb.use_cache
    assert (tmp_path / "a" / "cache").is_dir()
    assert peeringdb.session.headers["Authorization"] == "Api-Key ro-key"
    assert peeringdb.session.proxies["https"] == "http://proxy.example.org:8080"


def test_zero_ttl_disables_the_cache(tmp_path: Path) -> None:
    assert not PeeringDB(cachedir=tmp_path, ttl=0).use_cache


def test_cachedir_that_cannot_be_created(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")

    with pytest.raises(PeeringDBError, match=r"^Unable to create the PeeringDB cache directory \S+/file/cache: "):
        PeeringDB(cachedir=tmp_path / "file" / "cache")


@pytest.mark.parametrize("resource", ["", "../etc", "net/1", "net?asn=1", None])
def test_fetch_refuses_invalid_resources(resource: str) -> None:
    with pytest.raises(PeeringDBError, match=r"^Invalid PeeringDB resource "):
        PeeringDB(baseurl=UNREACHABLE_URL).fetch(resource)


@pytest.mark.parametrize("resource_id", [-1, True, "1/2", "..", 1.5])
def test_fetch_refuses_invalid_ids(resource_id: int) -> None:
    with pytest.raises(PeeringDBError, match=r"^Invalid PeeringDB net id "):
        PeeringDB(baseurl=UNREACHABLE_URL).fetch("net", resource_id)


def test_fresh_cache_entries_are_used_without_asking_the_server(tmp_path: Path) -> None:
    peeringdb = cached_client(tmp_path)  # its server is unreachable: only the cache can answer
    for resource_id, filters in ((None, {"asn": 14907, "depth": 2}), (5, None), (None, None)):
        cache_file = _cache_file(tmp_path, "net", resource_id, filters)
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        cache_file.write_text(json.dumps(ANSWER))

        assert peeringdb.fetch("net", resource_id, filters) == ANSWER["data"]
    assert peeringdb.fetch_asn(14907) == ANSWER["data"]


def test_cache_file_names(tmp_path: Path) -> None:
    assert _cache_file(tmp_path, "net", None, None) == tmp_path / "net" / "index.json"
    assert _cache_file(tmp_path, "net", 5, None) == tmp_path / "net" / "5.json"
    assert _cache_file(tmp_path, "net", None, {}) == tmp_path / "net" / "index.json"
    with_filters = _cache_file(tmp_path, "net", None, {"asn": 1, "depth": 2})
    assert with_filters == _cache_file(tmp_path, "net", None, {"depth": 2, "asn": 1})
    assert with_filters != _cache_file(tmp_path, "net", None, {"asn": 2, "depth": 2})
    assert with_filters.parent == tmp_path / "net"
    assert with_filters.name.startswith("index-")
    assert _cache_file(tmp_path, "net", 5, {"depth": 0}).name.startswith("5-")
    assert _cache_file(tmp_path, "net", None, {"name": "../../etc/passwd"}).parent == tmp_path / "net"


def test_cache_read_of_fresh_expired_and_missing_files(tmp_path: Path) -> None:
    peeringdb = cached_client(tmp_path, ttl=3600)
    cache_file = tmp_path / "net" / "index.json"
    peeringdb._cache_write(cache_file, ANSWER)

    assert peeringdb._cache_read(cache_file) == ANSWER
    age(cache_file, 3599)
    assert peeringdb._cache_read(cache_file) == ANSWER
    age(cache_file, 3601)
    for expired_or_missing in (cache_file, tmp_path / "net" / "missing.json", None):
        with pytest.raises(CacheMiss):
            peeringdb._cache_read(expired_or_missing)


@pytest.mark.parametrize("content", ["{not json", "[]", '{"meta": {}}', '{"data": "x"}'])
def test_cache_read_ignores_unusable_files(tmp_path: Path, content: str, caplog: pytest.LogCaptureFixture) -> None:
    cache_file = tmp_path / "net.json"
    cache_file.write_text(content)

    with pytest.raises(CacheMiss):
        cached_client(tmp_path)._cache_read(cache_file)
    assert "Ignoring" in caplog.text


def test_cache_write_is_atomic_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    cache_file = tmp_path / "net" / "index.json"
    peeringdb = cached_client(tmp_path)

    peeringdb._cache_write(cache_file, {"data": [1]})
    peeringdb._cache_write(cache_file, ANSWER)

    assert json.loads(cache_file.read_text()) == ANSWER
    assert [path.name for path in (tmp_path / "net").iterdir()] == ["index.json"]


def test_cache_write_failure_only_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "net").write_text("a file where the resource directory should be")

    with caplog.at_level(logging.WARNING, logger="spicerack.peeringdb"):
        cached_client(tmp_path)._cache_write(tmp_path / "net" / "index.json", ANSWER)

    assert "Unable to write the PeeringDB cache file" in caplog.text


def test_config_missing_means_anonymous_without_cache(tmp_path: Path) -> None:
    peeringdb = peeringdb_from_config(tmp_path)

    assert not peeringdb.use_cache
    assert "Authorization" not in peeringdb.session.headers
    assert peeringdb.baseurl == "https://www.peeringdb.com/api/"


def test_config_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    write_config(
        tmp_path, "api_token_ro: ro-key\ncachedir: ~/peeringdb-cache\nbaseurl: https://mirror.example.org/api\n"
    )

    peeringdb = peeringdb_from_config(tmp_path, ttl=120, proxies={"https": "http://proxy:8080"})

    assert peeringdb.session.headers["Authorization"] == "Api-Key ro-key"
    assert peeringdb.cachedir == tmp_path / "home" / "peeringdb-cache"
    assert peeringdb.cachedir.is_dir()
    assert peeringdb.ttl == 120
    assert peeringdb.baseurl == "https://mirror.example.org/api/"
    assert peeringdb.session.proxies["https"] == "http://proxy:8080"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("api_token_ro: [1, 2]\n", "The api_token_ro of the PeeringDB config file .* must be a string$"),
        ("cachedir: 5\n", "The cachedir of the PeeringDB config file .* must be a string$"),
        ("baseurl: ftp://mirror/\n", "The baseurl of the PeeringDB config file .* must be an http\\(s\\) URL$"),
        ("- a list\n", "must be a YAML mapping, got list$"),
        ("api_token_ro: [unclosed\n", "is not valid YAML at line"),
    ],
)
def test_config_errors(tmp_path: Path, content: str, message: str) -> None:
    write_config(tmp_path, content)

    with pytest.raises(PeeringDBError, match=message):
        peeringdb_from_config(tmp_path)


def test_accessor_passes_ttl_config_and_proxies(tmp_path: Path) -> None:
    write_config(tmp_path, f"cachedir: {tmp_path / 'cache'}\n")
    spicerack = Spicerack(spicerack_config_dir=str(tmp_path), http_proxy="http://proxy.example.org:8080")

    peeringdb = spicerack.peeringdb(ttl=30)

    assert peeringdb.ttl == 30
    assert peeringdb.use_cache
    assert peeringdb.cachedir == tmp_path / "cache"
    assert peeringdb.session.proxies == {
        "http": "http://proxy.example.org:8080",
        "https": "http://proxy.example.org:8080",
    }


def test_cache_miss_is_a_spicerack_error_not_a_peeringdb_error() -> None:
    assert issubclass(CacheMiss, SpicerackError)
    assert not issubclass(CacheMiss, PeeringDBError)
