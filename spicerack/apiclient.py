"""A generic client for HTTP APIs, aware of the DRY-RUN mode: the base of API-specific clients."""

import logging
from typing import Any

from requests import Response, Session
from requests.exceptions import RequestException

from spicerack.exceptions import SpicerackError

logger = logging.getLogger(__name__)

READ_ONLY_METHODS: tuple[str, ...] = ("get", "head", "options")
"""The HTTP methods (lowercase) that change nothing and so are performed in DRY-RUN mode too."""


class APIClientError(SpicerackError):
    """An API request could not be performed."""


class APIClientResponseError(APIClientError):
    """The API answered with an error status (4xx or 5xx); the response is in the ``response`` attribute."""

    def __init__(self, response: Response, message: str = "") -> None:
        """Build the message from the request's method and URL and the response's status code.

        Arguments:
            response: the failed response.
            message: optional details, appended to the generated message.

        """
        method = str(response.request.method).upper()
        super().__init__(f"{method} {response.request.url} returned HTTP {response.status_code} {message}".strip())
        self.response = response


class APIClient:
    """Call an HTTP API below a base URL; in DRY-RUN mode only read-only requests are sent."""

    def __init__(self, base_url: str, http_session: Session, *, dry_run: bool = True) -> None:
        """Keep the base URL and the session to send requests with.

        Arguments:
            base_url: the URL every request path is appended to: scheme, host and any API path prefix
                (e.g. ``https://api.example.org/v1``).
            http_session: the session to send requests with (timeouts, retries, headers already set).
            dry_run: whether this is a DRY-RUN.

        """
        self._base_url = base_url
        self._http_session = http_session
        self._dry_run = dry_run

    @property
    def http_session(self) -> Session:
        """The session requests are sent with, to adjust its settings if needed."""
        return self._http_session

    def request(self, method: str, uri: str, **kwargs: Any) -> Response:
        """Send a request to ``<base_url><uri>`` and return the response, raising on error statuses.

        In DRY-RUN mode a request with a method other than GET, HEAD and OPTIONS is not sent: it is logged and a blank
        HTTP 200 response is returned; a read-only request that cannot be sent is logged and answered the same way.

        Arguments:
            method: the HTTP method, in any case (e.g. ``get``, ``POST``).
            uri: the path below the base URL, starting with ``/``.
            **kwargs: passed as they are to :py:meth:`requests.Session.request` (``json``, ``params``, ``timeout``...).

        Raises:
            spicerack.apiclient.APIClientError: if the uri does not start with ``/`` or the request fails.
            spicerack.apiclient.APIClientResponseError: if the response has a 4xx or 5xx status code.

        """
        if not uri.startswith("/"):
            raise APIClientError(f"Invalid uri '{uri}', it must start with a /")

        url = f"{self._base_url}{uri}"
        if self._dry_run and method.lower() not in READ_ONLY_METHODS:
            logger.info("Would have called %s on %s", method, url)
            return self._get_dummy_response()

        try:
            response = self._http_session.request(method, url, **kwargs)
        except RequestException as e:
            message = f"Failed to perform {method.upper()} request to {url}"
            if self._dry_run:
                logger.error("%s: %s", message, e)
                return self._get_dummy_response()
            raise APIClientError(f"{message}: {_one_line(e)}") from e

        if not response.ok:
            raise APIClientResponseError(response)

        return response

    @staticmethod
    def _get_dummy_response() -> Response:
        """Return an empty HTTP 200 response, standing in for a request not sent in DRY-RUN mode."""
        response = Response()
        response.status_code = 200
        return response


def _one_line(error: Exception) -> str:
    """Return the message of an exception on one line."""
    return " ".join(str(error).split())
