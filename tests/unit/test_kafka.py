"""Unit tests of spicerack.kafka, with kafka-python's KafkaConsumer and KafkaAdminClient replaced by stubs."""

import logging
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import certifi
import kafka.errors  # type: ignore[import-untyped]
import pytest
from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition
from kafka.structs import OffsetAndTimestamp  # type: ignore[import-untyped]

from spicerack import Spicerack
from spicerack.kafka import DELTA, TIMEOUT_MS, ConsumerDefinition, Kafka, KafkaClient, KafkaError

CA_BUNDLE = certifi.where()
CONFIG = {
    "main": {
        "eqiad": {"brokers": {"ssl_string": "kafka-main1001.eqiad.wmnet:9093,kafka-main1002.eqiad.wmnet:9093"}},
        "codfw": {"brokers": {"ssl_string": "kafka-main2001.codfw.wmnet:9093"}},
    },
    "jumbo": {"eqiad": {"brokers": {"ssl_string": "kafka-jumbo1001.eqiad.wmnet:9093"}}},
}
SOURCE = ConsumerDefinition("eqiad", "main", "source-group")
SAME_CLUSTER_TARGET = ConsumerDefinition("eqiad", "main", "target-group")
OTHER_CLUSTER_TARGET = ConsumerDefinition("codfw", "main", "target-group")
TIMESTAMP = 1_700_000_000_000


class FakeMessage:
    """A consumed message: only its timestamp is read."""

    def __init__(self, timestamp: int) -> None:
        self.timestamp = timestamp


def consumer_stub(
    partitions: dict[str, set[int]] | None = None,
    committed: int | None = 42,
    message: FakeMessage | None = None,
    offset_shift: int = -100,
) -> mock.MagicMock:
    """Return a KafkaConsumer stub with the topics' partitions, committed offset, next message and time index."""
    partitions = partitions if partitions is not None else {"eqiad.mutation": {0, 1}, "codfw.mutation": {0, 1}}
    stub = mock.MagicMock(spec_set=KafkaConsumer)
    stub.partitions_for_topic.side_effect = partitions.get
    stub.committed.return_value = committed
    stub.__next__.side_effect = StopIteration if message is None else lambda: message
    stub.offsets_for_times.side_effect = lambda query: {
        tp: OffsetAndTimestamp(ts + offset_shift, ts) for tp, ts in query.items()
    }
    return stub


@pytest.fixture
def consumers() -> Iterator[mock.MagicMock]:
    """Replace KafkaConsumer: each test sets ``side_effect`` to the stubs of the consumers created in turn."""
    with mock.patch("spicerack.kafka.KafkaConsumer", autospec=True) as patched:
        yield patched


def make_kafka(dry_run: bool = False) -> Kafka:
    """Return a Kafka instance with the test configuration."""
    return Kafka(kafka_config=CONFIG, dry_run=dry_run, ca_bundle_path=CA_BUNDLE)


def committed_calls(stub: mock.MagicMock) -> dict[TopicPartition, int]:
    """Return the offsets committed through a consumer stub."""
    result: dict[TopicPartition, int] = {}
    for call in stub.commit.call_args_list:
        for tp, meta in call.args[0].items():
            assert meta == OffsetAndMetadata(meta.offset, None)
            result[tp] = meta.offset
    return result


