"""A small API for the flow runner's tests: log in, items, file uploads, a search that echoes.

Its state is module-level, so a test can look at what a flow left behind (`STATE.items`) and
make a read fail on purpose (`STATE.broken_reads`) to stop a flow in its middle.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

USERNAME = "alice"
PASSWORD = "wonderland-42"


@dataclass
class State:
    tokens: set[str] = field(default_factory=set)
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    broken_reads: bool = False


STATE = State()


def reset() -> None:
    """Forget every token, item and file, and mend reads: each test starts from nothing."""
    STATE.tokens.clear()
    STATE.items.clear()
    STATE.files.clear()
    STATE.broken_reads = False


def issue_token() -> str:
    token = secrets.token_urlsafe(24)
    STATE.tokens.add(token)
    return token


async def _login(request: Request) -> Response:
    """Takes JSON, or a form as OAuth2's password grant does."""
    if request.headers.get("content-type", "").startswith("application/json"):
        credentials = await request.json()
    else:
        async with request.form() as form:
            credentials = dict(form)
    if (credentials.get("username"), credentials.get("password")) != (USERNAME, PASSWORD):
        return JSONResponse({"detail": "bad credentials"}, 401)
    response = JSONResponse({"access_token": issue_token(), "token_type": "bearer"})
    response.set_cookie("session", secrets.token_urlsafe(16), httponly=True)
    return response


def _refused(request: Request) -> Response | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token in STATE.tokens:
        return None
    return JSONResponse(
        {"detail": "not authenticated"}, 401, headers={"www-authenticate": "Bearer"}
    )


async def _items(request: Request) -> Response:
    if refused := _refused(request):
        return refused
    if request.method == "GET":
        return JSONResponse({"items": list(STATE.items.values())})
    body = await request.json()
    if not isinstance(body, dict) or not isinstance(body.get("name"), str):
        return JSONResponse({"detail": "expected a JSON object with a string name"}, 422)
    item_id = secrets.token_hex(6)
    STATE.items[item_id] = {**body, "id": item_id, "href": f"/items/{item_id}"}
    return JSONResponse(STATE.items[item_id], 201, headers={"location": f"/items/{item_id}"})


async def _item(request: Request) -> Response:
    if refused := _refused(request):
        return refused
    item_id = request.path_params["item_id"]
    if request.method == "GET" and STATE.broken_reads:
        # Echoes the credential, as careless error pages do, to prove it is masked.
        authorization = request.headers.get("authorization")
        return PlainTextResponse(f"Traceback: KeyError while serving {authorization}", 500)
    if item_id not in STATE.items:
        return JSONResponse({"detail": f"no item {item_id}"}, 404)
    if request.method == "DELETE":
        del STATE.items[item_id]
        return Response(status_code=204)
    return JSONResponse(STATE.items[item_id])


async def _upload(request: Request) -> Response:
    if refused := _refused(request):
        return refused
    async with request.form() as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            return JSONResponse({"detail": "expected a file in the field 'file'"}, 422)
        data = await upload.read()
        file_id = secrets.token_hex(6)
        STATE.files[file_id] = (data, upload.content_type or "application/octet-stream")
        answer = {
            "id": file_id,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "filename": upload.filename,
            "description": form.get("description"),
        }
    return JSONResponse(answer, 201)


async def _file(request: Request) -> Response:
    if refused := _refused(request):
        return refused
    file_id = request.path_params["file_id"]
    if file_id not in STATE.files:
        return JSONResponse({"detail": f"no file {file_id}"}, 404)
    if request.method == "DELETE":
        del STATE.files[file_id]
        return Response(status_code=204)
    data, content_type = STATE.files[file_id]
    return Response(data, media_type=content_type)


async def _search(request: Request) -> Response:
    return JSONResponse({"q": request.query_params.get("q"), "params": dict(request.query_params)})


async def _headers(request: Request) -> Response:
    return JSONResponse({"headers": dict(request.headers)})


async def _echo(request: Request) -> Response:
    """The body as received, with its content type: what the client really encoded."""
    body = await request.body()
    return JSONResponse(
        {"content_type": request.headers.get("content-type"), "body": body.decode()}
    )


app = Starlette(
    routes=[
        Route("/login", _login, methods=["POST"]),
        Route("/items", _items, methods=["GET", "POST"]),
        Route("/items/{item_id}", _item, methods=["GET", "DELETE"]),
        Route("/files", _upload, methods=["POST"]),
        Route("/files/{file_id}", _file, methods=["GET", "DELETE"]),
        Route("/search", _search),
        Route("/headers", _headers),
        Route("/echo", _echo, methods=["POST"]),
    ]
)
