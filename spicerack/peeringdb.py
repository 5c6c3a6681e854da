"""PeeringDB: a read-only client of PeeringDB's API, with an optional cache of its answers on disk."""

import hashlib
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

from requests import Response
from requests.exceptions import RequestException
from wmflib.requests import http_session

from spicerack.config import load_yaml_mapping
from spicerack.exceptions import SpicerackError

logger = logging.getLogger(__name__)

DEFAULT_TTL = 86400
"""Seconds a cached answer is used for before it is fetched again."""

_RESOURCE_PATTERN = re.compile(r"[A-Za-z0-9_]+")
_RESOURCE_ID_PATTERN = re.compile(r"[0-9]+")
_MAX_ERROR_DETAIL = 200


class PeeringDBError(SpicerackError):
    """A PeeringDB request failed, its answer is unusable or the configuration is invalid."""


class CacheMiss(SpicerackError):
    """The cache has no fresh copy of an answer."""


class PeeringDB:
    """Client of PeeringDB's API: one kept-alive session for all requests, answers cached on disk if asked to.

    Only reads: there is nothing to skip in DRY-RUN mode.
    """

    baseurl: str = "https://www.peeringdb.com/api/"
    """The URL of PeeringDB's API, the resource names are appended to it."""

    def __init__(
        self,
        *,
        ttl: int = DEFAULT_TTL,
        cachedir: Path | str | None = None,
        proxies: MutableMapping[str, str] | None = None,
        token: str = "",
        baseurl: str = "",
    ) -> None:
        """Set up the session and the cache directory.

        Arguments:
            ttl: seconds a cached answer is used for; 0 disables the cache.
            cachedir: the directory of the cache, created if missing; :py:data:`None` disables the cache.
            proxies: the proxies to reach the Internet through, as :py:attr:`spicerack.Spicerack.requests_proxies`.
            token: a read-only PeeringDB API key, sent in the ``Authorization`` header; empty for anonymous access.
            baseurl: another API URL than :py:attr:`baseurl` (a mirror, or a local server for tests).

        Raises:
            spicerack.peeringdb.PeeringDBError: if the cache directory cannot be created.

        """
        if baseurl:
            self.baseurl = baseurl if baseurl.endswith("/") else f"{baseurl}/"
        self.session = http_session(f"{self.__module__}.{self.__class__.__name__}")
        if token:
            self.session.headers.update({"Authorization": f"Api-Key {token}"})
        if proxies:
            self.session.proxies.update(proxies)

        self.ttl = ttl
        self.cachedir = Path(cachedir) if cachedir is not None else None
        self.use_cache = self.cachedir is not None and ttl > 0
        if self.cachedir is not None:
            try:
                self.cachedir.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise PeeringDBError(
                    f"Unable to create the PeeringDB cache directory {cachedir}: {e.strerror or type(e).__name__}"
                ) from None

    def fetch_asn(self, asn: int) -> list[dict[str, Any]]:
        """Return the network records of an Autonomous System, with their related objects expanded.

        Arguments:
            asn: the Autonomous System Number.

        Raises:
            spicerack.peeringdb.PeeringDBError: as :py:meth:`fetch`.

        """
        return self.fetch("net", filters={"asn": asn, "depth": 2})

    def fetch(
        self, resource: str, resource_id: int | None = None, filters: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Return the ``data`` records of a PeeringDB resource, from the cache when it holds a fresh copy.

        Arguments:
            resource: the resource type (``net``, ``ix``, ``fac``, ``netixlan``...).
            resource_id: the id of one object of the resource, :py:data:`None` to list them.
            filters: the query parameters (``{"asn": 14907}``, ``{"name__contains": "x"}``, ``{"depth": 2}``...).

        Raises:
            spicerack.peeringdb.PeeringDBError: if the resource or id is invalid, the request fails, PeeringDB answers
                with an error or its answer has no ``data`` list.

        """
        _check_resource(resource, resource_id)
        cache_file = None
        if self.use_cache and self.cachedir is not None:
            cache_file = _cache_file(self.cachedir, resource, resource_id, filters)
        try:
            content = self._cache_read(cache_file)
        except CacheMiss:
            content = self._download(resource, resource_id, filters)
            if cache_file is not None:
                self._cache_write(cache_file, content)
        data: list[dict[str, Any]] = content["data"]
        return data

    def _download(self, resource: str, resource_id: int | None, filters: dict[str, Any] | None) -> dict[str, Any]:
        """Fetch a resource from PeeringDB and return its decoded answer."""
        url = f"{self.baseurl}{resource}" if resource_id is None else f"{self.baseurl}{resource}/{resource_id}"
        logger.debug("Fetching %s from PeeringDB (params: %s)", url, filters)
        try:
            response = self.session.get(url, params=filters)
        except RequestException as e:
            raise PeeringDBError(f"Unable to fetch {url} from PeeringDB: {_one_line(str(e))}") from e

        if not response.ok:
            raise PeeringDBError(f"Server response with status {response.status_code} ({_error_detail(response)})")
        try:
            content = response.json()
        except ValueError:
            raise PeeringDBError(f"PeeringDB answered {url} with invalid JSON") from None
        if not _is_answer(content):
            raise PeeringDBError(f"PeeringDB's answer to {url} has no list of data")
        return dict(content)

    def _cache_read(self, cache_file: Path | None) -> dict[str, Any]:
        """Return the cached answer if it is there, readable and younger than the TTL.

        Raises:
            spicerack.peeringdb.CacheMiss: otherwise, or without a cache.

        """
        if cache_file is None:
            raise CacheMiss
        try:
            if time.time() - cache_file.stat().st_mtime > self.ttl:
                logger.debug("PeeringDB cache file %s has expired", cache_file)
                raise CacheMiss
            content = json.loads(cache_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CacheMiss from None
        except (OSError, ValueError) as e:
            logger.warning("Ignoring the unreadable PeeringDB cache file %s: %s", cache_file, _one_line(str(e)))
            raise CacheMiss from e
        if not _is_answer(content):
            logger.warning("Ignoring the PeeringDB cache file %s: it holds no list of data", cache_file)
            raise CacheMiss
        logger.debug("Using the PeeringDB cache file %s", cache_file)
        return dict(content)

    def _cache_write(self, cache_file: Path, content: dict[str, Any]) -> None:
        """Store an answer in the cache atomically; a failure to write only logs a warning."""
        temporary = ""
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(
                "w", encoding="utf-8", dir=cache_file.parent, prefix=".", suffix=".tmp", delete=False
            ) as stream:
                temporary = stream.name
                json.dump(content, stream, indent=2)
            os.replace(temporary, cache_file)
        except OSError as e:
            logger.warning("Unable to write the PeeringDB cache file %s: %s", cache_file, _one_line(str(e)))
            if temporary:
                Path(temporary).unlink(missing_ok=True)


def peeringdb_from_config(
    config_dir: str | Path,
    *,
    ttl: int = DEFAULT_TTL,
    proxies: MutableMapping[str, str] | None = None,
) -> PeeringDB:
    """Return a PeeringDB client set up from ``peeringdb/config.yaml`` in Spicerack's configuration directory.

    The file is optional; its keys are optional too: ``api_token_ro`` (a read-only API key), ``cachedir`` (the cache
    directory, ``~`` expanded; no cache without it) and ``baseurl`` (another API URL than PeeringDB's).

    Arguments:
        config_dir: Spicerack's configuration directory.
        ttl: seconds a cached answer is used for; 0 disables the cache.
        proxies: the proxies to reach the Internet through.

    Raises:
        spicerack.peeringdb.PeeringDBError: if the file is invalid or the cache directory cannot be created.

    """
    config_file = Path(config_dir) / "peeringdb" / "config.yaml"
    config: dict[str, Any] = {}
    if config_file.exists():
        config = load_yaml_mapping(config_file, description="PeeringDB config file", error=PeeringDBError)
    else:
        logger.debug("No PeeringDB config file %s: anonymous access, no cache", config_file)

    token = _optional_string(config, "api_token_ro", config_file)
    cachedir = _optional_string(config, "cachedir", config_file)
    baseurl = _optional_string(config, "baseurl", config_file)
    if baseurl and not baseurl.startswith(("http://", "https://")):
        raise PeeringDBError(f"The baseurl of the PeeringDB config file {config_file} must be an http(s) URL")

    return PeeringDB(
        ttl=ttl,
        cachedir=Path(cachedir).expanduser() if cachedir else None,
        proxies=proxies,
        token=token,
        baseurl=baseurl,
    )


def _optional_string(config: Mapping[str, Any], key: str, config_file: Path) -> str:
    """Return a string option of the configuration, empty if it is not set."""
    value = config.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise PeeringDBError(f"The {key} of the PeeringDB config file {config_file} must be a string")
    return value


def _check_resource(resource: str, resource_id: int | None) -> None:
    """Refuse resource names and ids that are not single URL path segments."""
    if not isinstance(resource, str) or not _RESOURCE_PATTERN.fullmatch(resource):
        raise PeeringDBError(f"Invalid PeeringDB resource {resource!r}")
    if resource_id is not None and (
        isinstance(resource_id, bool) or not _RESOURCE_ID_PATTERN.fullmatch(str(resource_id))
    ):
        raise PeeringDBError(f"Invalid PeeringDB {resource} id {resource_id!r}")


def _cache_file(cachedir: Path, resource: str, resource_id: int | None, filters: Mapping[str, Any] | None) -> Path:
    """Return the cache file of a request: one directory per resource, one file per id and filters."""
    name = "index" if resource_id is None else str(resource_id)
    if filters:
        canonical = json.dumps(sorted((str(key), str(value)) for key, value in filters.items()))
        name = f"{name}-{hashlib.sha256(canonical.encode()).hexdigest()[:32]}"
    return cachedir / resource / f"{name}.json"


def _is_answer(content: Any) -> bool:
    """Tell whether decoded JSON has the shape of a PeeringDB answer: an object with a ``data`` list."""
    return isinstance(content, dict) and isinstance(content.get("data"), list)


def _error_detail(response: Response) -> str:
    """Return PeeringDB's explanation of an error answer, on one line and shortened."""
    try:
        detail = response.json()["meta"]["error"]
    except (ValueError, KeyError, TypeError):
        detail = response.text
    detail = _one_line(str(detail))
    if len(detail) > _MAX_ERROR_DETAIL:
        detail = f"{detail[:_MAX_ERROR_DETAIL]}..."
    return detail


def _one_line(text: str) -> str:
    """Return a text with its whitespace runs, newlines included, turned into single spaces."""
    return " ".join(text.split())
