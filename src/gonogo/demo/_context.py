"""What every route of the demo API gets: its release's settings, stores and metrics, the
logged-in user, and the error answers to declare in the OpenAPI document."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gonogo.demo._metrics import Metrics
from gonogo.demo._models import Detail
from gonogo.demo._settings import Settings
from gonogo.demo._store import Store

__all__ = ["AppContext", "Context", "User", "errors", "raw_answer"]


@dataclass(frozen=True)
class AppContext:
    settings: Settings
    store: Store
    metrics: Metrics


def _context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


Context = Annotated[AppContext, Depends(_context)]
_bearer = HTTPBearer(auto_error=False)


def _current_user(
    context: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    user = None if credentials is None else context.store.token_user(credentials.credentials)
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="not authenticated",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return user


User = Annotated[str, Depends(_current_user)]


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": Detail} for code in codes}


def raw_answer(media_type: str, description: str) -> dict[int | str, dict[str, Any]]:
    """A 200 that is not JSON, described as such in the OpenAPI document."""
    schema = {"type": "string", "format": "binary"}
    return {200: {"content": {media_type: {"schema": schema}}, "description": description}}
