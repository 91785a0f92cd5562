"""The demo API: release blue passes the gate, release green carries planted regressions.

Green differs from blue only where the gate must notice: `/health/ready` reports pending
migrations, `/api/v1/catalog` fails with a 500, `/api/v1/status` answers too slowly, the
session cookie loses HttpOnly, Secure and SameSite=Strict, CORS lets any origin in with
credentials, a downloaded file comes back through text decoding (ASCII survives, binary
does not), and `/api/v1/login` lost its request model: a body without two strings is a 500
instead of a 422, and so is a feedback form without a numeric rating.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
import redis
from fastapi import APIRouter, FastAPI, HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gonogo.demo._context import AppContext, Context, errors, raw_answer
from gonogo.demo._data_routes import router as data_router
from gonogo.demo._metrics import Metrics, MetricsMiddleware
from gonogo.demo._models import (
    Catalog,
    Check,
    FeedbackIn,
    Health,
    Live,
    LoginRequest,
    Ready,
    ServiceStatus,
    Token,
)
from gonogo.demo._settings import RELEASES, Settings
from gonogo.demo._store import StorageTimeout, Store, bounded

__all__ = [
    "APP_ORIGIN",
    "RELEASES",
    "TOKEN_TTL_S",
    "USERNAME",
    "Settings",
    "app",
    "create_app",
]

USERNAME = "demo"
TOKEN_TTL_S = 3600
_GREEN_STATUS_DELAY_S = 0.6
# The one web front end allowed to call the API from a browser.
APP_ORIGIN = "https://app.demo.test"
_STATIC_CSS = b"body { font-family: sans-serif; }\n"
_CATALOG = Catalog.model_validate(
    {
        "products": [
            {"sku": "GNG-001", "name": "Canary cage", "price_cents": 4900},
            {"sku": "GNG-002", "name": "Traffic light, three-colour", "price_cents": 12900},
            {"sku": "GNG-003", "name": "Rollback lever", "price_cents": 2500},
        ]
    }
)

_router = APIRouter()


def create_app(settings: Settings) -> FastAPI:
    """Build the API for one release; the stores are only contacted once a request needs them."""
    store = Store(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    # The document is published for clients and the gate; interactive docs stay off, as on
    # a production service.
    api = FastAPI(
        title="gonogo demo API",
        version=settings.version,
        debug=False,
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
        lifespan=lifespan,
    )
    metrics = Metrics()
    api.state.context = AppContext(settings=settings, store=store, metrics=metrics)
    api.add_middleware(MetricsMiddleware, metrics=metrics)
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
    for unavailable in (redis.RedisError, psycopg.OperationalError, StorageTimeout):
        api.add_exception_handler(unavailable, _storage_unavailable)
    api.add_exception_handler(Exception, _internal_error)
    api.include_router(_router)
    api.include_router(data_router)
    api.add_api_route(
        "/api/v1/login",
        _green_login if settings.release == "green" else _login,
        methods=["POST"],
        response_model=Token,
        responses=errors(401, 503),
    )
    api.add_api_route(
        "/api/v1/feedback",
        _green_feedback if settings.release == "green" else _feedback,
        methods=["POST"],
        status_code=status.HTTP_202_ACCEPTED,
    )
    return api


async def _invalid_request(_: Request, exc: Exception) -> JSONResponse:
    # FastAPI's default echoes the rejected input, which may be megabytes or a password.
    problems = exc.errors() if isinstance(exc, RequestValidationError) else []
    detail = [{key: problem.get(key) for key in ("type", "loc", "msg")} for problem in problems]
    return JSONResponse({"detail": detail}, status_code=422)


async def _storage_unavailable(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": "storage unavailable"}, status_code=503)


async def _internal_error(_: Request, exc: Exception) -> JSONResponse:
    # Generic on purpose: the traceback goes to the server log, never to the client.
    return JSONResponse({"detail": "internal server error"}, status_code=500)


@_router.get("/health", response_model=Health, responses={503: {"model": Health}})
async def health(context: Context) -> JSONResponse:
    checks = await _checks(context)
    healthy = all(check.status == "ok" for check in checks.values())
    body = Health(
        status="ok" if healthy else "unhealthy",
        release=context.settings.release,
        version=context.settings.version,
        checks=checks,
    )
    return JSONResponse(body.model_dump(exclude_none=True), status_code=200 if healthy else 503)


@_router.get("/health/live")
async def live(context: Context) -> Live:
    return Live(status="alive", release=context.settings.release, version=context.settings.version)


@_router.get("/health/ready", response_model=Ready, responses={503: {"model": Ready}})
async def ready(context: Context) -> JSONResponse:
    if context.settings.release == "green":
        body = {"status": "not ready", "reason": "database migrations pending"}
        return JSONResponse(body, status_code=503)
    for name, check in (await _checks(context)).items():
        if check.status != "ok":
            return JSONResponse({"status": "not ready", "reason": f"{name} down"}, status_code=503)
    return JSONResponse({"status": "ready"})


async def _checks(context: AppContext) -> dict[str, Check]:
    # At once: the answer takes as long as the slower check, not as long as both.
    redis_check, postgres_check = await asyncio.gather(
        context.store.check_redis(), context.store.check_postgres()
    )
    return {"redis": redis_check, "postgres": postgres_check}


@_router.get(
    "/metrics",
    response_class=Response,
    responses=raw_answer("text/plain", "Prometheus text exposition format"),
)
async def prometheus_metrics(context: Context) -> Response:
    return Response(generate_latest(context.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@_router.get("/api/v1/status")
async def service_status(context: Context) -> ServiceStatus:
    if context.settings.release == "green":
        await asyncio.sleep(_GREEN_STATUS_DELAY_S)
    return ServiceStatus(
        service="demo-api", release=context.settings.release, version=context.settings.version
    )


@_router.get("/api/v1/catalog", response_model=Catalog, responses=errors(500))
async def catalog(context: Context) -> JSONResponse:
    if context.settings.release == "green":
        return JSONResponse({"detail": "internal server error"}, status_code=500)
    return JSONResponse(_CATALOG.model_dump())


async def _login(body: LoginRequest, context: Context) -> Response:
    return await _issue_token(context, body.username.encode(), body.password.encode())


async def _green_login(request: Request, context: Context) -> Response:
    # green: the request model went missing in a refactor, so nothing checks the body's shape
    # any more; a number, a list or a missing field fails in here, as a 500.
    body = await request.json()
    return await _issue_token(context, body["username"].encode(), body["password"].encode())


async def _issue_token(context: Context, username: bytes, password: bytes) -> Response:
    # Both comparisons always run, so timing tells nothing about which part was wrong.
    user_ok = hmac.compare_digest(username, USERNAME.encode())
    password_ok = hmac.compare_digest(password, context.settings.password.encode())
    if not (user_ok and password_ok):
        return JSONResponse({"detail": "invalid credentials"}, status_code=401)
    token = secrets.token_urlsafe(32)
    await bounded(context.store.save_token, token, USERNAME, TOKEN_TTL_S)
    answer = JSONResponse(Token(access_token=token, expires_in=TOKEN_TTL_S).model_dump())
    if context.settings.release == "green":
        answer.set_cookie("session", token, max_age=TOKEN_TTL_S, httponly=False, samesite="lax")
    else:
        answer.set_cookie(
            "session", token, max_age=TOKEN_TTL_S, secure=True, httponly=True, samesite="strict"
        )
    return answer


async def _feedback(body: FeedbackIn) -> dict[str, str]:
    # Nothing is stored: the route is the unauthenticated, unthrottled form the negative
    # smoke exercises (the login is rate limited, so a burst there only meets 429s).
    return {"status": "accepted"}


async def _green_feedback(request: Request) -> dict[str, str]:
    # green: hand-rolled parsing replaced the model; a missing or non-numeric rating is a 500.
    body = await request.json()
    if not 1 <= int(body["rating"]) <= 5:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, detail="rating out of range")
    return {"status": "accepted"}


@_router.post("/api/v1/password-reset", status_code=status.HTTP_202_ACCEPTED)
async def password_reset() -> dict[str, str]:
    # Nothing is sent anywhere; the route exists so nginx has a strictly limited path.
    return {"status": "accepted"}


@_router.get(
    "/static/app.css", response_class=Response, responses=raw_answer("text/css", "The stylesheet")
)
async def stylesheet() -> Response:
    headers = {"Cache-Control": "public, max-age=31536000, immutable"}
    return Response(_STATIC_CSS, media_type="text/css", headers=headers)


app = create_app(Settings.from_environ(os.environ))
