"""spicerack.kafka with the real kafka-python clients, over TLS, against the fake broker of ``servers/kafka.py``."""

import logging
import socket
from pathlib import Path

import certifi
import pytest

from spicerack import Spicerack
from spicerack.kafka import DELTA, ConsumerDefinition, Kafka, KafkaError
from tests.integration.servers.https import TLSFiles
from tests.integration.servers.kafka import FakeKafkaBroker

pytestmark = pytest.mark.integration

BASE = 1_700_000_000_000
MINUTE = 60_000
SOURCE = ConsumerDefinition("eqiad", "main", "source-group")
SAME_CLUSTER_TARGET = ConsumerDefinition("eqiad", "main", "target-group")
OTHER_CLUSTER_TARGET = ConsumerDefinition("codfw", "main", "target-group")


def config_for(bootstrap: str) -> dict[str, dict[str, dict[str, dict[str, str]]]]:
    """Return a Kafka configuration whose two main clusters (eqiad, codfw) are the given brokers."""
    return {"main": {site: {"brokers": {"ssl_string": bootstrap}} for site in ("eqiad", "codfw")}}


@pytest.fixture
def broker(kafka_broker: FakeKafkaBroker) -> FakeKafkaBroker:
    """The broker with a ``mutation`` topic in both sites, one message a minute, and the source group's offsets."""
    kafka_broker.topics["eqiad.mutation"] = {0: [BASE + i * MINUTE for i in range(10)], 1: [BASE + 30_000]}
    kafka_broker.topics["codfw.mutation"] = {0: [BASE + 20_000 + i * MINUTE for i in range(10)], 1: [BASE]}
    kafka_broker.committed["source-group"] = {("eqiad.mutation", 0): 6, ("eqiad.mutation", 1): 0}
    return kafka_broker


def make_kafka(broker: FakeKafkaBroker, tls_files: TLSFiles, *, dry_run: bool = False) -> Kafka:
    """Return a Kafka instance reaching the broker, verifying it with the session CA."""
    return Kafka(kafka_config=config_for(broker.bootstrap), dry_run=dry_run, ca_bundle_path=str(tls_files.ca_cert))


class TestTransfer:
    """Moving consumer group positions on the broker."""

    def test_same_cluster(self, broker: FakeKafkaBroker, tls_files: TLSFiles) -> None:
        """Within a cluster, the target group gets the source group's committed offsets."""
        make_kafka(broker, tls_files).transfer_consumer_position(["mutation"], SOURCE, SAME_CLUSTER_TARGET)

        assert broker.committed["target-group"] == {("eqiad.mutation", 0): 6, ("eqiad.mutation", 1): 0}
        assert broker.committed["source-group"] == {("eqiad.mutation", 0): 6, ("eqiad.mutation", 1): 0}
        assert {"GroupCoordinatorRequest", "OffsetFetchRequest", "OffsetCommitRequest"} <= set(broker.request_names())

    def test_other_cluster(self, broker: FakeKafkaBroker, tls_files: TLSFiles) -> None:
        """Across clusters, the target group starts at the first message from DELTA before the source's next one."""
        make_kafka(broker, tls_files).transfer_consumer_position(["mutation"], SOURCE, OTHER_CLUSTER_TARGET)

        # eqiad p0 resumes at offset 6 (BASE + 6 min): codfw p0's first message after BASE + 4 min is offset 4.
        # eqiad p1 resumes at offset 0 (BASE + 30 s): codfw p1's only message (BASE) is after BASE - 90 s.
        assert BASE + 6 * MINUTE - DELTA == BASE + 4 * MINUTE
        assert broker.committed["target-group"] == {("codfw.mutation", 0): 4, ("codfw.mutation", 1): 0}
        assert {"FetchRequest", "OffsetRequest"} <= set(broker.request_names())

    def test_dry_run(self, broker: FakeKafkaBroker, tls_files: TLSFiles, caplog: pytest.LogCaptureFixture) -> None:
        """In DRY-RUN mode the positions are read from the broker, nothing is committed."""
        with caplog.at_level(logging.DEBUG, logger="spicerack.kafka"):
            make_kafka(broker, tls_files, dry_run=True).transfer_consumer_position(
                ["mutation"], SOURCE, OTHER_CLUSTER_TARGET
            )

        assert "target-group" not in broker.committed
        assert "OffsetCommitRequest" not in broker.request_names()
        assert "dry_run mode: Attempted to commit on codfw.mutation:0 to offset 4." in caplog.text

    def test_set_by_timestamp(self, broker: FakeKafkaBroker, tls_files: TLSFiles) -> None:
        """The group is set on every partition to the first message from DELTA before the timestamp."""
        timestamp = BASE + DELTA + 30_000  # looked up from BASE + 30 s: offset 1 of partition 0, 0 of partition 1
        make_kafka(broker, tls_files).set_consumer_position_by_timestamp(SOURCE, {"mutation": timestamp})

        assert broker.committed["source-group"] == {("eqiad.mutation", 0): 1, ("eqiad.mutation", 1): 0}

    def test_accessor(self, broker: FakeKafkaBroker, tls_files: TLSFiles, tmp_path: Path) -> None:
        """Spicerack.kafka() reads the brokers from kafka/config.yaml and passes its DRY-RUN mode."""
        (tmp_path / "kafka").mkdir()
        (tmp_path / "kafka" / "config.yaml").write_text(
            f"main:\n  eqiad:\n    brokers:\n      ssl_string: '{broker.bootstrap}'\n", encoding="utf-8"
        )
        kafka = Spicerack(spicerack_config_dir=str(tmp_path), dry_run=False).kafka()
        kafka._ca_bundle_path = str(tls_files.ca_cert)  # the WMF bundle of production is not on test machines
        kafka.set_consumer_position_by_timestamp(SAME_CLUSTER_TARGET, {"mutation": BASE})

        assert broker.committed["target-group"] == {("eqiad.mutation", 0): 0, ("eqiad.mutation", 1): 0}


