"""API tokens: roles, hashing, the configured token table. Pure (no FastAPI), so the CLI
can import it cheaply; the request dependencies live in `api/access.py`.

A token is a random string handed to one person; the server keeps only its SHA-256
(`name:role:sha256hex` entries, in `WARMNET_API_TOKENS` or a tokens file). Tokens
are high-entropy (`new_token` gives 256 bits), so an unsalted hash is enough: the
hash file reveals nothing usable.
"""

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class Role(StrEnum):
    CREW = "crew"  # alerts: list, get, acknowledge, assign, resolve; create silences
    OPERATOR = "operator"  # everything crew can, plus silences management and reports

    def allows(self, needed: "Role") -> bool:
        return _RANK[self] >= _RANK[needed]


_RANK = {Role.CREW: 1, Role.OPERATOR: 2}

NAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
HASH_RE = re.compile(r"^[0-9a-f]{64}$")

# Tokens anyone could guess. Refused outside demo mode; the demo's own tokens are here.
DEMO_TOKENS = {"demo-crew": Role.CREW, "demo-operator": Role.OPERATOR}
PLACEHOLDERS = frozenset(
    {"changeme", "change-me", "secret", "password", "token", "test", "demo", "admin",
     "crew", "operator", *DEMO_TOKENS}
)  # fmt: skip


class TokenConfigError(ValueError):
    """A token entry is malformed, duplicated, or a placeholder outside demo mode."""


def hash_token(token: str) -> str:
    """The SHA-256 hex digest stored for `token` (surrounding whitespace ignored)."""
    return hashlib.sha256(token.strip().encode("utf-8")).hexdigest()


def new_token(name: str, role: Role | str) -> tuple[str, str]:
    """A fresh random token for `name` and its `name:role:hash` entry."""
    if not NAME_RE.fullmatch(name):
        raise TokenConfigError(f"invalid token name {name!r}: [A-Za-z0-9_.@-]{{1,64}}")
    token = secrets.token_urlsafe(32)
    return token, f"{name}:{Role(role).value}:{hash_token(token)}"


_PLACEHOLDER_HASHES = {hash_token(p): p for p in PLACEHOLDERS}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's name (recorded as `who`) and role."""

    name: str
    role: Role


@dataclass(frozen=True, slots=True)
class TokenEntry:
    name: str
    role: Role
    sha256: str


class TokenTable:
    """The configured tokens; `lookup` compares hashes in constant time."""

    def __init__(self, entries: tuple[TokenEntry, ...] = ()) -> None:
        self.entries = entries

    def __len__(self) -> int:
        return len(self.entries)

    def lookup(self, token: str) -> Principal | None:
        if not token or len(token) > 512:
            return None
        digest = hash_token(token)
        found = None
        for entry in self.entries:  # no early exit: timing does not depend on position
            if hmac.compare_digest(entry.sha256, digest):
                found = entry
        return Principal(found.name, found.role) if found is not None else None


def parse_entries(text: str, where: str) -> list[TokenEntry]:
    """`name:role:sha256hex` entries separated by commas, whitespace or newlines;
    `#` starts a comment (to the end of the line)."""
    out: list[TokenEntry] = []
    for raw_line in text.splitlines():
        line = raw_line.split("#", 1)[0]
        for item in re.split(r"[,\s]+", line):
            if not item:
                continue
            parts = item.split(":")
            if len(parts) != 3:
                raise TokenConfigError(
                    f"{where}: entry {_redact(item)!r} is not name:role:sha256-hash"
                )
            name, role, digest = parts
            if not NAME_RE.fullmatch(name):
                raise TokenConfigError(f"{where}: invalid name {name!r} ([A-Za-z0-9_.@-]{{1,64}})")
            if role not in Role.__members__.values():
                raise TokenConfigError(f"{where}: {name}: role {role!r} is not crew or operator")
            if not HASH_RE.fullmatch(digest):
                raise TokenConfigError(
                    f"{where}: {name}: expected the token's SHA-256 as 64 lowercase hex "
                    "digits, not the token itself (hash it with `warmnet token hash`)"
                )
            out.append(TokenEntry(name, Role(role), digest))
    return out


def _redact(item: str) -> str:
    # An entry that does not parse may be a raw token pasted by mistake.
    return item if len(item) <= 8 else item[:4] + "..."


def build_table(env_value: str | None, file: Path | None, *, demo_mode: bool) -> TokenTable:
    """Tokens from `WARMNET_API_TOKENS` and the tokens file. Placeholder tokens are
    refused unless `demo_mode`; in demo mode with nothing configured, the demo tokens
    (`demo-crew`, `demo-operator`) are used."""
    entries: list[TokenEntry] = []
    if env_value:
        entries += parse_entries(env_value, "WARMNET_API_TOKENS")
    if file is not None:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise TokenConfigError(f"tokens file {file}: cannot read: {exc}") from None
        entries += parse_entries(text, str(file))
    if not entries and demo_mode:
        entries = [TokenEntry(f"demo-{r.value}", r, hash_token(t)) for t, r in DEMO_TOKENS.items()]
    names: set[str] = set()
    digests: set[str] = set()
    for e in entries:
        if e.name in names:
            raise TokenConfigError(f"token name {e.name!r} appears twice")
        if e.sha256 in digests:
            raise TokenConfigError(f"{e.name}: the same token is configured twice")
        placeholder = _PLACEHOLDER_HASHES.get(e.sha256)
        if placeholder is not None and not demo_mode:
            raise TokenConfigError(
                f"{e.name}: the token is the placeholder {placeholder!r}; create a real one "
                "with `warmnet token new NAME ROLE` (placeholders work only with "
                "WARMNET_DEMO_MODE=true)"
            )
        names.add(e.name)
        digests.add(e.sha256)
    return TokenTable(tuple(entries))
