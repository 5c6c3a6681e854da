"""Record and replay seams: each library at its own transport seam, the same seam for both directions.

:py:func:`recording` lets the real calls happen and keeps each exchange in an
:py:class:`~spicerack.testing._exchanges.ExchangeStore`; :py:func:`replaying` answers the same calls from the
store and blocks the network, so that everything above the seam (sessions, retries, redirects, the clients' own
parsing) runs for real in both directions. The seams:

- ``http``: requests' ``HTTPAdapter.send`` (pynetbox and the other requests clients) and urllib3's
  ``HTTPConnectionPool.urlopen`` (kubernetes, python-etcd), recording only the outermost of the two;
- ``dns``: dnspython's ``Resolver.resolve``;
- ``mysql``: PyMySQL's ``Connection.connect`` and ``Connection.query`` (the rows, columns and counts of the result);
- ``redis``: the redis client's ``Connection.send_command`` and ``Connection.read_response``;
- ``cumin``: cumin's ``Query.execute`` (the hosts a query selects).
"""

from __future__ import annotations

import datetime
import io
import ipaddress
import json
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from decimal import Decimal
from typing import Any
from unittest import mock
from urllib.parse import parse_qsl, urlencode

from spicerack.testing._exchanges import (
    SECRET_PLACEHOLDER,
    ExchangeError,
    ExchangeStore,
    decode_bytes,
    encode_bytes,
    is_secret_name,
)

SEAMS = ("http", "dns", "mysql", "redis", "cumin")
"""The seams :py:func:`recording` and :py:func:`replaying` install, by default all of them."""
_DROPPED_HEADERS = {"content-length", "content-encoding", "transfer-encoding", "connection", "keep-alive", "date"}
_REDIS_SECRET_COMMANDS = {"AUTH": 1, "HELLO": 3, "MIGRATE": 6}  # arguments after this position are secrets


class NetworkBlocked(ExchangeError):
    """A replay tried to open a connection outside loopback."""


class _Depth(threading.local):
    """How deep the current thread is inside an HTTP seam: only the outermost call is an exchange."""

    level = 0


_HTTP_DEPTH = _Depth()


@contextmanager
def recording(store: ExchangeStore, seams: tuple[str, ...] = SEAMS) -> Iterator[ExchangeStore]:
    """Let the real calls happen, keeping each exchange of the given seams in the store.

    Arguments:
        store: where the exchanges go.
        seams: which of :py:data:`SEAMS` to observe.

    Yields:
        The store, filling up while the block runs.

    """
    with ExitStack() as stack:
        for seam in seams:
            for patcher in _RECORDERS[seam](store):
                stack.enter_context(patcher)
        yield store


@contextmanager
def replaying(
    store: ExchangeStore, seams: tuple[str, ...] = SEAMS, *, block_network: bool = True
) -> Iterator[ExchangeStore]:
    """Answer the calls of the given seams from the store; with ``block_network`` connect only to loopback.

    Arguments:
        store: the recorded exchanges.
        seams: which of :py:data:`SEAMS` to answer.
        block_network: whether a connection outside loopback raises :py:class:`NetworkBlocked`.

    Yields:
        The store.

    Raises:
        spicerack.testing._exchanges.MissingExchange: (from inside the block) when a call has no recorded answer.

    """
    with ExitStack() as stack:
        if block_network:
            stack.enter_context(_loopback_only())
        for seam in seams:
            for patcher in _REPLAYERS[seam](store):
                stack.enter_context(patcher)
        yield store


