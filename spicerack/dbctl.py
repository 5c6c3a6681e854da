"""dbctl: MediaWiki's database configuration in conftool, through conftool's own ``dbconfig`` extension.

:py:class:`Dbctl` gives the objects behind the ``dbctl instance``, ``dbctl section`` and ``dbctl config`` commands.
Their methods return conftool's ``ActionResult`` (``success``, ``exit_code``, ``messages``), as the command does.
In DRY-RUN conftool runs in its read-only mode: reads are real, every write is logged and skipped.
"""

from typing import Any

from conftool.extensions.dbconfig.config import DbConfig
from conftool.extensions.dbconfig.entities import Instance, Section

from spicerack.confctl import Confctl, ConfctlError


class Dbctl(Confctl):
    """A :py:class:`spicerack.confctl.Confctl` with the ``dbctl`` objects on top of it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Load conftool as :py:class:`spicerack.confctl.Confctl` does, then set up the ``dbctl`` objects.

        The schema must define the ``dbconfig-instance``, ``dbconfig-section`` and ``mwconfig`` entities.

        Arguments:
            *args: as :py:class:`spicerack.confctl.Confctl`.
            **kwargs: as :py:class:`spicerack.confctl.Confctl`.

        Raises:
            spicerack.confctl.ConfctlError: if conftool cannot be loaded or the schema misses a dbctl entity.

        """
        super().__init__(*args, **kwargs)
        schema = self._client.schema
        missing = sorted({"dbconfig-instance", "dbconfig-section", "mwconfig"} - set(schema.entities))
        if missing:
            raise ConfctlError(f"The conftool schema lacks the entities dbctl needs: {', '.join(missing)}")
        self._mediawiki_config = DbConfig(schema, Instance(schema), Section(schema), self._client.configuration.dbctl())
        self._dbconfig_instance = Instance(schema, self._mediawiki_config.check_instance)
        self._dbconfig_section = Section(schema, self._mediawiki_config.check_section)

    @property
    def config(self) -> DbConfig:
        """The object behind ``dbctl config``: the live configuration, its generation, diff and commit."""
        return self._mediawiki_config

    @property
    def instance(self) -> Instance:
        """The object behind ``dbctl instance``: get, pool, depool, weight of the database instances."""
        return self._dbconfig_instance

    @property
    def section(self) -> Section:
        """The object behind ``dbctl section``: get, set master, set read-only of the database sections."""
        return self._dbconfig_section
