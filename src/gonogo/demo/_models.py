"""What the demo API accepts and answers: the routes declare these, so the OpenAPI document it
publishes describes the real answers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Catalog",
    "Check",
    "Detail",
    "FeedbackIn",
    "FileInfo",
    "Health",
    "Item",
    "ItemIn",
    "Live",
    "LoginRequest",
    "Product",
    "Ready",
    "ServiceStatus",
    "Token",
]


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(max_length=100)
    password: str = Field(max_length=1000)


class FeedbackIn(BaseModel):
    """The documents' bad-input rule: a message of at most 1000 characters."""

    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    message: str = Field(min_length=1, max_length=1000)
    rating: int = Field(ge=1, le=5)


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 -- a scheme name, not a secret
    expires_in: int


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=1000)


class Item(BaseModel):
    id: str
    name: str
    description: str


class FileInfo(BaseModel):
    id: str
    filename: str
    size: int
    sha256: str


class Check(BaseModel):
    """One dependency as /health saw it: `latency_ms` when it answered, `error` when not."""

    status: Literal["ok", "down"]
    latency_ms: float | None = None
    error: str | None = None


class Health(BaseModel):
    status: Literal["ok", "unhealthy"]
    release: str
    version: str
    checks: dict[str, Check]


class Live(BaseModel):
    status: Literal["alive"]
    release: str
    version: str


class Ready(BaseModel):
    status: Literal["ready", "not ready"]
    reason: str | None = None


class ServiceStatus(BaseModel):
    service: str
    release: str
    version: str


class Product(BaseModel):
    sku: str
    name: str
    price_cents: int


class Catalog(BaseModel):
    products: list[Product]


class Detail(BaseModel):
    """An error answer; its text is fixed, never the rejected input."""

    detail: str