class TestTransfer:
    """Transfers of consumer group positions."""

    def test_same_cluster_copies_offsets(self, consumers: mock.MagicMock) -> None:
        """On the same cluster and site, the committed offsets are copied on the site-prefixed topics."""
        source, target = consumer_stub(committed=42), consumer_stub()
        consumers.side_effect = [source, target]
        make_kafka().transfer_consumer_position(["mutation"], SOURCE, SAME_CLUSTER_TARGET)

        assert committed_calls(target) == {
            TopicPartition("eqiad.mutation", 0): 42,
            TopicPartition("eqiad.mutation", 1): 42,
        }
        source.committed.assert_any_call(TopicPartition("eqiad.mutation", 1))
        source.commit.assert_not_called()
        for stub in (source, target):
            stub.close.assert_called_once_with(autocommit=False)

    def test_other_cluster_uses_timestamps(self, consumers: mock.MagicMock) -> None:
        """Across clusters, the next message's timestamp minus DELTA gives the target's offsets."""
        source, target = consumer_stub(message=FakeMessage(TIMESTAMP)), consumer_stub(offset_shift=-7)
        consumers.side_effect = [source, target]
        make_kafka().transfer_consumer_position(["mutation"], SOURCE, OTHER_CLUSTER_TARGET)

        expected = TIMESTAMP - DELTA - 7
        assert committed_calls(target) == {
            TopicPartition("codfw.mutation", 0): expected,
            TopicPartition("codfw.mutation", 1): expected,
        }
        source.assign.assert_any_call([TopicPartition("eqiad.mutation", 0)])
        target.offsets_for_times.assert_any_call({TopicPartition("codfw.mutation", 1): TIMESTAMP - DELTA})

    def test_dry_run_reads_only(self, consumers: mock.MagicMock, caplog: pytest.LogCaptureFixture) -> None:
        """In DRY-RUN mode the positions are read and logged, nothing is committed."""
        source, target = consumer_stub(committed=5), consumer_stub()
        consumers.side_effect = [source, target]
        with caplog.at_level(logging.DEBUG, logger="spicerack.kafka"):
            make_kafka(dry_run=True).transfer_consumer_position(["mutation"], SOURCE, SAME_CLUSTER_TARGET)

        target.commit.assert_not_called()
        assert "dry_run mode: Attempted to commit on eqiad.mutation:0 to offset 5." in caplog.text
        assert 'Offsets set for target cluster "main", site "eqiad" and consumer group "target-group".' in caplog.text

    @pytest.mark.parametrize(
        ("target", "source", "message"),
        [
            (
                SAME_CLUSTER_TARGET,
                consumer_stub(committed=None),
                "Offset not found for topic eqiad.mutation, partition 0.",
            ),
            (
                OTHER_CLUSTER_TARGET,
                consumer_stub(message=None),
                "Offset not found for topic eqiad.mutation, partition 0.",
            ),
            (SAME_CLUSTER_TARGET, consumer_stub(partitions={}), "Partitions not found for topic eqiad.mutation."),
        ],
    )
    def test_nothing_found(
        self, consumers: mock.MagicMock, target: ConsumerDefinition, source: Any, message: str
    ) -> None:
        """A missing offset, message or topic raises KafkaError, before anything is committed."""
        target_stub = consumer_stub()
        consumers.side_effect = [source, target_stub]
        with pytest.raises(KafkaError, match=message.replace(".", r"\.")):
            make_kafka().transfer_consumer_position(["mutation"], SOURCE, target)
        target_stub.commit.assert_not_called()
        target_stub.close.assert_called_once_with(autocommit=False)

    def test_no_offset_for_timestamp(self, consumers: mock.MagicMock) -> None:
        """A target with no message that recent raises KafkaError naming the timestamp."""
        target = consumer_stub()
        target.offsets_for_times.side_effect = lambda query: dict.fromkeys(query)
        consumers.side_effect = [consumer_stub(message=FakeMessage(TIMESTAMP)), target]
        with pytest.raises(KafkaError, match=f"partition 0, when seeking by timestamp {TIMESTAMP}"):
            make_kafka().transfer_consumer_position(["mutation"], SOURCE, OTHER_CLUSTER_TARGET)

    def test_client_errors_are_wrapped(self, consumers: mock.MagicMock) -> None:
        """A kafka-python error becomes one KafkaError."""
        source = consumer_stub()
        source.committed.side_effect = kafka.errors.KafkaTimeoutError("no coordinator")
        consumers.side_effect = [source, consumer_stub()]
        with pytest.raises(
            KafkaError, match=r"Failed to get the committed offset of eqiad\.mutation:0: .*no coordinator"
        ):
            make_kafka().transfer_consumer_position(["mutation"], SOURCE, SAME_CLUSTER_TARGET)


class TestSetByTimestamp:
    """Positions set from timestamps."""

    def test_set_position(self, consumers: mock.MagicMock) -> None:
        """Each topic gets the offset of its own timestamp minus DELTA."""
        stub = consumer_stub(partitions={"eqiad.mutation": {0}, "eqiad.other": {3}}, offset_shift=0)
        consumers.side_effect = [stub]
        make_kafka().set_consumer_position_by_timestamp(SOURCE, {"mutation": TIMESTAMP, "other": TIMESTAMP + 10})

        assert committed_calls(stub) == {
            TopicPartition("eqiad.mutation", 0): TIMESTAMP - DELTA,
            TopicPartition("eqiad.other", 3): TIMESTAMP + 10 - DELTA,
        }


