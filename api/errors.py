"""Alert store errors as HTTP answers, with `{"detail": ...}` bodies like the rest."""

import math

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from alertstore import (
    InvalidTransitionError,
    NotFoundError,
    RateLimitedError,
    StoreUnavailableError,
)


def install(app: FastAPI) -> None:
    app.add_exception_handler(NotFoundError, _not_found)
    app.add_exception_handler(InvalidTransitionError, _conflict)
    app.add_exception_handler(RateLimitedError, _rate_limited)
    app.add_exception_handler(StoreUnavailableError, _unavailable)


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=404)


async def _conflict(request: Request, exc: Exception) -> JSONResponse:
    status = exc.status if isinstance(exc, InvalidTransitionError) else None
    return JSONResponse({"detail": str(exc), "status": status}, status_code=409)


async def _rate_limited(request: Request, exc: Exception) -> JSONResponse:
    wait_ms = exc.retry_after_ms if isinstance(exc, RateLimitedError) else 60_000
    seconds = max(1, math.ceil(wait_ms / 1000))
    return JSONResponse(
        {"detail": str(exc), "retry_after_s": seconds},
        status_code=429,
        headers={"Retry-After": str(seconds)},
    )


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(
        {"detail": "alert store busy or unavailable; retry shortly"},
        status_code=503,
        headers={"Retry-After": "5"},
    )
