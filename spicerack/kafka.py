"""Kafka: read and set the positions (committed offsets) of consumer groups, within a cluster or across clusters.

Built on kafka-python, imported on first use only: its ``KafkaConsumer``, ``KafkaAdminClient``, ``TopicPartition``
and ``OffsetAndMetadata`` are attributes of this module, loaded when first looked up. The brokers are reached over
TLS, verified with the system's CA certificates and the given CA bundle. Topics are named with a site prefix
(``eqiad.mutation``); the methods take them without it.
"""

import importlib
import logging
import ssl
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from spicerack.constants import WMF_CA_BUNDLE_PATH
from spicerack.exceptions import SpicerackError

if TYPE_CHECKING:
    from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition  # type: ignore[import-untyped]  # noqa: F401
    from kafka.admin import KafkaAdminClient  # type: ignore[import-untyped]

TIMEOUT_MS: int = 20000
"""Milliseconds any Kafka request of this module may take."""

DELTA: int = timedelta(minutes=2).seconds * 1000
"""Milliseconds subtracted from a timestamp before looking up its offset, so that no message is skipped."""

logger = logging.getLogger(__name__)
logging.getLogger("kafka").setLevel(logging.WARNING)  # kafka-python logs every connection at INFO level

_LAZY_CLIENT_NAMES = {
    "KafkaConsumer": "kafka",
    "OffsetAndMetadata": "kafka",
    "TopicPartition": "kafka",
    "KafkaAdminClient": "kafka.admin",
}


def __getattr__(name: str) -> Any:
    """Load the kafka-python names of this module on their first lookup."""
    if name not in _LAZY_CLIENT_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

    value = getattr(importlib.import_module(_LAZY_CLIENT_NAMES[name]), name)
    globals()[name] = value
    return value


def _client(name: str) -> Any:
    """Return a kafka-python name through this module's attribute, so that a replaced (patched) one is used."""
    return getattr(sys.modules[__name__], name)


class KafkaError(SpicerackError):
    """A Kafka operation failed: no offset, partition or message found, or the brokers failed or are unreachable."""


@contextmanager
def _kafka_errors(action: str) -> Iterator[None]:
    """Turn the failures of kafka-python in the block into one :py:class:`KafkaError`."""
    import kafka.errors  # type: ignore[import-untyped]  # noqa: PLC0415 - imported on first use

    try:
        yield
    except (kafka.errors.KafkaError, ssl.SSLError) as exc:  # kafka-python lets a refused certificate through
        raise KafkaError(f"Failed to {action}: {exc!r}") from exc


@dataclass
class ConsumerDefinition:
    """The identity of a Kafka consumer group.

    Arguments:
        site: the site (datacenter) of the Kafka cluster, also the prefix of its topics.
        cluster: the name of the Kafka cluster (``main``, ``jumbo``, ...).
        consumer_group: the consumer group.

    """

    site: str
    cluster: str
    consumer_group: str


def _ssl_context(ca_bundle_path: str) -> ssl.SSLContext:
    """Return a TLS context verifying the brokers with the system's CA certificates and the given bundle."""
    context = ssl.create_default_context()
    try:
        context.load_verify_locations(ca_bundle_path)
    except (OSError, ssl.SSLError) as exc:
        raise KafkaError(f"Unable to load the CA bundle {ca_bundle_path}: {exc}") from exc

    return context


def _brokers(kafka_config: dict[str, Any], cluster: str, site: str) -> str:
    """Return the TLS bootstrap servers of a cluster in a site from the configuration."""
    try:
        brokers: str = kafka_config[cluster][site]["brokers"]["ssl_string"]
    except (KeyError, TypeError) as exc:
        raise KeyError(f"No {cluster}.{site}.brokers.ssl_string in the Kafka configuration") from exc

    return brokers


