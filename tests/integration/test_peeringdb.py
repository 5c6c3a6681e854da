"""PeeringDB against the scriptable HTTP server on loopback: cache hits, misses and expiry, token, proxies, errors."""

import os
import time
from pathlib import Path

import pytest

from spicerack import Spicerack
from spicerack.peeringdb import PeeringDB, PeeringDBError
from tests.integration.servers.http import HTTPTestServer

pytestmark = pytest.mark.integration

ASN_PATH = "/api/net?asn=14907&depth=2"
ASN_ANSWER = {"meta": {}, "data": [{"id": 1365, "asn": 14907, "name": "Wikimedia Foundation", "netixlan_set": []}]}


def make_peeringdb(
    server: HTTPTestServer, *, cachedir: Path | None = None, ttl: int = 86400, token: str = ""
) -> PeeringDB:
    return PeeringDB(baseurl=f"{server.url}/api/", cachedir=cachedir, ttl=ttl, token=token)


def cache_files(cachedir: Path) -> list[Path]:
    return sorted(path for path in cachedir.rglob("*") if path.is_file())


def age(path: Path, seconds: float) -> None:
    """Make a cache file look ``seconds`` old."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_fetch_asn_returns_the_data_records(http_server: HTTPTestServer) -> None:
    http_server.script(ASN_PATH, 200, body=ASN_ANSWER)

    assert make_peeringdb(http_server).fetch_asn(14907) == ASN_ANSWER["data"]

    (request,) = http_server.requests_to(ASN_PATH)
    assert request.method == "GET"
    assert "spicerack.peeringdb.PeeringDB" in request.headers["User-Agent"]
    assert "Authorization" not in request.headers


def test_fetch_of_one_object_with_filters(http_server: HTTPTestServer) -> None:
    http_server.script("/api/ix/26?depth=0", 200, body={"data": [{"id": 26}]})

    assert make_peeringdb(http_server).fetch("ix", 26, {"depth": 0}) == [{"id": 26}]


def test_token_goes_in_the_authorization_header(http_server: HTTPTestServer) -> None:
    http_server.script(ASN_PATH, 200, body=ASN_ANSWER)

    make_peeringdb(http_server, token="secret-ro-key").fetch_asn(14907)

    (request,) = http_server.requests_to(ASN_PATH)
    assert request.headers["Authorization"] == "Api-Key secret-ro-key"


def test_without_cache_every_fetch_asks_the_server(http_server: HTTPTestServer) -> None:
    http_server.script(ASN_PATH, 200, body=ASN_ANSWER)
    peeringdb = make_peeringdb(http_server)

    peeringdb.fetch_asn(14907)
    peeringdb.fetch_asn(14907)

    assert len(http_server.requests_to(ASN_PATH)) == 2


def test_cache_miss_then_hit(http_server: HTTPTestServer, tmp_path: Path) -> None:
    http_server.script(ASN_PATH, 200, body=ASN_ANSWER)
    peeringdb = make_peeringdb(http_server, cachedir=tmp_path / "cache", ttl=3600)

    first = peeringdb.fetch_asn(14907)
    second = make_peeringdb(http_server, cachedir=tmp_path / "cache", ttl=3600).fetch_asn(14907)

    assert first == second == ASN_ANSWER["data"]
    assert len(http_server.requests_to(ASN_PATH)) == 1
    (cached,) = cache_files(tmp_path / "cache")
    assert cached.parent.name == "net"


def test_expired_cache_entry_is_fetched_again_and_refreshed(http_server: HTTPTestServer, tmp_path: Path) -> None:
    http_server.script(ASN_PATH, 200, body=ASN_ANSWER)
    peeringdb = make_peeringdb(http_server, cachedir=tmp_path, ttl=3600)
    peeringdb.fetch_asn(14907)
    (cached,) = cache_files(tmp_path)

    age(cached, 3599)
    peeringdb.fetch_asn(14907)
    assert len(http_server.requests_to(ASN_PATH)) == 1

    age(cached, 3601)
    http_server.script(ASN_PATH, 200, body={"data": [{"asn": 14907, "name": "renamed"}]})
    assert peeringdb.fetch_asn(14907) == [{"asn": 14907, "name": "renamed"}]
    assert len(http_server.requests_to(ASN_PATH)) == 2
    assert time.time() - cached.stat().st_mtime < 3600  # rewritten: fresh again
    assert peeringdb.fetch_asn(14907) == [{"asn": 14907, "name": "renamed"}]
    assert len(http_server.requests_to(ASN_PATH)) == 2


def test_zero_ttl_disables_the_cache(http_server: HTTPTestServer, tmp_path: Path) -> None:
    http_server.script(ASN_PATH, 200, body=ASN_ANSWER)
    peeringdb = make_peeringdb(http_server, cachedir=tmp_path, ttl=0)

    peeringdb.fetch_asn(14907)
    peeringdb.fetch_asn(14907)

    assert len(http_server.requests_to(ASN_PATH)) == 2
    assert cache_files(tmp_path) == []


def test_different_filters_are_cached_apart(http_server: HTTPTestServer, tmp_path: Path) -> None:
    http_server.script("/api/net?asn=1", 200, body={"data": [{"asn": 1}]})
    http_server.script("/api/net?asn=2", 200, body={"data": [{"asn": 2}]})
    peeringdb = make_peeringdb(http_server, cachedir=tmp_path)

    assert peeringdb.fetch("net", filters={"asn": 1}) == [{"asn": 1}]
    assert peeringdb.fetch("net", filters={"asn": 2}) == [{"asn": 2}]
    assert peeringdb.fetch("net", filters={"asn": 1}) == [{"asn": 1}]

    assert len(http_server.requests) == 2
    assert len(cache_files(tmp_path)) == 2


def test_error_answers_are_one_line_errors_and_not_cached(http_server: HTTPTestServer, tmp_path: Path) -> None:
    http_server.script("/api/net/999999", 404, body={"meta": {"error": "Not found.\nReally."}})
    peeringdb = make_peeringdb(http_server, cachedir=tmp_path)

    with pytest.raises(PeeringDBError, match=r"^Server response with status 404 \(Not found\. Really\.\)$"):
        peeringdb.fetch("net", 999999)

    assert cache_files(tmp_path) == []


@pytest.mark.parametrize(
    ("body", "message"),
    [(None, "with invalid JSON"), ({"meta": {}}, "has no list of data"), ({"data": {"id": 1}}, "has no list of data")],
)
def test_unusable_answers_are_errors(http_server: HTTPTestServer, body: object, message: str) -> None:
    http_server.script("/api/org", 200, body=body)

    with pytest.raises(PeeringDBError, match=message):
        make_peeringdb(http_server).fetch("org")


def test_requests_go_through_the_proxy(http_server: HTTPTestServer) -> None:
    proxied_path = f"http://peeringdb.test{ASN_PATH}"
    http_server.script(proxied_path, 200, body=ASN_ANSWER)
    peeringdb = PeeringDB(baseurl="http://peeringdb.test/api/", proxies={"http": http_server.url})

    assert peeringdb.fetch_asn(14907) == ASN_ANSWER["data"]
    assert len(http_server.requests_to(proxied_path)) == 1


def test_accessor_uses_the_config_file_and_the_http_proxy(http_server: HTTPTestServer, tmp_path: Path) -> None:
    proxied_path = f"http://peeringdb.test{ASN_PATH}"
    http_server.script(proxied_path, 200, body=ASN_ANSWER)
    (tmp_path / "peeringdb").mkdir()
    (tmp_path / "peeringdb" / "config.yaml").write_text(
        f"api_token_ro: ro-token\ncachedir: {tmp_path / 'cache'}\nbaseurl: http://peeringdb.test/api/\n"
    )
    spicerack = Spicerack(dry_run=True, spicerack_config_dir=str(tmp_path), http_proxy=http_server.url)

    assert spicerack.peeringdb().fetch_asn(14907) == ASN_ANSWER["data"]
    assert spicerack.peeringdb(ttl=60).fetch_asn(14907) == ASN_ANSWER["data"]

    (request,) = http_server.requests_to(proxied_path)
    assert request.headers["Authorization"] == "Api-Key ro-token"
    assert len(cache_files(tmp_path / "cache")) == 1
