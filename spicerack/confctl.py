"""Conftool: read and change the objects (pooled state, weights, discovery records...) that conftool keeps in etcd.

Built on the ``conftool`` library: its configuration file says how to reach etcd, its schema file which entities
(``node``, ``service``, ``discovery``, ``mwconfig``, ...) exist and what fields they have.
"""

import logging
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from conftool import configuration, kvobject
from conftool.cli import ConftoolClient
from conftool.drivers import BackendError

from spicerack.exceptions import SpicerackError

logger = logging.getLogger(__name__)

TypeConftoolValue = bool | str | int | float
"""A value of a conftool object's field."""


class ConfctlError(SpicerackError):
    """Raised when a conftool operation fails: bad configuration, no matching object, invalid value, etcd error."""


class Confctl:
    """Loads conftool's configuration and schema, and gives access to each of the schema's entities."""

    def __init__(
        self,
        config: str = "/etc/conftool/config.yaml",
        schema: str = "/etc/conftool/schema.yaml",
        dry_run: bool = True,
    ) -> None:
        """Load the configuration and the schema, and connect conftool to the etcd they point to.

        Conftool keeps its connection in class attributes, shared by the whole process: the last instance created
        sets the connection every entity uses. Changes are also sent to conftool's audit log when its configuration
        sets ``conftool2git_address``, as ``confctl`` does.

        Arguments:
            config: path of conftool's configuration file.
            schema: path of conftool's schema file.
            dry_run: whether this is a DRY-RUN: no change is written, reads are real.

        Raises:
            spicerack.confctl.ConfctlError: if the configuration or the schema cannot be loaded.

        """
        self._dry_run = dry_run
        for kind, path in (("configuration", config), ("schema", schema)):
            if not os.path.isfile(path):
                raise ConfctlError(f"Conftool {kind} file {path} not found")
        try:
            # Conftool's own read-only mode in DRY-RUN: any write that gets past this module is logged, not done.
            self._client = ConftoolClient(configfile=config, schemafile=schema, irc_logging=False, read_only=dry_run)
        except configuration.ConfigurationError as e:
            raise ConfctlError(f"Invalid conftool configuration file {config}: {e}") from e
        except SystemExit as e:  # Conftool exits when its kvstore driver can't be set up
            raise ConfctlError(f"Unable to set up conftool's driver from {config}") from e

    def entity(self, entity_name: str) -> "ConftoolEntity":
        """Return the object to query and change the objects of one of the schema's entities.

        Arguments:
            entity_name: the entity's name in the schema, e.g. ``node``, ``service``, ``discovery``, ``mwconfig``.

        Raises:
            spicerack.confctl.ConfctlError: if the schema has no such entity.

        """
        entity = self._client.schema.entities.get(entity_name)
        if entity is None:
            known = ", ".join(sorted(self._client.schema.entities))
            raise ConfctlError(f"Unknown conftool entity '{entity_name}', the schema has: {known}")
        return ConftoolEntity(entity, dry_run=self._dry_run)