class KafkaClient:
    """A consumer of one consumer group on one cluster, to read and commit its offsets; a context manager."""

    def __init__(
        self,
        consumer_definition: ConsumerDefinition,
        kafka_config: dict[str, Any],
        dry_run: bool,
        ca_bundle_path: str = WMF_CA_BUNDLE_PATH,
    ) -> None:
        """Connect a consumer of the group, without auto-commit.

        Arguments:
            consumer_definition: the consumer group, cluster and site.
            kafka_config: the Kafka configuration, see :py:class:`Kafka`.
            dry_run: if :py:data:`True`, offsets are read but not committed.
            ca_bundle_path: the CA bundle to verify the brokers' certificates with.

        Raises:
            KeyError: if the configuration has no brokers for the cluster and site.
            spicerack.kafka.KafkaError: if the CA bundle cannot be loaded or no broker can be reached.

        """
        self._dry_run = dry_run
        self._site = consumer_definition.site
        brokers = _brokers(kafka_config, consumer_definition.cluster, consumer_definition.site)
        context = _ssl_context(ca_bundle_path)
        logger.debug(
            "Creating kafka client (kafka consumer with site prefix) with SSL context (check_hostname: %s, "
            "verify_mode: %s) for cluster and site: %s, %s",
            context.check_hostname,
            context.verify_mode,
            consumer_definition.cluster,
            consumer_definition.site,
        )
        with _kafka_errors(f"connect to the brokers {brokers}"):
            self._consumer = _client("KafkaConsumer")(
                bootstrap_servers=brokers,
                enable_auto_commit=False,
                consumer_timeout_ms=TIMEOUT_MS,
                request_timeout_ms=TIMEOUT_MS,
                group_id=consumer_definition.consumer_group,
                security_protocol="SSL",
                ssl_context=context,
            )

    def __enter__(self) -> "KafkaClient":
        """Return the instance itself."""
        return self

    def __exit__(self, *_: Any) -> None:
        """Close the consumer, without committing."""
        self._consumer.close(autocommit=False)

    def get_committed_offset(self, topic_partition: "TopicPartition") -> int:
        """Return the group's last committed offset of a partition.

        Arguments:
            topic_partition: the topic (without site prefix) and partition.

        Raises:
            spicerack.kafka.KafkaError: if the group has no committed offset there, or the request failed.

        """
        local = self._localize(topic_partition)
        with _kafka_errors(f"get the committed offset of {local.topic}:{local.partition}"):
            offset: int | None = self._consumer.committed(local)

        if offset is None:
            raise KafkaError(f"Offset not found for topic {local.topic}, partition {local.partition}.")

        return offset

    def get_next_timestamp(self, topic_partition: "TopicPartition") -> int:
        """Return the timestamp of the next message the group would consume from a partition.

        Arguments:
            topic_partition: the topic (without site prefix) and partition.

        Raises:
            spicerack.kafka.KafkaError: if there is no message to consume, or the request failed.

        """
        local = self._localize(topic_partition)
        with _kafka_errors(f"read the next message of {local.topic}:{local.partition}"):
            self._consumer.assign([local])
            message = next(self._consumer, None)

        if message is None:
            raise KafkaError(f"Offset not found for topic {local.topic}, partition {local.partition}.")

        timestamp: int = message.timestamp
        return timestamp

    def partitions_for_topic(self, topic_name: str) -> set[int]:
        """Return the partitions of a topic.

        Arguments:
            topic_name: the topic, without site prefix.

        Raises:
            spicerack.kafka.KafkaError: if the topic has no partition (e.g. it does not exist), or the request failed.

        """
        full_name = self._full_topic_name(topic_name)
        with _kafka_errors(f"get the partitions of {full_name}"):
            partitions: set[int] | None = self._consumer.partitions_for_topic(full_name)

        if not partitions:
            raise KafkaError(f"Partitions not found for topic {full_name}.")

        return partitions

    def seek_offset(self, topic_partition: "TopicPartition", offset: int) -> None:
        """Commit an offset of a partition for the group; in DRY-RUN mode it is only logged.

        Arguments:
            topic_partition: the topic (without site prefix) and partition.
            offset: the offset to commit.

        Raises:
            spicerack.kafka.KafkaError: if the commit failed.

        """
        local = self._localize(topic_partition)
        if self._dry_run:
            logger.debug(
                "dry_run mode: Attempted to commit on %s:%s to offset %s.", local.topic, local.partition, offset
            )
            return

        with _kafka_errors(f"commit offset {offset} on {local.topic}:{local.partition}"):
            self._consumer.assign([local])
            self._consumer.commit({local: _client("OffsetAndMetadata")(offset, None)})

    def find_offset_for_timestamp(self, topic_partition: "TopicPartition", timestamp: int) -> int:
        """Return the offset of the first message of a partition at or after the timestamp minus :py:data:`DELTA`.

        Arguments:
            topic_partition: the topic (without site prefix) and partition.
            timestamp: the timestamp in milliseconds since the epoch.

        Raises:
            spicerack.kafka.KafkaError: if no message is that recent, or the request failed.

        """
        local = self._localize(topic_partition)
        with _kafka_errors(f"look up the offset of {local.topic}:{local.partition} by timestamp"):
            found = self._consumer.offsets_for_times({local: timestamp - DELTA})

        if not found or not found.get(local):
            raise KafkaError(
                f"Offset not found for topic {local.topic}, partition {local.partition}, "
                f"when seeking by timestamp {timestamp}."
            )

        offset: int = found[local].offset
        return offset

    def _full_topic_name(self, topic: str) -> str:
        """Return the topic name with the site prefix."""
        return f"{self._site}.{topic}"

    def _localize(self, topic_partition: "TopicPartition") -> "TopicPartition":
        """Return the partition of the topic with the site prefix."""
        return _client("TopicPartition")(self._full_topic_name(topic_partition.topic), topic_partition.partition)


