"""The staging zone resource: one interface, a local-folder and an S3 implementation."""

from __future__ import annotations

import json
import os
import stat
import uuid
from abc import abstractmethod
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

import boto3
import dagster as dg
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import Field, PrivateAttr

#: Page size for ListObjectsV2 (1000 is S3's maximum); a module constant so tests can shrink it.
_LIST_PAGE_SIZE = 1000

#: S3 error codes that mean "no object at this key".
_MISSING_KEY_CODES = frozenset({"NoSuchKey", "NotFound", "404"})


class StagingZoneError(RuntimeError):
    """The staging zone could not be reached or refused an operation (after any retries)."""


def _check_key(key: str) -> str:
    """The key unchanged if it is a clean relative '/'-separated path, else ValueError."""
    if not isinstance(key, str) or not key:
        raise ValueError(f"Staging key must be a non-empty string, got {key!r}")
    if key.startswith("/") or "\\" in key or "\x00" in key:
        raise ValueError(f"Staging key must be a relative '/'-separated path, got {key!r}")
    parts = key.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"Staging key must not contain empty, '.' or '..' segments, got {key!r}")
    return key


def _check_prefix(prefix: str) -> str:
    """A listing prefix: empty, or a key-like string that may end with '/'."""
    if prefix:
        _check_key(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


def jsonl_bytes(records: Iterable[dict[str, Any]]) -> bytes:
    """Records as JSONL: one JSON object per line, UTF-8, non-ASCII kept as is, others via ``str``."""
    lines = [json.dumps(record, ensure_ascii=False, default=str) + "\n" for record in records]
    return "".join(lines).encode("utf-8")


class StagingZone(dg.ConfigurableResource):
    """Where each stage lands its intermediate files, addressed by relative '/'-separated keys.

    Asset code annotates ``staging: StagingZone`` and receives whichever implementation is
    bound to the ``staging`` resource key (:class:`LocalStagingZone` or :class:`S3StagingZone`).
    Every write is publish-atomic: a reader sees the old object, the new one, or none.
    """

    @abstractmethod
    def write_bytes(self, key: str, data: bytes) -> str:
        """Store ``data`` at ``key`` atomically and return the URI written."""

    @abstractmethod
    def read_bytes(self, key: str) -> bytes:
        """The bytes at ``key``; FileNotFoundError naming the key and the zone if absent."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether an object is stored at ``key``."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object at ``key``; a missing key is not an error."""

    @abstractmethod
    def list_keys(self, prefix: str = "") -> list[str]:
        """Sorted relative keys starting with ``prefix`` (plain string match, as in S3)."""

    def copy(self, source_key: str, target_key: str) -> str:
        """Copy the object at ``source_key`` to ``target_key`` (publish-atomic); the URI written."""
        return self.write_bytes(target_key, self.read_bytes(source_key))

    @abstractmethod
    def uri(self, key: str) -> str:
        """The absolute URI of ``key`` (``file:///…`` or ``s3://…``)."""

    @abstractmethod
    def describe(self) -> str:
        """A human-readable location of the zone, for metadata and messages."""

    def write_jsonl(self, key: str, records: Iterable[dict[str, Any]]) -> str:
        """One JSON object per line, UTF-8, non-ASCII kept as is; dates and such via ``str``."""
        return self.write_bytes(key, jsonl_bytes(records))

    def read_jsonl(self, key: str) -> list[dict[str, Any]]:
        """The records written by :meth:`write_jsonl`; blank lines are skipped."""
        text = self.read_bytes(key).decode("utf-8")
        # split("\n"), not splitlines(): U+2028, U+0085 etc. may appear raw inside JSON strings.
        return [json.loads(line) for line in text.split("\n") if line.strip()]

    def write_json(self, key: str, obj: Any) -> str:
        """One JSON document, UTF-8, indented, non-ASCII kept as is; dates and such via ``str``."""
        text = json.dumps(obj, ensure_ascii=False, default=str, indent=2) + "\n"
        return self.write_bytes(key, text.encode("utf-8"))

    def read_json(self, key: str) -> Any:
        """The document written by :meth:`write_json`."""
        return json.loads(self.read_bytes(key).decode("utf-8"))


class LocalStagingZone(StagingZone):
    """A staging zone in a local folder, for development and tests."""

    root: str = Field(
        default=".forecast/staging",
        description="Folder of the zone; a relative path is resolved against the working directory at use time.",
    )

    #: (working directory, resolved root) of the last resolution: a run reads thousands of keys
    _resolved_root: tuple[str, Path] | None = PrivateAttr(default=None)

    def _root(self) -> Path:
        cwd = os.getcwd()
        known = self._resolved_root
        if known is None or known[0] != cwd:
            known = self._resolved_root = (cwd, (Path(cwd) / Path(self.root).expanduser()).resolve())
        return known[1]

    def _path(self, key: str) -> Path:
        root = self._root()
        parts = _check_key(key).split("/")
        # The root is resolved and the key has no '..': only a symlink among the key's own folders and file
        # could lead out of the zone. lstat those (a few calls, not a resolve of the whole path); a link found
        # means resolving the path and checking where it lands.
        current = str(root)
        for part in parts:
            current = f"{current}/{part}"
            try:
                mode = os.lstat(current).st_mode
            except OSError:  # nothing exists below: no link to follow
                break
            if stat.S_ISLNK(mode):
                return self._resolved_inside(root, key)
        return Path(str(root), *parts)

    def _resolved_inside(self, root: Path, key: str) -> Path:
        path = (root / PurePosixPath(key)).resolve()
        if not path.is_relative_to(root) or path == root:
            raise ValueError(f"Staging key {key!r} escapes the zone root {root}")
        return path

    def _failure(self, operation: str, key: str, path: Path, exc: OSError) -> StagingZoneError:
        return StagingZoneError(
            f"Local staging zone {self.describe()}: cannot {operation} key {key!r} at {path}: "
            f"{type(exc).__name__}: {_local_cause(path, exc)}. Make {self.describe()} a writable folder, "
            "or point FORECAST_STAGING_DIR at a writable folder."
        )

    def write_bytes(self, key: str, data: bytes) -> str:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # A hidden temporary file in the same folder, so os.replace is an atomic rename.
            tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except OSError as exc:
            raise self._failure("write", key, path, exc) from exc
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException as exc:
            tmp.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise self._failure("write", key, path, exc) from exc
            raise
        _fsync_dir(path.parent)
        return path.as_uri()

    def read_bytes(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise FileNotFoundError(f"Staging key {key!r} not found in local staging zone {self.describe()}") from None
        except OSError as exc:
            raise self._failure("read", key, path, exc) from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise self._failure("delete", key, path, exc) from exc

    def list_keys(self, prefix: str = "") -> list[str]:
        root = self._root()
        _check_prefix(prefix)
        # Walk only the deepest folder the prefix names, then match the rest as a string.
        start = root / PurePosixPath(prefix.rpartition("/")[0]) if "/" in prefix else root
        if not start.is_dir():
            return []
        keys = []
        for dirpath, _dirnames, filenames in os.walk(start):
            for name in filenames:
                if name.startswith(".") and name.endswith(".tmp"):
                    continue  # an in-flight write
                key = (Path(dirpath) / name).relative_to(root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def uri(self, key: str) -> str:
        return self._path(key).as_uri()

    def describe(self) -> str:
        return str(self._root())


def _local_cause(path: Path, exc: OSError) -> str:
    """Why ``exc`` happened at ``path``, in words: a file where a folder should be, or the OS reason."""
    if isinstance(exc, (NotADirectoryError, FileExistsError)):
        for folder in path.parents:
            if folder.exists():
                if not folder.is_dir():
                    return f"{folder} is a file where a folder of the zone should be"
                break
    if isinstance(exc, PermissionError):
        return f"{exc.strerror} for user id {os.geteuid()} ({exc.filename}): the folder is not writable"
    return f"{exc.strerror or exc} ({exc.filename})" if exc.filename else str(exc)


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort: not every platform can open folders)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class S3StagingZone(StagingZone):
    """A staging zone in an S3 bucket (or any S3-compatible store via ``endpoint_url``).

    Credentials come from boto3's default chain (environment, ECS task role, profile), never
    from this configuration.
    """

    bucket: str = Field(description="Bucket holding the zone.")
    prefix: str = Field(default="", description="Key prefix of the zone inside the bucket, e.g. 'forecast/staging'.")
    region_name: str | None = Field(default=None, description="AWS region; None uses boto3's default.")
    endpoint_url: str | None = Field(
        default=None, description="S3-compatible endpoint (MinIO, moto); None uses AWS S3."
    )
    server_side_encryption: str | None = Field(
        default="AES256", description="ServerSideEncryption sent on every PutObject; None sends none."
    )
    max_attempts: int = Field(
        default=5, description="Total attempts per call, first one included (botocore 'standard' retry mode)."
    )
    connect_timeout_seconds: float = Field(default=5, description="Socket connect timeout per attempt.")
    read_timeout_seconds: float = Field(default=30, description="Socket read timeout per attempt.")

    _client: Any = PrivateAttr(default=None)

    def _get_client(self) -> Any:
        # boto3 directly rather than dagster_aws.s3.S3Resource: S3Resource.get_client() builds its
        # botocore Config from max_attempts only and cannot take connect/read timeouts.
        # Created once per resource instance; botocore clients are thread-safe.
        # botocore's retries["max_attempts"] counts retries *after* the first call (5 -> 6 calls);
        # "total_max_attempts" counts every call, which is what this field promises.
        if self._client is None:
            config = Config(
                retries={"total_max_attempts": self.max_attempts, "mode": "standard"},
                connect_timeout=self.connect_timeout_seconds,
                read_timeout=self.read_timeout_seconds,
            )
            self._client = boto3.session.Session().client(
                "s3", region_name=self.region_name, endpoint_url=self.endpoint_url, config=config
            )
        return self._client

    def _base(self) -> str:
        return self.prefix.strip("/")

    def _object_key(self, key: str) -> str:
        base = self._base()
        return f"{base}/{_check_key(key)}" if base else _check_key(key)

    def _endpoint(self) -> str:
        return self.endpoint_url or self._get_client().meta.endpoint_url

    def _failure(self, operation: str, object_key: str, exc: Exception) -> StagingZoneError:
        return StagingZoneError(
            f"S3 staging zone: {operation} failed for bucket {self.bucket!r}, key {object_key!r} "
            f"at endpoint {self._endpoint()} (max_attempts={self.max_attempts}): "
            f"{type(exc).__name__}: {exc}"
        )

    def write_bytes(self, key: str, data: bytes) -> str:
        object_key = self._object_key(key)
        extra = {"ServerSideEncryption": self.server_side_encryption} if self.server_side_encryption else {}
        try:
            # Always a single PutObject (atomic), even for large payloads: no multipart upload.
            self._get_client().put_object(Bucket=self.bucket, Key=object_key, Body=data, **extra)
        except (BotoCoreError, ClientError) as exc:
            raise self._failure("PutObject", object_key, exc) from exc
        return self.uri(key)

    def copy(self, source_key: str, target_key: str) -> str:
        source, target = self._object_key(source_key), self._object_key(target_key)
        extra = {"ServerSideEncryption": self.server_side_encryption} if self.server_side_encryption else {}
        try:
            # Server side: the bytes never leave S3; one CopyObject is atomic like a PutObject.
            self._get_client().copy_object(
                Bucket=self.bucket, Key=target, CopySource={"Bucket": self.bucket, "Key": source}, **extra
            )
        except ClientError as exc:
            if _error_code(exc) in _MISSING_KEY_CODES:
                raise FileNotFoundError(
                    f"Staging key {source_key!r} not found in S3 staging zone {self.describe()} "
                    f"(endpoint {self._endpoint()})"
                ) from None
            raise self._failure(f"CopyObject from {source!r}", target, exc) from exc
        except BotoCoreError as exc:
            raise self._failure(f"CopyObject from {source!r}", target, exc) from exc
        return self.uri(target_key)

    def read_bytes(self, key: str) -> bytes:
        object_key = self._object_key(key)
        try:
            response = self._get_client().get_object(Bucket=self.bucket, Key=object_key)
            return response["Body"].read()
        except ClientError as exc:
            if _error_code(exc) in _MISSING_KEY_CODES:
                raise FileNotFoundError(
                    f"Staging key {key!r} not found in S3 staging zone {self.describe()} (endpoint {self._endpoint()})"
                ) from None
            raise self._failure("GetObject", object_key, exc) from exc
        except BotoCoreError as exc:
            raise self._failure("GetObject", object_key, exc) from exc

    def exists(self, key: str) -> bool:
        object_key = self._object_key(key)
        try:
            self._get_client().head_object(Bucket=self.bucket, Key=object_key)
        except ClientError as exc:
            if _error_code(exc) in _MISSING_KEY_CODES:
                return False
            raise self._failure("HeadObject", object_key, exc) from exc
        except BotoCoreError as exc:
            raise self._failure("HeadObject", object_key, exc) from exc
        return True

    def delete(self, key: str) -> None:
        object_key = self._object_key(key)
        try:
            self._get_client().delete_object(Bucket=self.bucket, Key=object_key)
        except (BotoCoreError, ClientError) as exc:
            raise self._failure("DeleteObject", object_key, exc) from exc

    def list_keys(self, prefix: str = "") -> list[str]:
        base = self._base()
        strip = f"{base}/" if base else ""
        full_prefix = strip + _check_prefix(prefix)
        paginator = self._get_client().get_paginator("list_objects_v2")
        keys = []
        try:
            pages = paginator.paginate(
                Bucket=self.bucket, Prefix=full_prefix, PaginationConfig={"PageSize": _LIST_PAGE_SIZE}
            )
            for page in pages:
                for item in page.get("Contents", []):
                    if not item["Key"].endswith("/"):  # folder markers made by consoles
                        keys.append(item["Key"][len(strip) :])
        except (BotoCoreError, ClientError) as exc:
            raise self._failure("ListObjectsV2", full_prefix, exc) from exc
        return sorted(keys)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._object_key(key)}"

    def describe(self) -> str:
        base = self._base()
        return f"s3://{self.bucket}/{base}" if base else f"s3://{self.bucket}"


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