@contextmanager
def _loopback_only() -> Iterator[None]:
    real_connect = socket.socket.connect

    def connect(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(str(address[0])):
            raise NetworkBlocked(f"Connection to {address[0]}:{address[1]} blocked while replaying recorded exchanges")
        real_connect(sock, address)

    with mock.patch.object(socket.socket, "connect", connect):
        yield


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


# HTTP: requests


def _http_request(method: str, url: str, body: Any) -> dict[str, Any]:
    request: dict[str, Any] = {"method": method.upper(), "url": url}
    if body:
        request["body"] = _body_value(body)
    return request


def _body_value(body: Any) -> Any:
    data = body if isinstance(body, bytes) else str(body).encode("utf-8")
    try:
        return json.loads(data)
    except ValueError:
        pass
    text = encode_bytes(data)
    if isinstance(text, str) and "=" in text and " " not in text:
        pairs = parse_qsl(text, keep_blank_values=True)
        if pairs and any(is_secret_name(name) for name, _ in pairs):
            return urlencode(
                [(name, SECRET_PLACEHOLDER if is_secret_name(name) else value) for name, value in pairs], safe="<>"
            )
    return text


def _http_response(status: int, reason: str | None, headers: Mapping[str, str], content: bytes) -> dict[str, Any]:
    kept = {name: value for name, value in headers.items() if name.lower() not in _DROPPED_HEADERS}
    response: dict[str, Any] = {"status": status}
    if reason:
        response["reason"] = reason
    if kept:
        response["headers"] = {name: SECRET_PLACEHOLDER if _secret_header(name) else v for name, v in kept.items()}
    if content:
        if "json" in kept.get("Content-Type", kept.get("content-type", "")):
            try:
                response["json"] = json.loads(content)
                return response
            except ValueError:
                pass
        response["body"] = encode_bytes(content)
    return response


def _secret_header(name: str) -> bool:
    return name.lower() in ("set-cookie", "www-authenticate") or is_secret_name(name)


def _response_content(recorded: Mapping[str, Any]) -> bytes:
    if "json" in recorded:
        return json.dumps(recorded["json"]).encode("utf-8")
    return decode_bytes(recorded.get("body"))


def _requests_recorder(store: ExchangeStore) -> list[Any]:
    from requests.adapters import HTTPAdapter  # noqa: PLC0415 - only when recording HTTP

    real_send = HTTPAdapter.send

    def send(adapter: HTTPAdapter, request: Any, *args: Any, **kwargs: Any) -> Any:
        key = _http_request(str(request.method), str(request.url), request.body)
        _HTTP_DEPTH.level += 1
        try:
            response = real_send(adapter, request, *args, **kwargs)
        except Exception as e:
            store.record("http", key, error=e)
            raise
        finally:
            _HTTP_DEPTH.level -= 1
        store.record(
            "http", key, _http_response(response.status_code, response.reason, response.headers, response.content)
        )
        return response

    return [mock.patch.object(HTTPAdapter, "send", send)]


def _requests_replayer(store: ExchangeStore) -> list[Any]:
    import requests  # noqa: PLC0415 - only when replaying HTTP
    from requests.adapters import HTTPAdapter  # noqa: PLC0415 - only when replaying HTTP
    from requests.structures import CaseInsensitiveDict  # noqa: PLC0415 - only when replaying HTTP
    from requests.utils import get_encoding_from_headers  # noqa: PLC0415 - only when replaying HTTP

    def send(adapter: HTTPAdapter, request: Any, *args: Any, **kwargs: Any) -> requests.Response:
        recorded = store.answer("http", _http_request(str(request.method), str(request.url), request.body))
        response = requests.Response()
        response.status_code = int(recorded["status"])
        response.reason = str(recorded.get("reason", ""))
        response.headers = CaseInsensitiveDict(recorded.get("headers") or {})
        response._content = _response_content(recorded)
        response.encoding = get_encoding_from_headers(response.headers)
        response.url = str(request.url)
        response.request = request
        response.connection = adapter
        response.elapsed = datetime.timedelta(0)
        return response

    return [mock.patch.object(HTTPAdapter, "send", send)]


# HTTP: urllib3


def _pool_url(pool: Any, url: str) -> str:
    if url.startswith(("http://", "https://")):
        return url
    default_port = {"http": 80, "https": 443}.get(pool.scheme)
    port = "" if pool.port in (None, default_port) else f":{pool.port}"
    return f"{pool.scheme}://{pool.host}{port}{url}"


def _replayed_urllib3_response(
    recorded: Mapping[str, Any], method: str, url: str, preload_content: bool, content: bytes | None = None
) -> Any:
    from urllib3.response import HTTPResponse  # noqa: PLC0415 - only when urllib3 is in use

    return HTTPResponse(
        body=io.BytesIO(_response_content(recorded) if content is None else content),
        headers=dict(recorded.get("headers") or {}),
        status=int(recorded["status"]),
        reason=recorded.get("reason"),
        preload_content=preload_content,
        decode_content=False,
        request_method=method,
        request_url=url,
    )


def _urllib3_recorder(store: ExchangeStore) -> list[Any]:
    from urllib3.connectionpool import HTTPConnectionPool  # noqa: PLC0415 - only when recording HTTP

    real_urlopen = HTTPConnectionPool.urlopen

    def urlopen(pool: HTTPConnectionPool, method: str, url: str, body: Any = None, *args: Any, **kwargs: Any) -> Any:
        if _HTTP_DEPTH.level:
            return real_urlopen(pool, method, url, body, *args, **kwargs)
        full_url = _pool_url(pool, url)
        key = _http_request(method, full_url, body)
        preload = bool(kwargs.get("preload_content", True))
        _HTTP_DEPTH.level += 1
        try:
            response = real_urlopen(pool, method, url, body, *args, **kwargs)
            content = response.data if preload else response.read(decode_content=True)
        except Exception as e:
            store.record("http", key, error=e)
            raise
        finally:
            _HTTP_DEPTH.level -= 1
        recorded = _http_response(response.status, response.reason, dict(response.headers), content)
        store.record("http", key, recorded)
        return _replayed_urllib3_response(recorded, method, full_url, preload, content)

    return [mock.patch.object(HTTPConnectionPool, "urlopen", urlopen)]


def _urllib3_replayer(store: ExchangeStore) -> list[Any]:
    from urllib3.connectionpool import HTTPConnectionPool  # noqa: PLC0415 - only when replaying HTTP

    def urlopen(pool: HTTPConnectionPool, method: str, url: str, body: Any = None, *args: Any, **kwargs: Any) -> Any:
        full_url = _pool_url(pool, url)
        recorded = store.answer("http", _http_request(method, full_url, body))
        preload = bool(kwargs.get("preload_content", True))
        return _replayed_urllib3_response(recorded, method, full_url, preload)

    return [mock.patch.object(HTTPConnectionPool, "urlopen", urlopen)]


def _http_recorders(store: ExchangeStore) -> list[Any]:
    return _requests_recorder(store) + _urllib3_recorder(store)


def _http_replayers(store: ExchangeStore) -> list[Any]:
    return _requests_replayer(store) + _urllib3_replayer(store)


# DNS: dnspython


def _dns_request(qname: Any, rdtype: Any) -> dict[str, str]:
    import dns.rdatatype  # noqa: PLC0415 - only when dnspython is in use

    type_text = rdtype if isinstance(rdtype, str) else dns.rdatatype.to_text(rdtype)
    return {"name": str(qname), "type": type_text.upper()}


def _dns_recorder(store: ExchangeStore) -> list[Any]:
    import dns.resolver  # noqa: PLC0415 - only when recording DNS

    real_resolve = dns.resolver.Resolver.resolve

    def resolve(resolver: Any, qname: Any, rdtype: Any = "A", *args: Any, **kwargs: Any) -> Any:
        key = _dns_request(qname, rdtype)
        try:
            answer = real_resolve(resolver, qname, rdtype, *args, **kwargs)
        except Exception as e:
            store.record("dns", key, error=e)
            raise
        response: dict[str, Any] = {"answers": [rdata.to_text() for rdata in answer]}
        if answer.canonical_name != answer.qname:
            response["canonical_name"] = answer.canonical_name.to_text()
        response["ttl"] = answer.rrset.ttl if answer.rrset is not None else 0
        store.record("dns", key, response)
        return answer

    return [mock.patch.object(dns.resolver.Resolver, "resolve", resolve)]


def _dns_replayer(store: ExchangeStore) -> list[Any]:
    import dns.message  # noqa: PLC0415 - only when replaying DNS
    import dns.name  # noqa: PLC0415 - only when replaying DNS
    import dns.rdata  # noqa: PLC0415 - only when replaying DNS
    import dns.rdataclass  # noqa: PLC0415 - only when replaying DNS
    import dns.rdatatype  # noqa: PLC0415 - only when replaying DNS
    import dns.resolver  # noqa: PLC0415 - only when replaying DNS

    def resolve(resolver: Any, qname: Any, rdtype: Any = "A", *args: Any, **kwargs: Any) -> Any:
        key = _dns_request(qname, rdtype)
        recorded = store.answer("dns", key)
        name = dns.name.from_text(key["name"])
        record_type = dns.rdatatype.from_text(key["type"])
        response = dns.message.make_response(dns.message.make_query(name, record_type))

        def add_records(owner: Any, rdtype: Any, values: list[str]) -> None:
            # find_rrset indexes the section: the Answer's CNAME chaining only sees rrsets added this way
            rrset = response.find_rrset(response.answer, owner, dns.rdataclass.IN, rdtype, create=True)
            for value in values:
                rrset.add(dns.rdata.from_text(dns.rdataclass.IN, rdtype, value), ttl)

        ttl = int(recorded.get("ttl", 0))
        owner = name
        if "canonical_name" in recorded:
            owner = dns.name.from_text(recorded["canonical_name"])
            add_records(name, dns.rdatatype.CNAME, [owner.to_text()])
        add_records(owner, record_type, recorded["answers"])
        return dns.resolver.Answer(name, record_type, dns.rdataclass.IN, response)  # type: ignore[arg-type]

    return [mock.patch.object(dns.resolver.Resolver, "resolve", resolve)]


# MySQL: PyMySQL


def _encode_value(value: Any) -> Any:
    """A column value as YAML-safe data, tagged when its Python type is not a plain scalar."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes):
        return {"bytes": encode_bytes(value)}
    if isinstance(value, Decimal):
        return {"decimal": str(value)}
    if isinstance(value, datetime.datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, datetime.date):
        return {"date": value.isoformat()}
    if isinstance(value, datetime.timedelta):
        return {"timedelta": value.total_seconds()}
    if isinstance(value, list | tuple):
        return [_encode_value(item) for item in value]
    return str(value)


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "bytes": decode_bytes,
    "decimal": Decimal,
    "datetime": datetime.datetime.fromisoformat,
    "date": datetime.date.fromisoformat,
    "timedelta": lambda seconds: datetime.timedelta(seconds=seconds),
}


def _decode_value(value: Any) -> Any:
    if isinstance(value, Mapping) and len(value) == 1 and next(iter(value)) in _DECODERS:
        tag, item = next(iter(value.items()))
        return _DECODERS[tag](item)
    if isinstance(value, list):
        return [_decode_value(item) for item in value]
    return value


class _Field:
    """The name of a result column, as PyMySQL's dictionary cursors read it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.table_name = ""


class _ReplayedResult:
    """What PyMySQL's cursors read of a query result, rebuilt from a recorded exchange."""

    def __init__(self, recorded: Mapping[str, Any]) -> None:
        self.affected_rows = int(recorded.get("affected_rows", 0))
        self.insert_id = int(recorded.get("insert_id", 0))
        self.warning_count = int(recorded.get("warning_count", 0))
        self.message = None
        self.has_next = None
        columns = recorded.get("columns")
        self.description = tuple(tuple(column) for column in columns) if columns is not None else None
        rows = recorded.get("rows")
        self.rows = tuple(tuple(_decode_value(cell) for cell in row) for row in rows) if rows is not None else None
        self.field_count = len(self.description or ())
        self.fields = [_Field(str(column[0])) for column in self.description or ()]


def _mysql_connect_request(connection: Any) -> dict[str, Any]:
    return {"connect": f"{connection.host}:{connection.port}", "user": _text(connection.user)}


def _mysql_query_request(connection: Any, sql: Any) -> dict[str, Any]:
    request: dict[str, Any] = {"query": _text(sql)}
    if connection.db:
        request["database"] = _text(connection.db)
    return request


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value or "")


