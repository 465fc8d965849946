"""``/fleet``: the built-in fleet page (static files shipped in the package)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, RedirectResponse

STATIC = Path(__file__).resolve().parent.parent / "static"

_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".txt": "text/plain"}

router = APIRouter()


@router.get("/fleet", include_in_schema=False)
def fleet_page() -> FileResponse:
    return FileResponse(STATIC / "fleet.html", media_type="text/html")


@router.get("/fleet/", include_in_schema=False)
def fleet_slash() -> RedirectResponse:
    return RedirectResponse("/fleet")


@router.get("/fleet/static/{name:path}", include_in_schema=False)
def fleet_static(name: str) -> FileResponse:
    """The page's scripts, styles and the charting library with its licence."""
    path = (STATIC / name).resolve()
    if STATIC not in path.parents or not path.is_file():
        raise HTTPException(status_code=404, detail="Not Found")
    return FileResponse(path, media_type=_TYPES.get(path.suffix, "application/octet-stream"))
