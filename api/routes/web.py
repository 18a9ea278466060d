"""The rider web page (plain HTML + vanilla JS, served from the package)."""

from functools import cache
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(tags=["web"])


@cache
def _index_html() -> str:
    return resources.files("api.static").joinpath("index.html").read_text(encoding="utf-8")


@router.get("/", include_in_schema=False)
def index() -> HTMLResponse:
    return HTMLResponse(_index_html(), headers={"Cache-Control": "no-cache"})