def _mysql_recorder(store: ExchangeStore) -> list[Any]:
    from pymysql.connections import Connection  # noqa: PLC0415 - only when recording MySQL

    real_connect, real_query = Connection.connect, Connection.query

    def connect(connection: Any, *args: Any, **kwargs: Any) -> None:
        store.add_secret(_text(connection.password))
        key = _mysql_connect_request(connection)
        try:
            real_connect(connection, *args, **kwargs)
        except Exception as e:
            store.record("mysql", key, error=e)
            raise
        store.record("mysql", key, {"connected": True})

    def query(connection: Any, sql: Any, unbuffered: bool = False) -> int:
        key = _mysql_query_request(connection, sql)
        try:
            affected: int = real_query(connection, sql, unbuffered)
        except Exception as e:
            store.record("mysql", key, error=e)
            raise
        store.record("mysql", key, _mysql_result(connection._result))
        return affected

    return [mock.patch.object(Connection, "connect", connect), mock.patch.object(Connection, "query", query)]


def _mysql_result(result: Any) -> dict[str, Any]:
    recorded: dict[str, Any] = {"affected_rows": int(result.affected_rows or 0)}
    if result.insert_id:
        recorded["insert_id"] = int(result.insert_id)
    if result.warning_count:
        recorded["warning_count"] = int(result.warning_count)
    if result.description is not None:
        recorded["columns"] = [list(column) for column in result.description]
        recorded["rows"] = [[_encode_value(cell) for cell in row] for row in result.rows or ()]
    return recorded


