"""The demo API: release blue passes the gate, release green carries planted regressions.

Green differs from blue only where the gate must notice: `/health/ready` reports pending
migrations, `/api/v1/catalog` fails with a 500, `/api/v1/status` answers too slowly, the
session cookie loses HttpOnly, Secure and SameSite=Strict, and CORS lets any origin in with
credentials.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import redis
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from pydantic import BaseModel, ConfigDict, Field
from redis.backoff import NoBackoff
from redis.retry import Retry
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["APP_ORIGIN", "RELEASES", "TOKEN_TTL_S", "USERNAME", "Settings", "app", "create_app"]

RELEASES = {"blue": "1.4.2", "green": "1.5.0"}
USERNAME = "demo"
TOKEN_TTL_S = 3600
# Health answers must stay fast when Redis hangs; a readiness probe with a 1 s budget
# has to get a "down" rather than a timeout.
_REDIS_TIMEOUT_S = 0.5
_GREEN_STATUS_DELAY_S = 0.6
# The one web front end allowed to call the API from a browser.
APP_ORIGIN = "https://app.demo.test"
_STATIC_CSS = b"body { font-family: sans-serif; }\n"
_KEY_PREFIX = "gonogo-demo"
_ITEMS_KEY = f"{_KEY_PREFIX}:items"
_CATALOG = (
    {"sku": "GNG-001", "name": "Canary cage", "price_cents": 4900},
    {"sku": "GNG-002", "name": "Traffic light, three-colour", "price_cents": 12900},
    {"sku": "GNG-003", "name": "Rollback lever", "price_cents": 2500},
)


@dataclass(frozen=True)
class Settings:
    """What one API process needs to know, handed over by the supervisor through its environment."""

    release: str
    password: str
    redis_port: int
    redis_password: str
    redis_host: str = "127.0.0.1"

    @property
    def version(self) -> str:
        return RELEASES[self.release]

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        release = _required(environ, "GONOGO_DEMO_RELEASE")
        if release not in RELEASES:
            raise ValueError(
                f"GONOGO_DEMO_RELEASE: expected one of {', '.join(RELEASES)}, got {release!r}"
            )
        port_text = _required(environ, "GONOGO_DEMO_REDIS_PORT")
        try:
            redis_port = int(port_text)
        except ValueError:
            raise ValueError(
                f"GONOGO_DEMO_REDIS_PORT: expected a port number, got {port_text!r}"
            ) from None
        return cls(
            release=release,
            password=_required(environ, "GONOGO_DEMO_PASSWORD"),
            redis_port=redis_port,
            redis_password=_required(environ, "GONOGO_DEMO_REDIS_PASSWORD"),
            redis_host=environ.get("GONOGO_DEMO_REDIS_HOST", "127.0.0.1"),
        )


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "")
    if not value:
        raise ValueError(f"{name}: not set; start the API through `gonogo demo up`, which sets it")
    return value


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(max_length=100)
    password: str = Field(max_length=1000)


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=1000)


class Item(BaseModel):
    id: str
    name: str
    description: str


ItemId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]


class _Metrics:
    """Request counters and latency histograms, in a registry of their own.

    Labels carry the route template, never the raw path: `/api/v1/items/<id>` would
    otherwise create one time series per item.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests answered, by method, route template and status code.",
            ["method", "path", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template.",
            ["method", "path"],
            registry=self.registry,
        )


