"""Packaging for Spicerack."""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def bundled_cookbooks() -> list[tuple[str, list[str]]]:
    """Return the ``data_files`` entries that install the bundled example cookbooks tree."""
    entries: dict[str, list[str]] = {}
    for path in sorted((HERE / "cookbooks").rglob("*.py")):
        relative = path.relative_to(HERE)
        entries.setdefault(str(Path("share/spicerack") / relative.parent), []).append(str(relative))
    return sorted(entries.items())


setup(
    name="spicerack",
    version="0.2.0",
    description="Automation framework for production infrastructure: the cookbook runner and its library",
    long_description=(HERE / "README.md").read_text(encoding="utf-8") if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    license="GPL-3.0-or-later",
    license_files=["LICENSE"],
    classifiers=[
        "Development Status :: 4 - Beta",
        "Environment :: Console",
        "Intended Audience :: System Administrators",
        "Operating System :: POSIX :: Linux",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3.11",
        "Topic :: System :: Clustering",
        "Topic :: System :: Systems Administration",
        "Typing :: Typed",
    ],
    python_requires=">=3.11",
    packages=find_packages(include=["spicerack", "spicerack.*"]),
    package_data={"spicerack": ["py.typed", "_defaults/*.yaml"]},
    data_files=bundled_cookbooks(),
    install_requires=[
        "wmflib>=3.0",
        "cumin>=5.0",
        "pyyaml>=6.0",
        "requests>=2.28",
        "colorama>=0.4",
        "packaging>=21",
        "pymysql>=1.0",
        "conftool>=6.0,<7",
        "dnspython>=2.0",
        "GitPython>=3.1.30",
        "argcomplete>=3",  # shell completion of the cookbook command (imported only when completing)
        # The reference installs these client libraries and real cookbooks import them directly.
        "kafka-python~=2.0.2",
        "kubernetes==22.6.*; python_version=='3.11'",
        "kubernetes==30.1.*; python_version>'3.11'",
        "pynetbox~=7.4",
        "python-etcd~=0.4.5",
        "redis==4.3.*; python_version=='3.11'",
        "redis==6.1.*; python_version>'3.11'",
    ],
    extras_require={
        "tests": [
            "pytest>=7",
            "mypy>=1.8",
            "ruff>=0.4",
            "pexpect>=4.8",
            "types-PyYAML",
            "types-requests",
            "types-colorama",
            "sushy-tools>=2.0",
            "types-PyMySQL",
            "types-redis",
            "requests-mock>=1.9.3",
            # The layering of the package (pyproject.toml [tool.importlinter]), checked by make lint.
            "import-linter>=2.1",
        ],
        # The documentation site (make docs): Sphinx, the cookbook command's page from its parser, Markdown pages.
        "docs": [
            "sphinx>=7",
            "sphinx-argparse>=0.4",
            "myst-parser>=2",
        ],
    },
    entry_points={
        "console_scripts": ["cookbook = spicerack._cookbook:main"],
        # The cookbook test harness (spicerack.testing) as a pytest plugin: --update-plans, plan_snapshot fixture.
        "pytest11": ["spicerack = spicerack.testing.plugin"],
    },
    zip_safe=False,
)
