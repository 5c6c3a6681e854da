"""The exchange store: what a run observed of each library, one entry per distinct exchange, as reviewable YAML.

An exchange is a request of one library (``http``, ``dns``, ``mysql``, ``etcd``, ``conftool``, ``redis``, ``kafka``,
``cumin``, ``remote``, ``prompt``, ``clock``) and either the response it got or the error it raised. The store is
the ``exchanges:`` section of a fleet description::

    exchanges:
      http:
        - request: {method: GET, url: "https://netbox.example.org/api/dcim/devices/?name=x"}
          response: {status: 200, headers: {Content-Type: application/json}, body: {"results": []}}
        - request: {method: GET, url: "https://down.example.org/"}
          error: {type: requests.exceptions.ConnectionError, message: "Connection refused"}
      dns:
        - request: {name: host1.example.org., type: A}
          response: {answers: [10.0.0.1]}

Entries with the same request answer in their order, the last one repeating. Secrets never reach the store: header
values, query parameters and body fields named like secrets, and the values given as ``secrets``, are replaced by
:py:data:`SECRET_PLACEHOLDER` before anything is kept or looked up.
"""

from __future__ import annotations

import base64
import builtins
import importlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from spicerack.exceptions import SpicerackError

SECRET_PLACEHOLDER = "<redacted>"  # noqa: S105 - the placeholder, not a secret
"""What a recorded file holds instead of a secret."""
KINDS = ("http", "dns", "mysql", "etcd", "conftool", "redis", "kafka", "cumin", "remote", "prompt", "clock")
"""The libraries (and operator interactions) an exchange can belong to, in the order they are written."""

_SECRET_NAME = re.compile(r"passw|secret|token|auth|cookie|credential|api[-_]?key|session|signature|x-auth-", re.I)
_SQL_SECRETS = (
    re.compile(r"(IDENTIFIED\s+(?:BY|WITH\s+\S+\s+(?:BY|AS))\s+)('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")", re.I),
    re.compile(r"(PASSWORD\s*\(\s*)('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")", re.I),
    re.compile(r"(MASTER_PASSWORD\s*=\s*)('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")", re.I),
)
# Modules whose exception classes a recorded error may name, so that a file cannot make a replay import anything.
_ERROR_MODULES = (
    "builtins",
    "socket",
    "requests",
    "urllib3",
    "dns",
    "pymysql",
    "redis",
    "kafka",
    "etcd",
    "conftool",
    "cumin",
    "wmflib",
    "spicerack",
)


class ExchangeError(SpicerackError):
    """An exchange store or one of its entries is invalid."""


class MissingExchange(ExchangeError):
    """A replayed request has no recorded answer; the message names the entry to add."""

    def __init__(self, kind: str, request: Mapping[str, Any]) -> None:
        """Name the missing entry of the given kind."""
        self.kind = kind
        self.request = dict(request)
        super().__init__(f"no recorded answer for {describe(kind, request)}: add an `{kind}` exchange")