def _mysql_replayer(store: ExchangeStore) -> list[Any]:
    from pymysql.connections import Connection  # noqa: PLC0415 - only when replaying MySQL
    from pymysql.constants import SERVER_STATUS  # noqa: PLC0415 - only when replaying MySQL

    def connect(connection: Any, *args: Any, **kwargs: Any) -> None:
        store.answer("mysql", _mysql_connect_request(connection))
        autocommit = SERVER_STATUS.SERVER_STATUS_AUTOCOMMIT if connection.autocommit_mode else 0
        connection.server_status = autocommit
        connection.server_version = "replayed"

    def query(connection: Any, sql: Any, unbuffered: bool = False) -> int:
        result = _ReplayedResult(store.answer("mysql", _mysql_query_request(connection, sql)))
        connection._result = result
        connection._affected_rows = result.affected_rows
        return result.affected_rows

    def autocommit(connection: Any, value: bool) -> None:
        connection.autocommit_mode = bool(value)

    idle: Callable[..., None] = lambda *_args, **_kwargs: None  # noqa: E731
    return [
        mock.patch.object(Connection, "connect", connect),
        mock.patch.object(Connection, "query", query),
        mock.patch.object(Connection, "autocommit", autocommit),
        mock.patch.object(Connection, "show_warnings", lambda _connection: ()),
        *[mock.patch.object(Connection, name, idle) for name in ("commit", "rollback", "begin", "select_db", "ping")],
    ]


