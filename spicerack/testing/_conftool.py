"""An in-memory conftool driver holding the fleet's conftool objects, installed in place of etcd during a run."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from conftool import drivers

if TYPE_CHECKING:
    from conftool import configuration

    from spicerack.testing._fleet import Fleet
    from spicerack.testing._plan import Recorder


class FleetConftoolDriver(drivers.BaseDriver):  # type: ignore[misc] # conftool has no type hints
    """Conftool's key-value store, backed by :py:attr:`spicerack.testing.Fleet.conftool_objects`.

    The keys of the fleet are relative to conftool's namespace and API version (``pools/eqiad/...``); every write
    is recorded in the plan.
    """

    def __init__(self, config: configuration.Config, fleet: Fleet, recorder: Recorder) -> None:
        """Serve the fleet's objects under the configuration's namespace."""
        super().__init__(config)
        self._objects = fleet.conftool_objects
        self._recorder = recorder

    @property
    def actor(self) -> str:
        """Who writes."""
        return "cookbook-tester"

    def is_dir(self, path: str) -> bool:
        """Whether some object is below the path."""
        prefix = self._relative(path).rstrip("/") + "/"
        return any(key.startswith(prefix) for key in self._objects) or prefix == "/"

    def read(self, key: str) -> drivers.ObjectWireRepresentation | None:
        """Return an object, :py:data:`None` for a directory."""
        relative = self._relative(key)
        if relative in self._objects:
            return _wire(self._objects[relative])
        if self.is_dir(key):
            return None
        raise drivers.NotFoundError(f"Key not found: {self.abspath(key)}")

    def write(self, key: str, value: dict[str, Any]) -> drivers.ObjectWireRepresentation | None:
        """Merge the value into the object (creating it), recording the write."""
        relative = self._relative(key)
        existing = self._objects.get(relative)
        self._objects[relative] = {**(existing or {}), **value}
        self._record(relative, value, existing)
        return _wire(self._objects[relative]) if existing is not None else None

    def compare_and_swap(
        self, key: str, value: dict[str, Any], expected: drivers.ObjectWireRepresentation | None = None
    ) -> drivers.ObjectWireRepresentation:
        """Replace the object if it is as expected."""
        relative = self._relative(key)
        existing = self._objects.get(relative)
        if expected is None and existing is not None:
            raise drivers.ConflictError(f"Key {relative} exists")
        if expected is not None and existing is None:
            raise drivers.NotFoundError(f"Key not found: {relative}")
        if expected is not None and existing != expected.data:
            raise drivers.ConflictError(f"Key {relative} changed")
        self._objects[relative] = dict(value)
        self._record(relative, value, existing)
        return _wire(self._objects[relative])

    def replace(self, key: str, value: dict[str, Any]) -> drivers.ObjectWireRepresentation:
        """Replace an existing object."""
        relative = self._relative(key)
        if relative not in self._objects:
            raise drivers.NotFoundError(f"Key not found: {relative}")
        self._objects[relative] = dict(value)
        self._record(relative, value)
        return _wire(self._objects[relative])

    def delete(self, key: str) -> None:
        """Delete an object, recording it."""
        relative = self._relative(key)
        if relative not in self._objects:
            raise drivers.NotFoundError(f"Key not found: {relative}")
        del self._objects[relative]
        self._recorder.add("conftool", f"delete {relative} -> ok", key=relative, value=None)

    def ls(self, path: str) -> list[tuple[str, drivers.ObjectWireRepresentation | None]]:
        """The direct children of a path: objects, or :py:data:`None` for directories."""
        children: dict[str, drivers.ObjectWireRepresentation | None] = {}
        for rest, data in self._below(path):
            first, _, deeper = rest.partition("/")
            children[first] = None if deeper else _wire(data)
        return sorted(children.items())

    def all_keys(self, path: str) -> list[list[str]]:
        """The path segments of every object below the path."""
        return [rest.split("/") for rest, _ in self._below(path)]

    def all_data(self, path: str) -> list[tuple[str, dict[str, Any]]]:
        """Every object below the path, with its data."""
        return [(rest, dict(data)) for rest, data in self._below(path)]

    def all_objects(self, path: str) -> list[tuple[str, drivers.ObjectWireRepresentation]]:
        """Every object below the path."""
        return [(rest, _wire(data)) for rest, data in self._below(path)]

    def _relative(self, key: str) -> str:
        return str(self.abspath(key)).removeprefix(str(self.base_path)).strip("/")

    def _below(self, path: str) -> list[tuple[str, dict[str, Any]]]:
        prefix = self._relative(path)
        prefix = f"{prefix}/" if prefix else ""
        return sorted((key.removeprefix(prefix), data) for key, data in self._objects.items() if key.startswith(prefix))

    def _record(self, relative: str, value: dict[str, Any], existing: dict[str, Any] | None = None) -> None:
        """Record a write: the values that changed (all of them for a new object)."""
        changed = {key: new for key, new in value.items() if existing is None or existing.get(key) != new}
        self._recorder.add("conftool", f"{relative} {format_values(changed)} -> ok", key=relative, value=changed)


def format_values(values: dict[str, Any]) -> str:
    """Values as ``key=value`` pairs in key order, values in JSON."""
    return " ".join(f"{key}={json.dumps(value)}" for key, value in sorted(values.items()))


def _wire(data: dict[str, Any]) -> drivers.ObjectWireRepresentation:
    return drivers.ObjectWireRepresentation(data=dict(data), metadata=drivers.ObjectWireMetadata())
