"""The patient page: static HTML, CSS and JS from `api/static/patient`, and the ethers v6 UMD
build from the project's npm lockfile (`node_modules/ethers`), all served by this API.

The page decrypts the patient's keystore and signs in the browser; the key and the password never
reach the server. Its Content-Security-Policy allows scripts, styles and requests to this origin
only, so the browser itself refuses any request to another host (no CDN, no analytics).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, RedirectResponse

from chain.compile import PROJECT_ROOT

__all__ = ["CONTENT_SECURITY_POLICY", "ETHERS_UMD", "router"]

STATIC_DIR: Final = Path(__file__).resolve().parent.parent / "static" / "patient"
ETHERS_UMD: Final = PROJECT_ROOT / "node_modules" / "ethers" / "dist" / "ethers.umd.min.js"
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)
_ASSETS: Final = {
    "page.js": "text/javascript",
    "page.css": "text/css",
}
_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}

router = APIRouter(prefix="/patient", tags=["patient page"], include_in_schema=False)


def _file(path: Path, media_type: str) -> FileResponse:
    if not path.is_file():
        raise HTTPException(503, f"{path.name} is not installed on the server: run `npm ci`")
    return FileResponse(path, media_type=media_type, headers=_HEADERS)


@router.get("")
def page_redirect() -> RedirectResponse:
    """`/patient` -> `/patient/` (relative asset URLs resolve under it)."""
    return RedirectResponse("/patient/", status_code=308)


@router.get("/")
def page() -> FileResponse:
    """The patient page."""
    return _file(STATIC_DIR / "index.html", "text/html; charset=utf-8")


@router.get("/vendor/ethers.umd.min.js")
def ethers_library() -> FileResponse:
    """ethers v6 (UMD build) from node_modules; 503 until `npm ci` has installed it."""
    return _file(ETHERS_UMD, "text/javascript")


@router.get("/{name}")
def asset(name: str) -> FileResponse:
    """The page's own script and stylesheet (a fixed list: no path from the URL reaches disk)."""
    media_type = _ASSETS.get(name)
    if media_type is None:
        raise HTTPException(404, f"no page asset {name!r}")
    return _file(STATIC_DIR / name, media_type)
