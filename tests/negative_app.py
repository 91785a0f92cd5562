"""A real API that answers bad input well, badly and carelessly, and publishes OpenAPI documents.

For the negative smoke and the OpenAPI smoke: FastAPI under uvicorn in a thread, on a free
loopback port. Each route is one way a deployment gets it right or wrong.
"""

from __future__ import annotations

import traceback
from contextlib import AbstractContextManager
from typing import Any

import yaml
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from tests import asgi_server

USERNAME, PASSWORD = "alice", "wonderland"
# The X-Gonogo-Probe header of each call to /legacy/maybe, to prove headers reach the service.
PROBE_HEADERS: list[str] = []


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(max_length=100)
    password: str = Field(max_length=100)


class Item(BaseModel):
    id: int
    name: str


app = FastAPI(title="negative")


@app.exception_handler(Exception)
async def _generic_error(request: Request, exc: Exception) -> Response:
    """A production error page: nothing about the cause."""
    return JSONResponse({"detail": "internal server error"}, status_code=500)


@app.exception_handler(RequestValidationError)
async def _invalid(request: Request, exc: RequestValidationError) -> Response:
    """FastAPI's own 422 echoes the input, and a lone surrogate in it cannot be encoded as
    UTF-8: a 500. The negative smoke found that; a careful service answers without the input."""
    errors = [{"loc": error["loc"], "msg": error["msg"]} for error in exc.errors()]
    return JSONResponse({"detail": errors}, status_code=422)


@app.post("/good/login")
def good_login(credentials: Credentials) -> dict[str, str]:
    if (credentials.username, credentials.password) != (USERNAME, PASSWORD):
        raise HTTPException(401, "wrong username or password")
    return {"token": "issued"}


@app.post("/fragile/login")
async def fragile_login(request: Request) -> Response:
    """The classic regression: trusts the body's shape, so bad input is a 500."""
    body = await request.json()
    if body["username"].encode() != USERNAME.encode() or body["password"] != PASSWORD:
        return JSONResponse({"detail": "wrong username or password"}, status_code=401)
    return JSONResponse({"token": "issued"})


@app.post("/leaky/login")
async def leaky_login(request: Request) -> Response:
    """Debug mode left on: every error answers 400 with the traceback in the body."""
    try:
        body = await request.json()
        if body["username"].encode() != USERNAME.encode():
            return JSONResponse({"detail": "wrong username or password"}, status_code=401)
    except Exception:
        return PlainTextResponse(traceback.format_exc(), status_code=400)
    return JSONResponse({"token": "issued"})


@app.get("/search")
def search(q: str = Query(max_length=200)) -> dict[str, Any]:
    return {"query": q, "results": []}


@app.get("/api/items", response_model=list[Item])
def items() -> list[dict[str, Any]]:
    return [{"id": 1, "name": "widget"}, {"id": 2, "name": "gadget"}]


@app.get("/api/broken", response_model=None, responses={200: {"model": Item}})
def broken() -> Response:
    """Declares an Item and answers something else: the schema drift the smoke is for."""
    return JSONResponse({"id": "not-an-int", "name": "widget"})


@app.get("/api/crash")
def crash() -> dict[str, str]:
    raise RuntimeError("the database is gone")


@app.get("/api/items/{item_id}", response_model=Item)
def item(item_id: int) -> dict[str, Any]:
    return {"id": item_id, "name": "widget"}


@app.get("/api/search", response_model=list[Item])
def api_search(q: str) -> list[dict[str, Any]]:
    return []


@app.get("/admin/stats")
def admin_stats() -> dict[str, int]:
    return {"users": 3}


# OpenAPI 3.0, as YAML, served under a relative server prefix: `nullable` is not JSON Schema,
# and the required parameter comes through a $ref.
LEGACY = {
    "openapi": "3.0.3",
    "info": {"title": "legacy", "version": "1"},
    "servers": [{"url": "/legacy"}],
    "paths": {
        "/maybe": {
            "get": {
                "operationId": "maybe",
                "responses": {
                    "200": {
                        "description": "ok",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Maybe"}}
                        },
                    }
                },
            }
        },
        "/keyed": {
            "get": {
                "parameters": [{"$ref": "#/components/parameters/Key"}],
                "responses": {"200": {"description": "ok"}},
            }
        },
    },
    "components": {
        "parameters": {
            "Key": {"name": "key", "in": "query", "required": True, "schema": {"type": "string"}}
        },
        "schemas": {
            "Maybe": {
                "type": "object",
                "required": ["id", "note"],
                "properties": {
                    "id": {"type": "integer"},
                    "note": {"type": "string", "nullable": True},
                    "owner": {"allOf": [{"$ref": "#/components/schemas/Owner"}], "nullable": True},
                },
            },
            "Owner": {"type": "object", "required": ["name"], "properties": {"name": {}}},
        },
    },
}


@app.get("/legacy/openapi.yaml", include_in_schema=False)
def legacy_document() -> Response:
    return PlainTextResponse(yaml.safe_dump(LEGACY), media_type="application/yaml")


@app.get("/legacy/maybe", include_in_schema=False)
def legacy_maybe(request: Request) -> dict[str, Any]:
    PROBE_HEADERS.append(request.headers.get("x-gonogo-probe", ""))
    return {"id": 1, "note": None, "owner": None}


@app.get("/foreign/openapi.json", include_in_schema=False)
def foreign_document() -> dict[str, Any]:
    """Names a host the environment never named; the smoke must stay on this one."""
    document = app.openapi()
    return {**document, "servers": [{"url": "https://elsewhere.example/v2"}]}


@app.get("/same-origin/openapi.json", include_in_schema=False)
def same_origin_document(request: Request) -> dict[str, Any]:
    """An absolute server URL on the document's own origin, with a variable."""
    origin = str(request.base_url).rstrip("/")
    server = {"url": origin + "/{prefix}", "variables": {"prefix": {"default": "legacy"}}}
    return {**LEGACY, "servers": [server]}


def serve() -> AbstractContextManager[str]:
    """Run the app on a free loopback port; yields its base URL and stops it afterwards."""
    # The generic 500 handler still hands the exception on, for uvicorn to log; these are
    # the errors the tests ask for, not news.
    return asgi_server.serve(app, log_level="critical")