class TestNotFound:
    """What the broker does not have: one KafkaError each, nothing committed."""

    def test_no_committed_offset(self, broker: FakeKafkaBroker, tls_files: TLSFiles) -> None:
        """A source group without committed offsets."""
        empty = ConsumerDefinition("eqiad", "main", "new-group")
        with pytest.raises(KafkaError, match=r"Offset not found for topic eqiad\.mutation, partition 0\."):
            make_kafka(broker, tls_files).transfer_consumer_position(["mutation"], empty, SAME_CLUSTER_TARGET)
        assert "target-group" not in broker.committed

    def test_unknown_topic(self, broker: FakeKafkaBroker, tls_files: TLSFiles) -> None:
        """A topic the broker does not have."""
        with pytest.raises(KafkaError, match=r"Partitions not found for topic eqiad\.missing\."):
            make_kafka(broker, tls_files).transfer_consumer_position(["missing"], SOURCE, SAME_CLUSTER_TARGET)

    def test_no_message_that_recent(self, broker: FakeKafkaBroker, tls_files: TLSFiles) -> None:
        """A timestamp after the last message of the target's topic."""
        late = BASE + 60 * MINUTE
        with pytest.raises(KafkaError, match=f"partition 0, when seeking by timestamp {late}"):
            make_kafka(broker, tls_files).set_consumer_position_by_timestamp(SOURCE, {"mutation": late})
        assert broker.committed["source-group"][("eqiad.mutation", 0)] == 6


class TestFaults:
    """Unreachable, untrusted or silent brokers: one KafkaError each, within bounded time."""

    def test_unreachable_broker(self, tls_files: TLSFiles) -> None:
        """A broker address where nothing listens."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        kafka = Kafka(kafka_config=config_for(f"127.0.0.1:{port}"), ca_bundle_path=str(tls_files.ca_cert))
        with pytest.raises(KafkaError, match=f"Failed to connect to the brokers 127.0.0.1:{port}: NoBrokersAvailable"):
            kafka.set_consumer_position_by_timestamp(SOURCE, {"mutation": BASE})

    def test_untrusted_certificate(self, broker: FakeKafkaBroker) -> None:
        """A broker whose certificate is not signed by a CA of the bundle (here the public CAs) is refused."""
        kafka = Kafka(kafka_config=config_for(broker.bootstrap), ca_bundle_path=certifi.where())
        with pytest.raises(KafkaError, match="certificate verify failed"):
            kafka.transfer_consumer_position(["mutation"], SOURCE, SAME_CLUSTER_TARGET)
        assert broker.request_names() == []

    def test_silent_broker(self, broker: FakeKafkaBroker, tls_files: TLSFiles) -> None:
        """A broker that accepts connections but never answers makes the client give up, not hang."""
        broker.silent = True
        with pytest.raises(KafkaError, match="NoBrokersAvailable"):
            make_kafka(broker, tls_files).set_consumer_position_by_timestamp(SOURCE, {"mutation": BASE})
        assert broker.committed["source-group"][("eqiad.mutation", 0)] == 6

    def test_missing_ca_bundle(self, broker: FakeKafkaBroker, tmp_path: Path) -> None:
        """A CA bundle that does not exist, before any connection."""
        kafka = Kafka(kafka_config=config_for(broker.bootstrap), ca_bundle_path=str(tmp_path / "none.pem"))
        with pytest.raises(KafkaError, match="Unable to load the CA bundle"):
            kafka.set_consumer_position_by_timestamp(SOURCE, {"mutation": BASE})
        assert broker.request_names() == []


def test_admin_client(broker: FakeKafkaBroker, tls_files: TLSFiles) -> None:
    """The admin client connects to the broker over TLS and reads its metadata."""
    client = make_kafka(broker, tls_files).admin_client("eqiad", "main")
    try:
        assert set(client.list_topics()) == {"eqiad.mutation", "codfw.mutation"}
    finally:
        client.close()