class Kafka:
    """Transfer the position of consumer groups, within a cluster or across clusters, or set it by timestamp."""

    def __init__(
        self,
        *,
        kafka_config: dict[str, dict[str, dict[str, Any]]],
        dry_run: bool = True,
        ca_bundle_path: str = WMF_CA_BUNDLE_PATH,
    ):
        """Initialize the instance.

        The configuration (the ``kafka/config.yaml`` file of the configuration directory, generated by Puppet) maps
        each cluster to its sites, each with at least the TLS bootstrap servers of its brokers::

            main:
              eqiad:
                brokers:
                  ssl_string: "kafka-main1001.eqiad.wmnet:9093,kafka-main1002.eqiad.wmnet:9093"

        Arguments:
            kafka_config: the Kafka configuration.
            dry_run: if :py:data:`True`, offsets are read but not committed.
            ca_bundle_path: the CA bundle to verify the brokers' certificates with.

        """
        self._dry_run = dry_run
        self._kafka_config = kafka_config
        self._ca_bundle_path = ca_bundle_path

    def admin_client(self, site: str, cluster_name: str) -> "KafkaAdminClient":
        """Return a kafka-python admin client of a cluster in a site, over TLS.

        Arguments:
            site: the site (``eqiad``, ``codfw``, ...).
            cluster_name: the Kafka cluster (``main``, ``jumbo``, ``logging``, ...).

        Raises:
            KeyError: if the configuration has no brokers for the cluster and site.
            spicerack.kafka.KafkaError: if the CA bundle cannot be loaded or no broker can be reached.

        """
        brokers = _brokers(self._kafka_config, cluster_name, site)
        context = _ssl_context(self._ca_bundle_path)
        with _kafka_errors(f"connect to the brokers {brokers}"):
            return _client("KafkaAdminClient")(bootstrap_servers=brokers, security_protocol="SSL", ssl_context=context)

    def transfer_consumer_position(
        self, topics: list[str], source_consumer: ConsumerDefinition, target_consumer: ConsumerDefinition
    ) -> None:
        """Give the target consumer group the position of the source one on the given topics.

        On the same cluster and site the committed offsets are copied. Across clusters offsets differ: the timestamp
        of the next message of the source group is looked up instead, and the target group is set to the first
        message of its cluster at that time minus :py:data:`DELTA`.

        Arguments:
            topics: the topics, without site prefix.
            source_consumer: the consumer group to read the position of.
            target_consumer: the consumer group to set the position of.

        Raises:
            spicerack.kafka.KafkaError: if an offset, partition or message is not found, or Kafka fails.

        """
        with self._client(source_consumer) as source, self._client(target_consumer) as target:
            if (source_consumer.cluster, source_consumer.site) == (target_consumer.cluster, target_consumer.site):
                logger.info("Same cluster, setting offsets...")
                offsets = {tp: source.get_committed_offset(tp) for tp in self._topic_partitions(source, topics)}
                _log_consumer("Extracted offsets from source", source_consumer)
                for tp, offset in offsets.items():
                    target.seek_offset(tp, offset)
                _log_consumer("Offsets set for target", target_consumer)
            else:
                logger.info("Different clusters, approximating offsets based on timestamps...")
                timestamps = {tp: source.get_next_timestamp(tp) for tp in self._topic_partitions(source, topics)}
                _log_consumer("Extracted timestamps from source", source_consumer)
                self._seek_timestamps(target, timestamps)
                _log_consumer("Offsets approximated and set for target", target_consumer)

        logger.info("Done.")

    def set_consumer_position_by_timestamp(
        self, target_consumer: ConsumerDefinition, timestamps: dict[str, int]
    ) -> None:
        """Set the position of a consumer group on each topic to its first message at a time minus :py:data:`DELTA`.

        Arguments:
            target_consumer: the consumer group to set the position of.
            timestamps: the timestamp in milliseconds since the epoch of each topic, without site prefix.

        Raises:
            spicerack.kafka.KafkaError: if a partition or offset is not found, or Kafka fails.

        """
        with self._client(target_consumer) as client:
            logger.info("Approximating offsets based on provided timestamps...")
            topic_partition = _client("TopicPartition")
            by_partition = {
                topic_partition(topic, partition): timestamp
                for topic, timestamp in timestamps.items()
                for partition in client.partitions_for_topic(topic)
            }
            self._seek_timestamps(client, by_partition)

        logger.info("Done.")

    def _client(self, consumer: ConsumerDefinition) -> KafkaClient:
        """Return a client of the consumer group."""
        return KafkaClient(
            consumer_definition=consumer,
            kafka_config=self._kafka_config,
            dry_run=self._dry_run,
            ca_bundle_path=self._ca_bundle_path,
        )

    @staticmethod
    def _topic_partitions(client: KafkaClient, topics: list[str]) -> list["TopicPartition"]:
        """Return all the partitions of the topics (without site prefix)."""
        topic_partition = _client("TopicPartition")
        return [
            topic_partition(topic, partition) for topic in topics for partition in client.partitions_for_topic(topic)
        ]

    @staticmethod
    def _seek_timestamps(client: KafkaClient, timestamps: dict["TopicPartition", int]) -> None:
        """Commit for each partition the offset found for its timestamp."""
        for tp, timestamp in timestamps.items():
            client.seek_offset(tp, client.find_offset_for_timestamp(tp, timestamp))


def _log_consumer(what: str, consumer: ConsumerDefinition) -> None:
    """Log a step of a transfer with the consumer group it concerns."""
    logger.info(
        '%s cluster "%s", site "%s" and consumer group "%s".',
        what,
        consumer.cluster,
        consumer.site,
        consumer.consumer_group,
    )