# Redis


def _redis_request(args: tuple[Any, ...]) -> dict[str, Any]:
    parts = [_text(arg) if isinstance(arg, bytes | str) else str(arg) for arg in args]
    secret_from = _REDIS_SECRET_COMMANDS.get(parts[0].upper() if parts else "")
    if secret_from is not None:
        parts = parts[:secret_from] + [SECRET_PLACEHOLDER for _ in parts[secret_from:]]
    return {"command": parts}


def _redis_recorder(store: ExchangeStore) -> list[Any]:
    from redis.connection import Connection  # noqa: PLC0415 - only when recording Redis

    real_send, real_read, real_connect = Connection.send_command, Connection.read_response, Connection.connect
    pending: dict[int, list[dict[str, Any]]] = {}

    def connect(connection: Connection) -> None:
        store.add_secret(connection.password)
        key = {"connect": f"{connection.host}:{connection.port}"}
        try:
            real_connect(connection)
        except Exception as e:
            store.record("redis", key, error=e)
            raise
        store.record("redis", key, {"connected": True})

    def send_command(connection: Connection, *args: Any, **kwargs: Any) -> None:
        pending.setdefault(id(connection), []).append(_redis_request(args))
        real_send(connection, *args, **kwargs)

    def read_response(connection: Connection, *args: Any, **kwargs: Any) -> Any:
        queue = pending.get(id(connection)) or [{"command": ["<unsent>"]}]
        key = queue.pop(0)
        try:
            value = real_read(connection, *args, **kwargs)
        except Exception as e:
            store.record("redis", key, error=e)
            raise
        store.record("redis", key, {"value": _encode_value(value)})
        return value

    return [
        mock.patch.object(Connection, "connect", connect),
        mock.patch.object(Connection, "send_command", send_command),
        mock.patch.object(Connection, "read_response", read_response),
    ]