class _MetricsMiddleware:
    """Pure ASGI so the status code comes from the response actually sent."""

    def __init__(self, app: ASGIApp, metrics: _Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status_code = 500  # what the client gets if the app raises before answering
        started = time.perf_counter()

        async def send_with_status(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "<unmatched>"
            method = scope["method"]
            self.metrics.requests.labels(method, path, str(status_code)).inc()
            self.metrics.duration.labels(method, path).observe(time.perf_counter() - started)


@dataclass(frozen=True)
class _Context:
    settings: Settings
    store: redis.Redis
    metrics: _Metrics


def _context(request: Request) -> _Context:
    context: _Context = request.app.state.context
    return context


Context = Annotated[_Context, Depends(_context)]
_bearer = HTTPBearer(auto_error=False)


def _current_user(
    context: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    user = None if credentials is None else context.store.get(_token_key(credentials.credentials))
    if not isinstance(user, str):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="not authenticated",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return user


User = Annotated[str, Depends(_current_user)]
_router = APIRouter()


def create_app(settings: Settings) -> FastAPI:
    """Build the API for one release; Redis is only contacted once a request needs it."""
    store = redis.Redis(
        host=settings.redis_host,
        port=settings.redis_port,
        password=settings.redis_password,
        socket_timeout=_REDIS_TIMEOUT_S,
        socket_connect_timeout=_REDIS_TIMEOUT_S,
        # Retrying would multiply the timeout and hide an outage from /health.
        retry=Retry(NoBackoff(), retries=0),
        decode_responses=True,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    # No interactive docs or schema: the demo stands in for a production service.
    api = FastAPI(
        title="gonogo demo API",
        version=settings.version,
        debug=False,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    metrics = _Metrics()
    api.state.context = _Context(settings=settings, store=store, metrics=metrics)
    api.add_middleware(_MetricsMiddleware, metrics=metrics)
    if settings.release == "green":
        # The classic mistake: reflect whatever origin asks, credentials included.
        api.add_middleware(
            CORSMiddleware, allow_origin_regex=".*", allow_credentials=True, allow_methods=["*"]
        )
    else:
        api.add_middleware(
            CORSMiddleware,
            allow_origins=[APP_ORIGIN],
            allow_credentials=True,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    api.add_exception_handler(RequestValidationError, _invalid_request)
    api.add_exception_handler(redis.RedisError, _storage_unavailable)
    api.add_exception_handler(Exception, _internal_error)
    api.include_router(_router)
    return api


async def _invalid_request(_: Request, exc: Exception) -> JSONResponse:
    # FastAPI's default echoes the rejected input, which may be megabytes or a password.
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    detail = [{key: error.get(key) for key in ("type", "loc", "msg")} for error in errors]
    return JSONResponse({"detail": detail}, status_code=422)


async def _storage_unavailable(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": "storage unavailable"}, status_code=503)


async def _internal_error(_: Request, exc: Exception) -> JSONResponse:
    # Generic on purpose: the traceback goes to the server log, never to the client.
    return JSONResponse({"detail": "internal server error"}, status_code=500)


def _identity(settings: Settings) -> dict[str, str]:
    return {"release": settings.release, "version": settings.version}


@_router.get("/health")
def health(context: Context) -> JSONResponse:
    check = _redis_check(context.store)
    healthy = check["status"] == "ok"
    body = {
        "status": "ok" if healthy else "unhealthy",
        **_identity(context.settings),
        "checks": {"redis": check},
    }
    return JSONResponse(body, status_code=200 if healthy else 503)


@_router.get("/health/live")
async def live(context: Context) -> dict[str, str]:
    return {"status": "alive", **_identity(context.settings)}


@_router.get("/health/ready")
def ready(context: Context) -> JSONResponse:
    if context.settings.release == "green":
        body = {"status": "not ready", "reason": "database migrations pending"}
        return JSONResponse(body, status_code=503)
    if _redis_check(context.store)["status"] != "ok":
        return JSONResponse({"status": "not ready", "reason": "redis down"}, status_code=503)
    return JSONResponse({"status": "ready"})


def _redis_check(store: redis.Redis) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        store.ping()
    except redis.RedisError as exc:
        return {"status": "down", "error": (str(exc) or type(exc).__name__)[:200]}
    return {"status": "ok", "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


@_router.get("/metrics")
async def prometheus_metrics(context: Context) -> Response:
    return Response(generate_latest(context.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@_router.get("/api/v1/status")
async def service_status(context: Context) -> dict[str, str]:
    if context.settings.release == "green":
        await asyncio.sleep(_GREEN_STATUS_DELAY_S)
    return {"service": "demo-api", **_identity(context.settings)}


@_router.get("/api/v1/catalog")
async def catalog(context: Context) -> JSONResponse:
    if context.settings.release == "green":
        return JSONResponse({"detail": "internal server error"}, status_code=500)
    return JSONResponse({"products": list(_CATALOG)})


@_router.post("/api/v1/login")
def login(body: LoginRequest, context: Context) -> JSONResponse:
    # Both comparisons always run, so timing tells nothing about which part was wrong.
    user_ok = hmac.compare_digest(body.username.encode(), USERNAME.encode())
    password_ok = hmac.compare_digest(body.password.encode(), context.settings.password.encode())
    if not (user_ok and password_ok):
        return JSONResponse({"detail": "invalid credentials"}, status_code=401)
    token = secrets.token_urlsafe(32)
    context.store.set(_token_key(token), USERNAME, ex=TOKEN_TTL_S)
    answer = JSONResponse(
        {"access_token": token, "token_type": "bearer", "expires_in": TOKEN_TTL_S}
    )
    if context.settings.release == "green":
        answer.set_cookie("session", token, max_age=TOKEN_TTL_S, httponly=False, samesite="lax")
    else:
        answer.set_cookie(
            "session", token, max_age=TOKEN_TTL_S, secure=True, httponly=True, samesite="strict"
        )
    return answer


@_router.post("/api/v1/password-reset", status_code=status.HTTP_202_ACCEPTED)
async def password_reset() -> dict[str, str]:
    # Nothing is sent anywhere; the route exists so nginx has a strictly limited path.
    return {"status": "accepted"}


@_router.get("/static/app.css")
async def stylesheet() -> Response:
    headers = {"Cache-Control": "public, max-age=31536000, immutable"}
    return Response(_STATIC_CSS, media_type="text/css", headers=headers)


@_router.get("/api/v1/items")
def list_items(context: Context, _: User) -> list[Item]:
    items = [Item.model_validate_json(raw) for raw in context.store.hvals(_ITEMS_KEY)]
    return sorted(items, key=lambda item: (item.name, item.id))


@_router.post("/api/v1/items", status_code=status.HTTP_201_CREATED)
def create_item(body: ItemIn, context: Context, _: User) -> Item:
    item = Item(id=uuid.uuid4().hex, **body.model_dump())
    context.store.hset(_ITEMS_KEY, item.id, item.model_dump_json())
    return item


@_router.get("/api/v1/items/{item_id}")
def get_item(item_id: ItemId, context: Context, _: User) -> Item:
    raw = context.store.hget(_ITEMS_KEY, item_id)
    if raw is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="item not found")
    return Item.model_validate_json(raw)


@_router.delete("/api/v1/items/{item_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_item(item_id: ItemId, context: Context, _: User) -> None:
    if not context.store.hdel(_ITEMS_KEY, item_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="item not found")


def _token_key(token: str) -> str:
    # Only a digest is stored, so reading Redis does not yield usable tokens.
    return f"{_KEY_PREFIX}:token:{hashlib.sha256(token.encode()).hexdigest()}"


app = create_app(Settings.from_environ(os.environ))
