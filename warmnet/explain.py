"""One way to say why a config file or payload failed validation: a line per error,
`path: message`, with list positions as `[i]` (or a name the caller gives them)."""

from collections.abc import Callable, Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

# How a caller names a location: the loc as pydantic gives it -> the parts to print.
Renamer = Callable[[Sequence[int | str]], Sequence[int | str]]
# A caller's own line for an error it knows better (None: the usual line).
Describer = Callable[[ErrorDetails], str | None]


def loc_path(loc: Sequence[int | str]) -> str:
    """`("stations", 3, "lat")` -> `stations[3].lat`; a str part already in brackets stays."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part.startswith("["):
            path += part
        else:
            path += f".{part}" if path else part
    return path


def explain(
    exc: ValidationError,
    *,
    whole: str = "",
    limit: int = 20,
    rename: Renamer | None = None,
    describe: Describer | None = None,
) -> list[str]:
    """The first `limit` errors of `exc`, one line each; `whole` names the document
    itself when an error has no location."""
    lines = []
    for err in exc.errors()[:limit]:
        own = describe(err) if describe is not None else None
        if own is not None:
            lines.append(own)
            continue
        loc: Sequence[Any] = err["loc"]
        if rename is not None:
            loc = rename(loc)
        msg = err["msg"].removeprefix("Value error, ")
        path = loc_path(loc) or whole
        lines.append(f"{path}: {msg}" if path else msg)
    return lines
