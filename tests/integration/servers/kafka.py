"""A one-node Kafka broker on loopback over TLS, small and in memory, for the consumer calls ``spicerack.kafka`` makes.

No Kafka broker installs from the package registries here (Debian has none, and PyPI ships none that runs without
downloading a JVM distribution), so this one speaks the Kafka wire protocol of a 0.10.1 broker, framing and encoding
with kafka-python's own protocol definitions: ApiVersions, Metadata, GroupCoordinator, OffsetFetch, OffsetCommit,
ListOffsets (by timestamp) and Fetch. Topics hold messages with timestamps; consumer groups hold committed offsets.
It serves TLS with the server certificate of the session's throwaway CA (``tls_files`` of ``https.py``), so clients
verify it with that CA. ``silent`` makes it accept connections and never answer, for timeout tests.
"""

import socket
import socketserver
import ssl
import threading
from collections.abc import Iterator
from io import BytesIO
from typing import Any

import pytest
from kafka.protocol.admin import ApiVersionRequest, ApiVersionResponse  # type: ignore[import-untyped]
from kafka.protocol.commit import (  # type: ignore[import-untyped]
    GroupCoordinatorRequest,
    GroupCoordinatorResponse,
    OffsetCommitRequest,
    OffsetCommitResponse,
    OffsetFetchRequest,
    OffsetFetchResponse,
)
from kafka.protocol.fetch import FetchRequest, FetchResponse  # type: ignore[import-untyped]
from kafka.protocol.metadata import MetadataRequest, MetadataResponse  # type: ignore[import-untyped]
from kafka.protocol.offset import OffsetRequest, OffsetResponse  # type: ignore[import-untyped]
from kafka.protocol.types import Int16, Int32, String  # type: ignore[import-untyped]
from kafka.record.legacy_records import LegacyRecordBatchBuilder  # type: ignore[import-untyped]

from tests.integration.servers._base import DaemonThreadingTCPServer, ThreadedServer, reset_around, serve
from tests.integration.servers.https import TLSFiles

__all__ = ["FakeKafkaBroker", "kafka_broker", "kafka_broker_session"]

NODE_ID = 0
UNKNOWN_TOPIC_OR_PARTITION = 3
LATEST, EARLIEST = -1, -2

# api key -> (request classes by version, response classes by version, highest version served)
_APIS: dict[int, tuple[Any, Any, int]] = {
    1: (FetchRequest, FetchResponse, 3),
    2: (OffsetRequest, OffsetResponse, 1),
    3: (MetadataRequest, MetadataResponse, 2),
    8: (OffsetCommitRequest, OffsetCommitResponse, 2),
    9: (OffsetFetchRequest, OffsetFetchResponse, 1),
    10: (GroupCoordinatorRequest, GroupCoordinatorResponse, 0),
    18: (ApiVersionRequest, ApiVersionResponse, 0),
}


