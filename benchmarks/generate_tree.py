"""Generate a realistic cookbooks tree for the startup benchmarks.

The tree mixes both cookbook APIs, nests groups up to three levels and imports the Spicerack modules real
cookbooks import (the cookbook API, the accessor, the remote module, wmflib's interactive helpers).

Usage: python benchmarks/generate_tree.py DEST [--cookbooks N] [--broken N]
"""

import argparse
import importlib.util
import sys
from pathlib import Path

TEAMS = ("sre", "wmcs", "data", "search", "observability", "traffic", "dbops", "ml", "netops", "releng")
SUBGROUPS = ("hosts", "services", "clusters", "maintenance", "deploy")
CLASS_API_SHARE = 3  # one cookbook in CLASS_API_SHARE uses the module API, the others the class API

GROUP_INIT = '''"""{title}."""

__title__ = "{title}"
__owner_team__ = "{team}"
'''

SUBGROUP_INIT = '''"""{title}."""

__title__ = "{title}"
'''

CLASS_COOKBOOK = '''"""Cookbook {name}: a generated class-API cookbook."""

import argparse
import logging

from spicerack import Spicerack
from spicerack.cookbook import ArgparseFormatter, CookbookBase, CookbookRunnerBase
{remote_import}from wmflib.interactive import ask_confirmation

logger = logging.getLogger(__name__)


class {class_name}(CookbookBase):
    """Operate on {name} (generated cookbook number {index}).

    A longer description of what the cookbook does, shown by ``cookbook -l -v``.
    It spans two lines.
    """

    argument_reason_required = {reason}

    def argument_parser(self) -> argparse.ArgumentParser:
        """Add the query and a flag."""
        parser = argparse.ArgumentParser(description=self.__doc__, formatter_class=ArgparseFormatter)
        parser.add_argument("query", help="Cumin query of the hosts.")
        parser.add_argument("--force", action="store_true", help="Skip the confirmation.")
        return parser

    def get_runner(self, args: argparse.Namespace) -> "{class_name}Runner":
        """Build the runner."""
        return {class_name}Runner(args, self.spicerack)


class {class_name}Runner(CookbookRunnerBase):
    """Runner of {name}."""

    def __init__(self, args: argparse.Namespace, spicerack: Spicerack) -> None:
        """Keep the arguments."""
        self.args = args
        self.spicerack = spicerack

    @property
    def runtime_description(self) -> str:
        """Say on which hosts."""
        return f"on {{self.args.query}}"

    def run(self) -> int:
        """Ask and log."""
        if not self.args.force:
            ask_confirmation("Proceed?")
        logger.info("Running on %s", self.args.query)
        return 0
'''

MODULE_COOKBOOK = '''"""Cookbook {name}: a generated module-API cookbook.

A longer description of what the cookbook does.
"""

import argparse
import logging

from spicerack import Spicerack
from spicerack.cookbook import ArgparseFormatter
from wmflib.interactive import ask_confirmation

__title__ = "Module cookbook {name} (number {index})"
{owner}logger = logging.getLogger(__name__)


def argument_parser() -> argparse.ArgumentParser:
    """Add the query."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=ArgparseFormatter)
    parser.add_argument("query", help="Cumin query of the hosts.")
    return parser


def run(args: argparse.Namespace, spicerack: Spicerack) -> int:
    """Ask and log."""
    ask_confirmation("Proceed?")
    logger.info("Running on %s as %s", args.query, spicerack.username)
    return 0
'''

BROKEN_COOKBOOK = '''"""A cookbook that fails to import."""

import module_that_does_not_exist  # noqa: F401

__title__ = "Never listed"
'''


def has_remote_module() -> bool:
    """Whether ``spicerack.remote`` can be imported (it is imported by the generated class-API cookbooks)."""
    return importlib.util.find_spec("spicerack.remote") is not None


def group_dirs(count: int) -> list[tuple[Path, str]]:
    """Return ``count`` group directories (relative) with their owner team, spread over nested levels."""
    dirs: list[tuple[Path, str]] = []
    for team in TEAMS:
        for sub in SUBGROUPS:
            dirs.append((Path(team) / sub, team))
            dirs.append((Path(team) / sub / "legacy", team))
    return [dirs[index % len(dirs)] for index in range(count)]


def write_group_inits(cookbooks_dir: Path) -> None:
    """Write the packages' ``__init__.py`` with titles and owner teams."""
    for team in TEAMS:
        team_dir = cookbooks_dir / team
        team_dir.mkdir(parents=True, exist_ok=True)
        (team_dir / "__init__.py").write_text(GROUP_INIT.format(title=f"{team.upper()} cookbooks", team=team))
        for sub in SUBGROUPS:
            for relative in (Path(sub), Path(sub) / "legacy"):
                directory = team_dir / relative
                directory.mkdir(parents=True, exist_ok=True)
                title = f"{team} {' '.join(relative.parts)} cookbooks"
                (directory / "__init__.py").write_text(SUBGROUP_INIT.format(title=title))


def cookbook_source(index: int, name: str, remote: bool) -> str:
    """Return the source of the ``index``-th cookbook, alternating the two APIs."""
    if index % CLASS_API_SHARE == 0:
        owner = f'__owner_team__ = "owners-{index % 7}"\n' if index % 2 else ""
        return MODULE_COOKBOOK.format(name=name, index=index, owner=owner)
    remote_import = "from spicerack.remote import RemoteHosts  # noqa: F401\n" if remote else ""
    class_name = "".join(part.capitalize() for part in name.replace("-", "_").split("_"))
    return CLASS_COOKBOOK.format(
        name=name, index=index, class_name=class_name, remote_import=remote_import, reason=bool(index % 2)
    )


def generate_tree(base_dir: Path, cookbooks: int = 1000, broken: int = 0) -> list[str]:
    """Write a tree of ``cookbooks`` cookbooks (plus ``broken`` failing ones) under ``base_dir/cookbooks``.

    Returns the dotted names of the generated cookbooks, in creation order.
    """
    cookbooks_dir = base_dir / "cookbooks"
    write_group_inits(cookbooks_dir)
    remote = has_remote_module()
    names: list[str] = []
    for index, (relative, _team) in enumerate(group_dirs(cookbooks)):
        name = f"{'restart' if index % 2 else 'reimage'}-service_{index:04d}"
        (cookbooks_dir / relative / f"{name}.py").write_text(cookbook_source(index, name, remote))
        names.append(".".join((*relative.parts, name)))
    for index in range(broken):
        (cookbooks_dir / TEAMS[0] / f"broken_{index}.py").write_text(BROKEN_COOKBOOK)
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dest", type=Path, help="Base directory: the tree is written in its cookbooks/ folder.")
    parser.add_argument("--cookbooks", type=int, default=1000, help="How many cookbooks to generate.")
    parser.add_argument("--broken", type=int, default=0, help="How many cookbooks failing to import to add.")
    args = parser.parse_args(argv)
    names = generate_tree(args.dest, args.cookbooks, args.broken)
    print(f"{len(names)} cookbooks written under {args.dest / 'cookbooks'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
