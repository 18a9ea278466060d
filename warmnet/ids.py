"""Station and device identifiers.

IDs end up inside MQTT topics and InfluxDB tags, so they are restricted to lowercase
letters, digits and '-': no '/', '+', '#' or whitespace can ever reach a topic.
"""

import re
from typing import Annotated

from pydantic import StringConstraints

ID_PATTERN = r"^[a-z0-9-]{1,32}$"
_ID_RE = re.compile(ID_PATTERN)

Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
"""A station or device id, validated by pydantic."""


class InvalidIdError(ValueError):
    """An id outside `[a-z0-9-]{1,32}`."""


def check_id(value: str, what: str = "id") -> str:
    """Return `value` if it is a valid id, else raise InvalidIdError saying why."""
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        raise InvalidIdError(f"invalid {what} {value!r}: must match [a-z0-9-]{{1,32}}")
    return value