class ConftoolEntity:
    """Queries and changes the objects of one conftool entity, selected by tags given as regular expressions.

    Tags are the entity's tags plus ``name`` (e.g. ``dc``, ``cluster``, ``service``, ``name`` for ``node``); each
    value is a regular expression that must match the whole tag. In DRY-RUN changes are logged and not written.
    """

    def __init__(self, entity: type[kvobject.Entity], dry_run: bool = True) -> None:
        """Wrap a conftool entity class.

        Arguments:
            entity: the conftool entity class, as found in the schema.
            dry_run: whether this is a DRY-RUN.

        """
        self._entity = entity
        self._dry_run = dry_run

    def get(self, **tags: str) -> Iterator[kvobject.Entity]:
        """Yield the objects matching the tags.

        Arguments:
            **tags: the selection, each tag's value a regular expression matching the whole tag.

        Raises:
            spicerack.confctl.ConfctlError: if no object matches or etcd cannot be read (conftool's own errors,
                e.g. the ``ValueError`` of an unknown tag, are raised as they are).

        """
        for obj in self._select(tags):
            logger.debug("Selected conftool object: %s", obj)
            yield obj

    def update(self, changed: dict[str, TypeConftoolValue], **tags: str) -> None:
        """Set the given values on every object matching the tags.

        Arguments:
            changed: the field names and their new values.
            **tags: the selection, as in :py:meth:`get`.

        Raises:
            spicerack.confctl.ConfctlError: if no object matches, a value is invalid, or etcd cannot be written.

        Examples:
            >>> confctl.update({"pooled": "no"}, service="appservers-.*", name="eqiad")

        """
        logger.debug("Updating the conftool objects matching %s", tags)
        self.update_objects(changed, self._select(tags))

    def set_and_verify(self, key: str, value: TypeConftoolValue, **tags: str) -> None:
        """Set one field on every object matching the tags, then read them back to check it took.

        Arguments:
            key: the field to set.
            value: its new value.
            **tags: the selection, as in :py:meth:`get`.

        Raises:
            spicerack.confctl.ConfctlError: on the errors of :py:meth:`update`, or if an object read back has
                another value (checked only outside DRY-RUN).

        """
        logger.info("Setting %s=%s for tags: %s", key, value, tags)
        self.update({key: value}, **tags)
        for obj in self.get(**tags):
            current = getattr(obj, key)
            if current != value and not self._dry_run:
                raise ConfctlError(f"Conftool key {key} has value '{current}', expecting '{value}' for tags: {tags}")

    def filter_objects(self, filter_expr: dict[str, TypeConftoolValue], **tags: str) -> Iterator[kvobject.Entity]:
        """Yield the objects matching the tags whose fields have all the given values.

        Arguments:
            filter_expr: the field names and the values they must have.
            **tags: the selection, as in :py:meth:`get`.

        Raises:
            spicerack.confctl.ConfctlError: if no object matches the tags, or a field is not in the objects.

        """
        for obj in self._select(tags):
            if all(_field_value(obj, key) == wanted for key, wanted in filter_expr.items()):
                yield obj

    def update_objects(self, changed: dict[str, TypeConftoolValue], objects: Iterable[kvobject.Entity]) -> None:
        """Set the given values on the given objects.

        Every object is checked against the schema before the first is written, so that an invalid value changes
        nothing.

        Arguments:
            changed: the field names and their new values.
            objects: the conftool objects to change, e.g. from :py:meth:`filter_objects`.

        Raises:
            spicerack.confctl.ConfctlError: if a value is invalid for an object, or etcd cannot be written.

        Examples:
            >>> inactive = confctl.filter_objects({"pooled": "inactive"}, service="appservers-.*", name="eqiad")
            >>> confctl.update_objects({"pooled": "no"}, inactive)

        """
        to_change = list(objects)
        for obj in to_change:
            _validate(obj, changed)

        prefix = "Skipping conftool update on dry-run mode" if self._dry_run else "Updating conftool"
        for obj in to_change:
            logger.debug("%s: %s -> %s", prefix, obj, changed)
            if self._dry_run:
                continue
            try:
                obj.update(changed)
            except BackendError as e:
                raise ConfctlError(f"Error writing to etcd the conftool object {obj.pprint()}: {e}") from e
            except Exception as e:
                raise ConfctlError(f"Generic error in conftool updating {obj.pprint()}: {e}") from e

    @contextmanager
    def change_and_revert(
        self, field: str, original: TypeConftoolValue, changed: TypeConftoolValue, **tags: str
    ) -> Iterator[list[kvobject.Entity]]:
        """Set a field to ``changed`` for the duration of the context, on the matching objects that had ``original``.

        Only the objects whose field was ``original`` are changed, and set back to ``original`` when the context
        exits normally. If the body raises, the objects are left changed, for the operator to look into.

        Arguments:
            field: the field to change.
            original: the value the objects must have to be selected, set back at the end.
            changed: the value during the context.
            **tags: the selection, as in :py:meth:`get`.

        Yields:
            The objects that were changed.

        Raises:
            spicerack.confctl.ConfctlError: on the errors of :py:meth:`filter_objects` and :py:meth:`update_objects`.

        """
        objects = list(self.filter_objects({field: original}, **tags))
        self.update_objects({field: changed}, objects)
        yield objects
        self.update_objects({field: original}, objects)

    def _select(self, tags: dict[str, str]) -> Iterator[kvobject.Entity]:
        """Yield the objects matching the tags, raising at the end when none did."""
        try:
            selectors = {tag: re.compile(f"^{expression}$") for tag, expression in tags.items()}
        except re.error as e:
            raise ConfctlError(f"Invalid regular expression in the conftool tags {tags}: {e}") from e

        found = False
        try:
            for obj in self._entity.query(selectors):
                found = True
                yield obj
        except BackendError as e:
            raise ConfctlError(f"Unable to read the conftool objects from etcd: {e}") from e

        if not found:
            raise ConfctlError(f"No match found for the conftool tags {tags}")


def _field_value(obj: kvobject.Entity, key: str) -> Any:
    """Return the value of one of the object's fields."""
    try:
        return getattr(obj, key)
    except AttributeError as e:
        raise ConfctlError(f'Could not find property "{key}" in object {obj.pprint()}') from e


def _validate(obj: kvobject.Entity, changed: dict[str, TypeConftoolValue]) -> None:
    """Check the new values against the object's schema (conftool itself would skip invalid ones silently)."""
    unknown = sorted(set(changed) - set(obj.field_names()))
    if unknown and obj.strict_schema:
        raise ConfctlError(f"Unknown field(s) {', '.join(unknown)} for conftool object {obj.pprint()}")
    try:
        obj.validate(changed)
    except Exception as e:  # Conftool's validators raise ValueError, TypeError or jsonschema's errors
        raise ConfctlError(f"Invalid value(s) {changed} for conftool object {obj.pprint()}: {e}") from e