class TestClients:
    """How the kafka-python clients are built."""

    def test_consumer_settings(self, consumers: mock.MagicMock) -> None:
        """The consumer joins the group over TLS without auto-commit, with bounded timeouts."""
        consumers.side_effect = [consumer_stub()]
        with KafkaClient(SOURCE, CONFIG, False, ca_bundle_path=CA_BUNDLE):
            pass

        kwargs = dict(consumers.call_args.kwargs)
        context = kwargs.pop("ssl_context")
        assert kwargs == {
            "bootstrap_servers": "kafka-main1001.eqiad.wmnet:9093,kafka-main1002.eqiad.wmnet:9093",
            "enable_auto_commit": False,
            "consumer_timeout_ms": TIMEOUT_MS,
            "request_timeout_ms": TIMEOUT_MS,
            "group_id": "source-group",
            "security_protocol": "SSL",
        }
        assert (context.verify_mode, context.check_hostname) == (ssl.CERT_REQUIRED, True)
        assert context.cert_store_stats()["x509_ca"] > 0

    def test_admin_client(self) -> None:
        """The admin client reaches the cluster's brokers over TLS, verified with the CA bundle."""
        with mock.patch("spicerack.kafka.KafkaAdminClient", autospec=True) as admin:
            client = make_kafka().admin_client("codfw", "main")

        assert client is admin.return_value
        kwargs = admin.call_args.kwargs
        assert (kwargs["bootstrap_servers"], kwargs["security_protocol"]) == ("kafka-main2001.codfw.wmnet:9093", "SSL")
        assert kwargs["ssl_context"].verify_mode == ssl.CERT_REQUIRED

    def test_missing_ca_bundle(self, consumers: mock.MagicMock, tmp_path: Path) -> None:
        """A CA bundle that cannot be loaded raises KafkaError, before any connection."""
        kafka_instance = Kafka(kafka_config=CONFIG, ca_bundle_path=str(tmp_path / "missing.pem"))
        with pytest.raises(KafkaError, match="Unable to load the CA bundle"):
            kafka_instance.set_consumer_position_by_timestamp(SOURCE, {"mutation": TIMESTAMP})
        consumers.assert_not_called()

    @pytest.mark.parametrize(
        "consumer", [ConsumerDefinition("ulsfo", "main", "g"), ConsumerDefinition("eqiad", "x", "g")]
    )
    def test_unknown_cluster(self, consumers: mock.MagicMock, consumer: ConsumerDefinition) -> None:
        """A cluster or site missing from the configuration raises KeyError, as in the reference."""
        with pytest.raises(KeyError, match=f"No {consumer.cluster}.{consumer.site}.brokers.ssl_string"):
            make_kafka().set_consumer_position_by_timestamp(consumer, {"mutation": TIMESTAMP})
        consumers.assert_not_called()


def test_consumer_definition() -> None:
    """Consumer definitions compare by value."""
    assert ConsumerDefinition("eqiad", "main", "g") == ConsumerDefinition("eqiad", "main", "g")
    assert ConsumerDefinition("eqiad", "main", "g") != ConsumerDefinition("codfw", "main", "g")


def test_accessor(tmp_path: Path, consumers: mock.MagicMock) -> None:
    """Spicerack.kafka() reads kafka/config.yaml of the configuration directory and passes the DRY-RUN mode."""
    (tmp_path / "kafka").mkdir()
    (tmp_path / "kafka" / "config.yaml").write_text("main:\n  eqiad:\n    brokers:\n      ssl_string: 'k1:9093'\n")
    stub = consumer_stub(partitions={"eqiad.t": {0}})
    consumers.side_effect = [stub]
    with mock.patch("ssl.SSLContext.load_verify_locations"):
        Spicerack(spicerack_config_dir=str(tmp_path), dry_run=True).kafka().set_consumer_position_by_timestamp(
            ConsumerDefinition("eqiad", "main", "g"), {"t": TIMESTAMP}
        )

    assert consumers.call_args.kwargs["bootstrap_servers"] == "k1:9093"
    stub.offsets_for_times.assert_called_once()
    stub.commit.assert_not_called()


def test_client_imported_lazily() -> None:
    """Importing the module does not import kafka-python; its names are there on first lookup."""
    code = "import sys, spicerack.kafka as k; print('kafka' in sys.modules, k.TopicPartition.__module__)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "kafka.structs"]