class FakeKafkaBroker(ThreadedServer[DaemonThreadingTCPServer]):
    """The broker's topics (``topic -> partition -> message timestamps``, offsets from 0), groups and requests."""

    host = "127.0.0.1"

    def __init__(self, context: ssl.SSLContext) -> None:
        """Bind to a free loopback port; :py:meth:`start` serves in a background thread.

        Arguments:
            context: the TLS context of the server side of the connections.

        """
        self.topics: dict[str, dict[int, list[int]]] = {}
        self.committed: dict[str, dict[tuple[str, int], int]] = {}
        self.requests: list[tuple[str, int]] = []
        self.silent = False
        self._lock = threading.Lock()
        super().__init__(_handler_for(self, context), "fake-kafka-broker", DaemonThreadingTCPServer)

    @property
    def bootstrap(self) -> str:
        """The ``host:port`` bootstrap string of the broker."""
        return f"{self.host}:{self.port}"

    def reset(self) -> None:
        """Forget topics, groups and requests; answer again."""
        with self._lock:
            super().reset()
            self.topics.clear()
            self.committed.clear()
            self.requests.clear()
            self.silent = False

    def request_names(self) -> list[str]:
        """Return the names of the request types received, in order."""
        with self._lock:
            return [name for name, _ in self.requests]

    def answer(self, api_key: int, api_version: int, payload: BytesIO) -> Any:
        """Decode a request and return its response struct."""
        requests, responses, _ = _APIS[api_key]
        request = requests[api_version].decode(payload)
        with self._lock:
            self.requests.append((type(request).__name__.rsplit("_", 1)[0], api_version))
            handler = getattr(self, f"_on_{api_key}")
            return responses[api_version](*handler(request, api_version))

    def _on_18(self, _request: Any, _version: int) -> tuple[Any, ...]:  # ApiVersions
        return 0, [(key, 0, highest) for key, (_, _, highest) in sorted(_APIS.items())]

    def _on_3(self, request: Any, version: int) -> tuple[Any, ...]:  # Metadata
        wanted = request.topics or sorted(self.topics)
        topics = []
        for topic in wanted:
            partitions = [(0, p, NODE_ID, [NODE_ID], [NODE_ID]) for p in sorted(self.topics.get(topic, {}))]
            error = 0 if topic in self.topics else UNKNOWN_TOPIC_OR_PARTITION
            topics.append((error, topic, partitions) if version == 0 else (error, topic, False, partitions))
        if version == 0:
            return [(NODE_ID, self.host, self.port)], topics
        brokers = [(NODE_ID, self.host, self.port, None)]
        return (brokers, NODE_ID, topics) if version == 1 else (brokers, "fake-cluster", NODE_ID, topics)

    def _on_10(self, _request: Any, _version: int) -> tuple[Any, ...]:  # GroupCoordinator
        return 0, NODE_ID, self.host, self.port

    def _on_9(self, request: Any, _version: int) -> tuple[Any, ...]:  # OffsetFetch
        group = self.committed.get(request.consumer_group, {})
        return (
            [
                (topic, [(p, group.get((topic, p), -1), "", 0) for p in partitions])
                for topic, partitions in request.topics
            ],
        )

    def _on_8(self, request: Any, _version: int) -> tuple[Any, ...]:  # OffsetCommit
        group = self.committed.setdefault(request.consumer_group, {})
        answer = []
        for topic, partitions in request.topics:
            for partition, offset, _metadata in partitions:
                group[(topic, partition)] = offset
            answer.append((topic, [(partition, 0) for partition, _, _ in partitions]))
        return (answer,)

    def _on_2(self, request: Any, _version: int) -> tuple[Any, ...]:  # ListOffsets v1
        answer = []
        for topic, partitions in request.topics:
            found = []
            for partition, timestamp in partitions:
                messages = self.topics.get(topic, {}).get(partition)
                if messages is None:
                    found.append((partition, UNKNOWN_TOPIC_OR_PARTITION, -1, -1))
                elif timestamp == LATEST:
                    found.append((partition, 0, -1, len(messages)))
                elif timestamp == EARLIEST:
                    found.append((partition, 0, -1, 0))
                else:
                    after = [(ts, offset) for offset, ts in enumerate(messages) if ts >= timestamp]
                    found.append((partition, 0, *min(after)) if after else (partition, 0, -1, -1))
            answer.append((topic, found))
        return (answer,)

    def _on_1(self, request: Any, _version: int) -> tuple[Any, ...]:  # Fetch v3
        answer = []
        for topic, partitions in request.topics:
            data = []
            for partition, offset, _max_bytes in partitions:
                messages = self.topics.get(topic, {}).get(partition)
                if messages is None:
                    data.append((partition, UNKNOWN_TOPIC_OR_PARTITION, -1, b""))
                    continue
                builder = LegacyRecordBatchBuilder(magic=1, compression_type=0, batch_size=1 << 20)
                for position in range(offset, len(messages)):
                    builder.append(position, messages[position], None, f"message {position}".encode())
                data.append((partition, 0, len(messages), bytes(builder.build())))
            answer.append((topic, data))
        return 0, answer


def _read_exactly(conn: socket.socket, size: int) -> bytes | None:
    """Read ``size`` bytes, None if the peer closed the connection first."""
    chunks = b""
    while len(chunks) < size:
        chunk = conn.recv(size - len(chunks))
        if not chunk:
            return None
        chunks += chunk
    return chunks


def _handler_for(broker: FakeKafkaBroker, context: ssl.SSLContext) -> type[socketserver.BaseRequestHandler]:
    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            try:
                with context.wrap_socket(self.request, server_side=True) as conn:
                    self._serve(conn)
            except (OSError, EOFError):  # handshake refused by the client, or connection closed
                return

        def _serve(self, conn: ssl.SSLSocket) -> None:
            while (size := _read_exactly(conn, 4)) is not None:
                payload = _read_exactly(conn, Int32.decode(BytesIO(size)))
                if payload is None:
                    return
                data = BytesIO(payload)
                api_key, api_version, correlation_id = Int16.decode(data), Int16.decode(data), Int32.decode(data)
                String("utf-8").decode(data)  # client id
                if broker.silent:
                    continue
                response = broker.answer(api_key, api_version, data)  # kept: encode() holds it weakly
                body = Int32.encode(correlation_id) + response.encode()
                conn.sendall(Int32.encode(len(body)) + body)

    return Handler


@pytest.fixture(scope="session")
def kafka_broker_session(tls_files: TLSFiles) -> Iterator[FakeKafkaBroker]:
    """The fake broker for the whole session, serving TLS with the session CA's server certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls_files.server_cert, tls_files.server_key)
    yield from serve(FakeKafkaBroker(context))


@pytest.fixture
def kafka_broker(kafka_broker_session: FakeKafkaBroker) -> Iterator[FakeKafkaBroker]:
    """The session's fake broker, with no topic, group nor recorded request."""
    yield from reset_around(kafka_broker_session)
