"""Reading Spicerack's YAML configuration files, with one-line errors that never quote a file's content."""

from pathlib import Path
from typing import Any

from spicerack.exceptions import SpicerackError


def load_yaml_mapping(path: Path, *, description: str, error: type[SpicerackError] = SpicerackError) -> dict[str, Any]:
    """Return the mapping held by a YAML file; an empty file is an empty mapping.

    Error messages name the file and the problem (with the line of a syntax error) but never quote the file's
    content, which may hold a password.

    Arguments:
        path: the file to read.
        description: what the file is, for the messages (e.g. ``etcd config file``).
        error: the exception class to raise.

    Raises:
        spicerack.exceptions.SpicerackError: (or the given subclass) if the file cannot be read, is not valid YAML
            or does not hold a mapping.

    """
    import yaml  # noqa: PLC0415 - only needed when a file is read

    try:
        with path.open(encoding="utf-8") as stream:
            content = yaml.safe_load(stream)
    except OSError as e:
        raise error(f"Unable to read the {description} {path}: {e.strerror or type(e).__name__}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise error(f"The {description} {path} is not valid YAML{where}") from None
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise error(f"The {description} {path} must be a YAML mapping, got {type(content).__name__}")
    return content
