"""Unit tests of the exchange store: recording, lookups, secrets and the YAML form."""

import pytest
import requests
import yaml

from spicerack.exceptions import SpicerackError
from spicerack.testing import Fleet, FleetError
from spicerack.testing._exchanges import (
    SECRET_PLACEHOLDER,
    ExchangeError,
    ExchangeStore,
    MissingExchange,
    decode_bytes,
    encode_bytes,
    rebuild_error,
    redact_url,
)

NETBOX_URL = "https://netbox.example.org/api/dcim/devices/?name=x"


def test_a_recorded_response_answers_its_request():
    store = ExchangeStore()
    store.record("http", {"method": "GET", "url": NETBOX_URL}, {"status": 200, "json": {"results": []}})
    assert store.answer("http", {"method": "GET", "url": NETBOX_URL}) == {"status": 200, "json": {"results": []}}


def test_a_missing_entry_names_the_request_and_the_kind_to_add():
    store = ExchangeStore()
    with pytest.raises(MissingExchange) as excinfo:
        store.answer("http", {"method": "GET", "url": NETBOX_URL})
    assert str(excinfo.value) == f"no recorded answer for GET {NETBOX_URL}: add an `http` exchange"
    assert isinstance(excinfo.value, SpicerackError)


def test_identical_exchanges_are_kept_once_and_changing_answers_replay_in_order():
    store = ExchangeStore()
    request = {"query": "SELECT 1"}
    for rows in ([[1]], [[1]], [[2]]):
        store.record("mysql", request, {"rows": rows})
    assert [entry.response for entry in store.entries["mysql"]] == [{"rows": [[1]]}, {"rows": [[2]]}]
    assert [store.answer("mysql", request)["rows"] for _ in range(3)] == [[[1]], [[2]], [[2]]]


def test_an_error_replays_as_itself():
    store = ExchangeStore()
    request = {"method": "GET", "url": "https://down.example.org/"}
    store.record("http", request, error=requests.exceptions.ConnectionError("Connection refused"))
    with pytest.raises(requests.exceptions.ConnectionError, match="Connection refused"):
        store.answer("http", request)


def test_builtin_errors_are_rebuilt_with_their_arguments():
    described = {"type": "ConnectionRefusedError", "message": "[Errno 111] refused", "args": [111, "refused"]}
    error = rebuild_error(described)
    assert isinstance(error, ConnectionRefusedError)
    assert error.errno == 111


@pytest.mark.parametrize("dotted", ["os.system", "subprocess.CalledProcessError", "NoSuchError", "builtins.len"])
def test_only_exception_classes_of_known_libraries_are_rebuilt(dotted):
    with pytest.raises(ExchangeError, match="Unknown error type"):
        rebuild_error({"type": dotted, "message": ""})


def test_fields_named_like_secrets_and_given_secrets_are_never_kept():
    store = ExchangeStore()
    store.add_secret("hunter2")
    store.record(
        "http",
        {"method": "POST", "url": "https://api.example.org/login?api_key=abc&name=x", "body": {"password": "p4ss"}},
        {"status": 200, "headers": {"X-Auth-Token": "t0k3n"}, "body": "welcome hunter2"},
    )
    store.record("mysql", {"query": "CREATE USER 'u'@'%' IDENTIFIED BY 's3cr3t'"}, {"affected_rows": 0})
    text = store.to_yaml()
    for secret in ("abc", "p4ss", "t0k3n", "hunter2", "s3cr3t"):
        assert secret not in text
    assert text.count(SECRET_PLACEHOLDER) == 5


def test_a_request_with_a_secret_parameter_is_looked_up_redacted():
    store = ExchangeStore()
    store.record("http", {"method": "GET", "url": "https://api.example.org/?token=one"}, {"status": 204})
    assert store.answer("http", {"method": "GET", "url": "https://api.example.org/?token=another"}) == {"status": 204}


def test_user_information_of_urls_is_redacted():
    assert redact_url("https://user:pw@example.org/path?a=1") == f"https://{SECRET_PLACEHOLDER}@example.org/path?a=1"


def test_the_yaml_form_reads_back_into_the_same_store():
    store = ExchangeStore()
    store.record("dns", {"name": "host1.example.org.", "type": "A"}, {"answers": ["10.0.0.1"]})
    store.record("http", {"method": "GET", "url": NETBOX_URL}, error=TimeoutError("timed out"))
    data = yaml.safe_load(store.to_yaml())
    assert list(data) == ["exchanges"]
    assert list(data["exchanges"]) == ["http", "dns"]
    again = ExchangeStore.from_dict(data["exchanges"])
    assert again.to_dict() == store.to_dict()
    with pytest.raises(TimeoutError, match="timed out"):
        again.answer("http", {"method": "GET", "url": NETBOX_URL})


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"ldap": []}, "Unknown kind of exchange 'ldap'"),
        ({"http": [{"response": {}}]}, "give request, and one of response or error"),
        ({"http": [{"request": {}, "response": {}, "error": {"type": "OSError"}}]}, "one of response or error"),
        ({"http": [{"request": {}, "response": {}, "extra": 1}]}, "unknown keys extra"),
        ({"http": [{"request": {}, "error": "boom"}]}, "give its type and message"),
    ],
)
def test_invalid_sections_are_refused(section, message):
    with pytest.raises(ExchangeError, match=message):
        ExchangeStore.from_dict(section)


def test_the_fleet_description_reads_its_exchanges_section():
    fleet = Fleet.from_yaml(
        "hosts: web1.example.org\n"
        "exchanges:\n"
        "  cumin:\n"
        "    - request: {query: 'A:web'}\n"
        "      response: {hosts: web1.example.org}\n"
    )
    assert fleet.exchanges.answer("cumin", {"query": "A:web"}) == {"hosts": "web1.example.org"}
    assert Fleet().exchanges.entries == {}


def test_an_invalid_exchanges_section_is_a_fleet_error():
    with pytest.raises(FleetError, match="Unknown kind of exchange"):
        Fleet.from_yaml("exchanges: {ldap: []}")


def test_bytes_that_are_not_text_round_trip_as_base64():
    assert encode_bytes(b"text") == "text"
    assert decode_bytes(encode_bytes(b"\xff\x00")) == b"\xff\x00"
