"""Sphinx configuration of Spicerack's documentation site (``make docs``)."""

import pkgutil
import shutil
import sys
from pathlib import Path

DOC_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(DOC_DIR.parent))

import spicerack  # noqa: E402

project = "Spicerack"
author = "Spicerack developers"
project_copyright = "Spicerack developers, GPL-3.0-or-later"
release = spicerack.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "sphinxarg.ext",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path: list[str] = []

autodoc_typehints = "description"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
myst_heading_anchors = 3
intersphinx_mapping: dict[str, tuple[str, None]] = {}


def public_modules() -> list[str]:
    """Every module of the package that gets a page of the API reference."""
    names = ["spicerack"]
    for module in pkgutil.walk_packages(spicerack.__path__, prefix="spicerack."):
        # Private modules (a component starting with "_") are the framework's internals, documented by the pages
        # that use them; their public names are re-exported by the public modules.
        if any(part.startswith("_") for part in module.name.split(".")[1:]):
            continue
        names.append(module.name)
    return sorted(names)


def write_api_pages(app: object) -> None:
    """Write one page per public module under ``api/`` and the index of them, fresh at each build."""
    api_dir = DOC_DIR / "api"
    shutil.rmtree(api_dir, ignore_errors=True)
    api_dir.mkdir()
    modules = public_modules()
    for name in modules:
        title = f"``{name}``"
        # The package's __all__ also lists the client classes it resolves lazily: they are documented in their modules.
        options = ""
        if name == "spicerack":
            classes = "".join(f"\n.. autoclass:: spicerack.{cls}\n" for cls in ("Spicerack", "SpicerackExtenderBase"))
            options = f"   :no-members:\n{classes}"
        (api_dir / f"{name}.rst").write_text(f"{title}\n{'=' * len(title)}\n\n.. automodule:: {name}\n{options}")
    toctree = "\n".join(f"   {name}" for name in modules)
    (api_dir / "index.rst").write_text(
        "API reference\n=============\n\nEvery public module of the package, from its docstrings.\n\n"
        f".. toctree::\n   :maxdepth: 1\n\n{toctree}\n"
    )


def setup(app: object) -> None:
    """Generate the API pages before Sphinx reads the sources."""
    app.connect("builder-inited", write_api_pages)  # type: ignore[attr-defined]