def _redis_replayer(store: ExchangeStore) -> list[Any]:
    from redis.connection import Connection  # noqa: PLC0415 - only when replaying Redis

    pending: dict[int, list[dict[str, Any]]] = {}

    def connect(connection: Connection) -> None:
        store.answer("redis", {"connect": f"{connection.host}:{connection.port}"})

    def send_command(connection: Connection, *args: Any, **_kwargs: Any) -> None:
        pending.setdefault(id(connection), []).append(_redis_request(args))

    def read_response(connection: Connection, *_args: Any, **_kwargs: Any) -> Any:
        queue = pending.get(id(connection))
        if not queue:
            raise ExchangeError("A replayed Redis connection read a response to no command")
        return _decode_value(store.answer("redis", queue.pop(0))["value"])

    return [
        mock.patch.object(Connection, "connect", connect),
        mock.patch.object(Connection, "send_command", send_command),
        mock.patch.object(Connection, "read_response", read_response),
        mock.patch.object(Connection, "can_read", lambda *_args, **_kwargs: False),
    ]


# Cumin queries


def _cumin_recorder(store: ExchangeStore) -> list[Any]:
    from cumin.query import Query  # noqa: PLC0415 - only when recording cumin

    real_execute = Query.execute

    def execute(query: Query, query_string: str) -> Any:
        key = {"query": query_string}
        try:
            hosts = real_execute(query, query_string)
        except Exception as e:
            store.record("cumin", key, error=e)
            raise
        store.record("cumin", key, {"hosts": str(hosts)})
        return hosts

    return [mock.patch.object(Query, "execute", execute)]


def _cumin_replayer(store: ExchangeStore) -> list[Any]:
    from cumin import NodeSet  # noqa: PLC0415 - only when replaying cumin
    from cumin.query import Query  # noqa: PLC0415 - only when replaying cumin

    def execute(_query: Query, query_string: str) -> Any:
        return NodeSet(store.answer("cumin", {"query": query_string})["hosts"] or "")

    return [mock.patch.object(Query, "execute", execute)]


_RECORDERS: dict[str, Callable[[ExchangeStore], list[Any]]] = {
    "http": _http_recorders,
    "dns": _dns_recorder,
    "mysql": _mysql_recorder,
    "redis": _redis_recorder,
    "cumin": _cumin_recorder,
}
_REPLAYERS: dict[str, Callable[[ExchangeStore], list[Any]]] = {
    "http": _http_replayers,
    "dns": _dns_replayer,
    "mysql": _mysql_replayer,
    "redis": _redis_replayer,
    "cumin": _cumin_replayer,
}
