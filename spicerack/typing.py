"""Type hints shared by Spicerack's modules."""

from collections.abc import Sequence
from typing import TypeVar

from ClusterShell.NodeSet import NodeSet

TypeHosts = TypeVar("TypeHosts", Sequence[str], NodeSet)
"""Hosts given either as a :py:class:`ClusterShell.NodeSet.NodeSet` or as a sequence of host names."""
