"""The demo API's stored data, behind a bearer token: items, and files of up to 1 MiB."""

from __future__ import annotations

import hashlib
import uuid
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, HTTPException, Path, Response, UploadFile, status

from gonogo.demo._context import Context, User, errors, raw_answer
from gonogo.demo._models import FileInfo, Item, ItemIn
from gonogo.demo._store import bounded

__all__ = ["MAX_FILE_BYTES", "router"]

MAX_FILE_BYTES = 1024 * 1024
# Items and files get uuid4 hex ids; anything else is refused before storage is asked.
HexId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
router = APIRouter()


@router.get("/api/v1/items", responses=errors(401, 503))
async def list_items(context: Context, _: User) -> list[Item]:
    return await bounded(context.store.items)


@router.post("/api/v1/items", status_code=status.HTTP_201_CREATED, responses=errors(401, 503))
async def create_item(body: ItemIn, context: Context, _: User) -> Item:
    item = Item(id=uuid.uuid4().hex, **body.model_dump())
    await bounded(context.store.add_item, item)
    return item


@router.get("/api/v1/items/{item_id}", responses=errors(401, 404, 503))
async def get_item(item_id: HexId, context: Context, _: User) -> Item:
    item = await bounded(context.store.item, item_id)
    if item is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="item not found")
    return item


@router.delete(
    "/api/v1/items/{item_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(401, 404, 503),
)
async def delete_item(item_id: HexId, context: Context, _: User) -> None:
    if not await bounded(context.store.delete_item, item_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="item not found")


@router.post("/api/v1/files", status_code=status.HTTP_201_CREATED, responses=errors(401, 413, 503))
async def upload_file(file: Annotated[UploadFile, File()], context: Context, _: User) -> FileInfo:
    # One byte past the limit is enough to know the file is too large.
    data = await file.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            detail=f"file larger than {MAX_FILE_BYTES} bytes, the most this API stores",
        )
    info = FileInfo(
        id=uuid.uuid4().hex,
        filename=file.filename or "upload",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    content_type = file.content_type or "application/octet-stream"
    await bounded(context.store.add_file, info, content_type, data)
    return info


@router.get(
    "/api/v1/files/{file_id}",
    response_class=Response,
    responses={
        **raw_answer("application/octet-stream", "The bytes uploaded, with their content type"),
        **errors(401, 404, 503),
    },
)
async def download_file(file_id: HexId, context: Context, _: User) -> Response:
    stored = await bounded(context.store.file, file_id)
    if stored is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="file not found")
    data = stored.data
    if context.settings.release == "green":
        # green: the bytes pass through text, as if the file were read in text mode.
        data = data.decode("utf-8", errors="replace").encode()
    headers = {
        # Set directly: Starlette would add a charset to a text/* media type.
        "Content-Type": stored.content_type,
        # Attachment: an uploaded HTML file must not run as a page of the API's origin.
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(stored.filename)}",
    }
    return Response(data, headers=headers)


@router.delete(
    "/api/v1/files/{file_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(401, 404, 503),
)
async def delete_file(file_id: HexId, context: Context, _: User) -> None:
    if not await bounded(context.store.delete_file, file_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="file not found")
