"""Who may call what: `Authorization: Bearer <token>` checked against the configured
tokens (`api/auth.py`). Routes declare the role they need with `CrewDep` or
`OperatorDep` and get the caller (`Principal`) whose name is recorded as `who`.

401 (with `WWW-Authenticate: Bearer`): no token, a malformed header, an unknown token.
403: a valid token whose role is not enough. Bodies are `{"detail": "..."}`.
"""

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.auth import Principal, Role
from api.deps import ContextDep

_bearer = HTTPBearer(auto_error=False, description="API token: `Authorization: Bearer <token>`")
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _unauthorized(detail: str, error: str | None = None) -> HTTPException:
    challenge = 'Bearer realm="warmnet"'
    if error is not None:
        challenge += f', error="{error}"'
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": challenge})


def require(role: Role) -> Callable[[ContextDep, BearerDep], Principal]:
    """A dependency that admits tokens of `role` or above."""

    def check(ctx: ContextDep, credentials: BearerDep) -> Principal:
        if credentials is None:
            raise _unauthorized("authentication required: send 'Authorization: Bearer <token>'")
        principal = ctx.tokens.lookup(credentials.credentials.strip())
        if principal is None:
            raise _unauthorized("unknown or revoked token", "invalid_token")
        if not principal.role.allows(role):
            raise HTTPException(
                status_code=403,
                detail=f"{principal.name} has role {principal.role.value}; this needs {role.value}",
            )
        return principal

    return check


CrewDep = Annotated[Principal, Depends(require(Role.CREW))]
OperatorDep = Annotated[Principal, Depends(require(Role.OPERATOR))]