@dataclass
class Exchange:
    """One recorded request and its outcome: a ``response`` mapping, or the ``error`` it raised.

    ``error`` has the dotted ``type`` of the exception, its ``message`` and optionally its ``args``.
    """

    kind: str
    request: dict[str, Any]
    response: Any = None
    error: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The YAML form of the entry (without its kind, which is its section)."""
        entry: dict[str, Any] = {"request": self.request}
        if self.error is not None:
            entry["error"] = self.error
        else:
            entry["response"] = self.response
        return entry

    def raise_error(self) -> None:
        """Raise the recorded error as itself, if the exchange is one."""
        if self.error is not None:
            raise rebuild_error(self.error)


@dataclass
class ExchangeStore:
    """The recorded exchanges of a run, per kind, and the lookups a replay makes in them.

    Arguments:
        secrets: values never to be written (passwords of the run's configuration), replaced wherever they appear.

    """

    secrets: set[str] = field(default_factory=set)
    entries: dict[str, list[Exchange]] = field(default_factory=dict)
    _served: dict[tuple[str, str], int] = field(default_factory=dict, repr=False)

    def add_secret(self, *values: str | None) -> None:
        """Never write these values (empty ones are ignored)."""
        self.secrets.update(value for value in values if value)

    def record(
        self, kind: str, request: Mapping[str, Any], response: Any = None, *, error: BaseException | None = None
    ) -> Exchange:
        """Keep an observed exchange, unless the same one is already the last answer to the request.

        Arguments:
            kind: one of :py:data:`KINDS`.
            request: what selects the answer (JSON-like values).
            response: what came back (JSON-like values), when there was no error.
            error: the exception raised instead of a response.

        """
        _check_kind(kind)
        clean_request = self.redact(request)
        if error is not None:
            exchange = Exchange(kind, clean_request, error=self.redact(describe_error(error)))
        else:
            exchange = Exchange(kind, clean_request, response=self.redact(response))
        same = [entry for entry in self.entries.get(kind, []) if entry.request == clean_request]
        if same and same[-1] == exchange:
            return same[-1]
        self.entries.setdefault(kind, []).append(exchange)
        return exchange

    def lookup(self, kind: str, request: Mapping[str, Any]) -> Exchange:
        """The next recorded answer to the request (the last one repeats).

        Raises:
            spicerack.testing._exchanges.MissingExchange: if nothing answers the request.

        """
        clean_request = self.redact(request)
        matching = [entry for entry in self.entries.get(kind, []) if entry.request == clean_request]
        if not matching:
            raise MissingExchange(kind, clean_request)
        served_key = (kind, json.dumps(clean_request, sort_keys=True, default=str))
        served = self._served.get(served_key, 0)
        self._served[served_key] = served + 1
        return matching[min(served, len(matching) - 1)]

    def answer(self, kind: str, request: Mapping[str, Any]) -> Any:
        """The recorded response to the request, raising the recorded error instead when it is one."""
        exchange = self.lookup(kind, request)
        exchange.raise_error()
        return exchange.response

    def redact(self, value: Any, name: str = "") -> Any:
        """The value with its secrets replaced by :py:data:`SECRET_PLACEHOLDER` (recursively, by field name)."""
        if name and _SECRET_NAME.search(name) and value not in (None, "", [], {}):
            return SECRET_PLACEHOLDER
        if isinstance(value, Mapping):
            return {key: self.redact(item, str(key)) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.redact(item) for item in value]
        if isinstance(value, str):
            return self._redact_text(value)
        return value

    def to_dict(self) -> dict[str, Any]:
        """The ``exchanges:`` section: each kind's entries in recording order."""
        return {kind: [entry.to_dict() for entry in self.entries[kind]] for kind in KINDS if self.entries.get(kind)}

    def to_yaml(self) -> str:
        """The store as a YAML document with an ``exchanges:`` section."""
        import yaml  # noqa: PLC0415 - only when writing a file

        return yaml.safe_dump({"exchanges": self.to_dict()}, sort_keys=False, allow_unicode=True, width=120)

    def write(self, path: Path) -> None:
        """Write :py:meth:`to_yaml` to a file."""
        path.write_text(self.to_yaml(), encoding="utf-8")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> ExchangeStore:
        """Read an ``exchanges:`` section.

        Raises:
            spicerack.testing._exchanges.ExchangeError: if a kind is unknown or an entry malformed.

        """
        store = cls()
        for kind, entries in (data or {}).items():
            _check_kind(str(kind))
            for entry in entries or []:
                store.entries.setdefault(str(kind), []).append(_parse_entry(str(kind), entry))
        return store

    def _redact_text(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, SECRET_PLACEHOLDER)
        for pattern in _SQL_SECRETS:
            text = pattern.sub(lambda match: f"{match.group(1)}'{SECRET_PLACEHOLDER}'", text)
        if text.startswith(("http://", "https://")):
            text = redact_url(text)
        return text


def redact_url(url: str) -> str:
    """The URL with its user information and its query parameters named like secrets replaced."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{SECRET_PLACEHOLDER}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_SECRET_NAME.search(name) for name, _ in pairs):
            query = urlencode(
                [(name, SECRET_PLACEHOLDER if _SECRET_NAME.search(name) else value) for name, value in pairs],
                safe="<>",
            )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def is_secret_name(name: str) -> bool:
    """Whether a header, parameter or field with this name holds a secret."""
    return bool(_SECRET_NAME.search(name))


def encode_bytes(data: bytes) -> str | dict[str, str]:
    """Bytes as text when they are UTF-8, as ``{base64: ...}`` otherwise."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode("ascii")}


def decode_bytes(value: str | Mapping[str, str] | None) -> bytes:
    """The bytes :py:func:`encode_bytes` wrote."""
    if value is None:
        return b""
    if isinstance(value, Mapping):
        return base64.b64decode(value["base64"])
    return value.encode("utf-8")


def describe(kind: str, request: Mapping[str, Any]) -> str:
    """A one-line description of a request, as the plan and the missing-entry errors show it."""
    if kind == "http":
        return f"{request.get('method', '?')} {request.get('url', '?')}"
    if kind == "dns":
        return f"DNS {request.get('type', '?')} {request.get('name', '?')}"
    if kind == "remote":
        return f"{request.get('command', '?')} on {request.get('host', '?')}"
    if kind in ("mysql", "cumin") and "query" in request:
        return f"{kind} query {request['query']!r}"
    if kind == "redis" and "command" in request:
        return f"redis {' '.join(str(part) for part in request['command'])}"
    details = ", ".join(f"{key}={value!r}" for key, value in request.items())
    return f"{kind} {details}".rstrip()


def describe_error(error: BaseException) -> dict[str, Any]:
    """The recorded form of an exception: its dotted type, message and (when plain) arguments."""
    error_type = type(error)
    module = error_type.__module__
    dotted = error_type.__qualname__ if module == "builtins" else f"{module}.{error_type.__qualname__}"
    described: dict[str, Any] = {"type": dotted, "message": str(error)}
    if error.args and all(isinstance(arg, str | int | float | bool) for arg in error.args):
        described["args"] = list(error.args)
    return described


def rebuild_error(described: Mapping[str, Any]) -> BaseException:
    """The exception a recorded error describes, of its own type when it can be rebuilt.

    Raises:
        spicerack.testing._exchanges.ExchangeError: if the type is not an exception of the known libraries.

    """
    error_class = _error_class(str(described.get("type", "")))
    args = described.get("args", [described.get("message", "")])
    try:
        return error_class(*args)
    except Exception:
        error = error_class.__new__(error_class)
        error.args = tuple(args)
        return error


def _error_class(dotted: str) -> type[BaseException]:
    module_name, _, name = dotted.rpartition(".")
    if not module_name:
        found = getattr(builtins, name, None)
    elif module_name.split(".")[0] not in _ERROR_MODULES:
        found = None
    else:
        try:
            found = importlib.import_module(module_name)
        except ImportError:
            found = None
        for part in name.split(".") if found is not None else []:
            found = getattr(found, part, None)
    if not (isinstance(found, type) and issubclass(found, BaseException)):
        raise ExchangeError(f"Unknown error type in a recorded exchange: {dotted!r}")
    return found


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ExchangeError(f"Unknown kind of exchange {kind!r}: one of {', '.join(KINDS)}")


def _parse_entry(kind: str, entry: Any) -> Exchange:
    if not isinstance(entry, Mapping) or "request" not in entry or ("response" in entry) == ("error" in entry):
        raise ExchangeError(f"Invalid {kind} exchange {entry!r}: give request, and one of response or error")
    unknown = set(entry) - {"request", "response", "error"}
    if unknown:
        raise ExchangeError(f"Invalid {kind} exchange: unknown keys {', '.join(sorted(unknown))}")
    error = entry.get("error")
    if error is not None and (not isinstance(error, Mapping) or "type" not in error):
        raise ExchangeError(f"Invalid {kind} exchange error {error!r}: give its type and message")
    return Exchange(kind, dict(entry["request"] or {}), entry.get("response"), dict(error) if error else None)


def exchanges_of(kind: str, store: ExchangeStore) -> Iterable[Exchange]:
    """The entries of one kind, in recording order."""
    return tuple(store.entries.get(kind, ()))
