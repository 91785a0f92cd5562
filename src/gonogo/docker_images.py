"""Container images built on this machine, for machines that can reach no image registry.

The base image is a root filesystem made of the distribution's busybox-static binary and
`docker import`ed; images for the demo, the tests and the benchmark are built FROM it with
an ordinary Dockerfile, so they carry a real USER and HEALTHCHECK. Both steps are skipped
when an image made from the same inputs is already there.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import tarfile
from pathlib import Path

import docker
import docker.errors

from gonogo.errors import DemoError

__all__ = ["BASE_REPOSITORY", "base_image", "build_image"]

BASE_REPOSITORY = "gonogo-busybox"
_INPUTS_LABEL = "org.gonogo.inputs"
_USERS = "root:x:0:0:root:/root:/bin/sh\napp:x:10001:10001:app:/home/app:/bin/sh\n"
_GROUP = "root:x:0:\napp:x:10001:\n"
_INDEX = "gonogo\n"


def base_image(client: docker.DockerClient) -> str:
    """The busybox base image's reference, imported once per busybox binary."""
    busybox = _busybox()
    binary = busybox.read_bytes()
    tag = hashlib.sha256(binary + _USERS.encode() + _GROUP.encode()).hexdigest()[:12]
    reference = f"{BASE_REPOSITORY}:{tag}"
    if not _exists(client, reference):
        client.api.import_image_from_data(_rootfs(binary), repository=BASE_REPOSITORY, tag=tag)
    return reference


def build_image(client: docker.DockerClient, reference: str, dockerfile: str) -> str:
    """Build `reference` from `dockerfile` (its FROM may say {base}); reused while unchanged."""
    text = dockerfile.format(base=base_image(client))
    inputs = hashlib.sha256(text.encode()).hexdigest()
    try:
        if client.images.get(reference).labels.get(_INPUTS_LABEL) == inputs:
            return reference
    except docker.errors.ImageNotFound:
        pass
    try:
        client.images.build(
            fileobj=io.BytesIO(text.encode()),
            tag=reference,
            labels={_INPUTS_LABEL: inputs},
            rm=True,
            forcerm=True,
            timeout=120,
        )
    except docker.errors.BuildError as exc:
        log = "".join(str(line.get("stream", line.get("error", ""))) for line in exc.build_log)
        raise DemoError(f"building image {reference} failed: {exc.msg}\n{log[-2000:]}") from None
    return reference


def _busybox() -> Path:
    found = shutil.which("busybox") or "/bin/busybox"
    path = Path(found)
    if not path.is_file():
        raise DemoError(
            "busybox not found: the local container images are made from the busybox-static "
            "binary; run scripts/install-system-packages.sh "
            "(Debian: apt-get install busybox-static)"
        )
    return path


def _exists(client: docker.DockerClient, reference: str) -> bool:
    try:
        client.images.get(reference)
    except docker.errors.ImageNotFound:
        return False
    return True


def _rootfs(busybox: bytes) -> bytes:
    """A tar of /bin/busybox with its applets as symlinks, users root and app, /tmp and /www."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for directory, mode in (("bin", 0o755), ("etc", 0o755), ("tmp", 0o1777), ("www", 0o755)):
            _add(tar, directory, tarfile.DIRTYPE, mode)
        _add(tar, "home", tarfile.DIRTYPE, 0o755)
        _add(tar, "home/app", tarfile.DIRTYPE, 0o755, uid=10001)
        _add(tar, "bin/busybox", tarfile.REGTYPE, 0o755, data=busybox)
        for applet in _applets():
            _add(tar, f"bin/{applet}", tarfile.SYMTYPE, 0o777, link="busybox")
        _add(tar, "etc/passwd", tarfile.REGTYPE, 0o644, data=_USERS.encode())
        _add(tar, "etc/group", tarfile.REGTYPE, 0o644, data=_GROUP.encode())
        _add(tar, "www/index.html", tarfile.REGTYPE, 0o644, data=_INDEX.encode())
    return buffer.getvalue()


def _applets() -> list[str]:
    # The static binary lists its own applets; a fixed core keeps the image usable regardless.
    core = ["sh", "httpd", "wget", "sleep", "cat", "echo", "id", "ls", "nc", "stat", "ps"]
    try:
        listed = subprocess.run(  # noqa: S603 - fixed argv
            [str(_busybox()), "--list"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        listed = []
    return sorted({*core, *(name for name in listed if "/" not in name and name != "busybox")})


def _add(
    tar: tarfile.TarFile,
    name: str,
    kind: bytes,
    mode: int,
    *,
    data: bytes = b"",
    link: str = "",
    uid: int = 0,
) -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.uid = info.gid = uid
    info.linkname = link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
