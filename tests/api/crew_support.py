"""Tokens and types shared by the crew API tests (conftest holds the fixtures)."""

from collections.abc import Callable

CREW_TOKEN = "crew-token-3f9a1c0d7e5b"
OPERATOR_TOKEN = "operator-token-8b2e4f6a1d0c"
CREW = {"Authorization": f"Bearer {CREW_TOKEN}"}
OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}

Fire = Callable[..., str]  # the `fire` fixture: records an engine fire, returns the id
