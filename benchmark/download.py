"""Downloads into the cache with pooch: retried, size- and hash-checked, and cached only when complete.

A file is fetched into a private staging folder; pooch retries failed attempts and verifies a pinned
sha256. The downloader below adds what pooch leaves to it: a 4xx answer or an HTML page is refused at
once, a body shorter than its Content-Length and a trickle slower than :class:`Limits` allows are
errors (retried). An unpinned file must then pass the caller's ``check`` (it opens as what it should
be) before it is moved into the cache and its sha256 recorded; a failed download leaves nothing
behind, so the next run downloads it again.
"""

import hashlib
import logging
import os
import shutil
import tempfile
import time
import urllib.parse
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pooch
import requests
import urllib3

from benchmark.checksums import sha256_file
from benchmark.errors import ConfigError

log = logging.getLogger(__name__)
CHUNK = 1 << 20
HTML_STARTS = (b"<!doctype html", b"<html")


@dataclass(frozen=True)
class Limits:
    """How long a download may wait and how slow it may be; failed attempts are retried ``retries`` times."""

    connect_s: float = 30.0
    read_s: float = 60.0  # no byte at all for this long: the attempt fails
    window_s: float = 60.0  # every window must bring at least ``min_bytes_per_window``
    min_bytes_per_window: int = 1 << 20  # ~17 KiB/s: only a stalled trickle is this slow
    retries: int = 2


LIMITS = Limits()


class Refused(Exception):
    """The server answered, but not with the file (4xx, an HTML page): retrying cannot help."""


class Incomplete(requests.exceptions.RequestException):
    """The body ended before its Content-Length, or arrived too slowly (retried)."""


class _Downloader:
    """A pooch downloader (``callable(url, output_file, pooch)``) over requests, with the checks above."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits

    def __call__(self, url: str, output_file: str, _pooch: object, check_only: bool = False) -> None:
        timeout = (self.limits.connect_s, self.limits.read_s)
        with requests.get(url, stream=True, timeout=timeout) as response:
            if 400 <= response.status_code < 500:
                raise Refused(f"HTTP {response.status_code} {response.reason}")
            response.raise_for_status()  # 5xx: pooch retries
            kind = response.headers.get("Content-Type", "")
            if "text/html" in kind.lower():
                raise Refused(f"the server sent an HTML page (Content-Type: {kind}), not the file")
            length = response.headers.get("Content-Length")
            expected = int(length) if length and not response.headers.get("Content-Encoding") else None
            written = self._stream(response.raw, output_file)
        if expected is not None and written != expected:  # urllib3 checks this too, by default only
            raise Incomplete(f"the body ended after {written:,} of the {expected:,} bytes its Content-Length announced")

    def _stream(self, body: urllib3.BaseHTTPResponse, output_file: str) -> int:
        """Write the body (``read1``: each socket read returns, so a trickle is noticed); return its size."""
        limits, written, window_start, window_bytes = self.limits, 0, time.monotonic(), 0
        with open(output_file, "wb") as out:
            while True:
                try:
                    chunk = body.read1(CHUNK, decode_content=True)
                except urllib3.exceptions.HTTPError as error:  # truncated or timed out: retried
                    raise Incomplete(f"{type(error).__name__}: {error}") from error
                if not chunk:
                    return written
                if not written and chunk[:512].lstrip().lower().startswith(HTML_STARTS):
                    raise Refused("the server sent an HTML page, not the file")
                out.write(chunk)
                written, window_bytes = written + len(chunk), window_bytes + len(chunk)
                elapsed = time.monotonic() - window_start
                if elapsed >= limits.window_s:
                    if window_bytes < limits.min_bytes_per_window:
                        raise Incomplete(
                            f"too slow: {window_bytes:,} bytes in {elapsed:.1f} s (at least "
                            f"{limits.min_bytes_per_window:,} per {limits.window_s:g} s are needed)"
                        )
                    window_start, window_bytes = time.monotonic(), 0


def _file_name(url: str) -> str:
    return Path(urllib.parse.urlsplit(url).path).name or "download"


def _cached(target: Path, sha256: str | None, what: str, url: str) -> str | None:
    """The cached file's sha256 if it is there and intact, else None (then it is downloaded)."""
    if not target.is_file():
        return None
    if sha256:
        return sha256 if sha256_file(target) == sha256 else None
    record = target.with_name(target.name + ".sha256")
    if not record.is_file():  # never completed: download again
        return None
    recorded, actual = record.read_text().strip(), sha256_file(target)
    if actual != recorded:
        raise ConfigError(
            f"{what}: the cached download of {url} ({target}) has sha256 {actual} but {recorded} was recorded "
            "when it was downloaded; delete the file to download it again"
        )
    return recorded


def download(
    url: str,
    sha256: str | None,
    cache_dir: Path,
    what: str,
    check: Callable[[Path], object] | None = None,
    limits: Limits | None = None,
) -> tuple[Path, str]:
    """Download ``url`` once into ``cache_dir``; return the cached file and its sha256.

    ``what`` names the file in errors (``dataset 'x'``, a checkpoint role, a config key). With
    ``sha256`` the download is verified before it is cached. Without it, ``check(path)`` must pass
    (raise on a file that does not open) before the file is cached and its sha256 recorded next to it
    (with a warning that prints it, to pin); later uses are verified against that record.
    """
    name = _file_name(url)
    key = sha256 or f"unpinned/{hashlib.sha256(url.encode()).hexdigest()[:16]}"
    target = cache_dir / key / name
    cached = _cached(target, sha256, what, url)
    if cached:
        return target, cached
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=cache_dir))  # same file system: moves are renames
    try:
        fetched = _fetch(url, staging, name, sha256, what, limits or LIMITS)
        if not sha256 and check is not None:
            try:
                check(fetched)
            except Exception as error:  # any reason the file does not open
                raise ConfigError(
                    f"{what}: the file downloaded from {url} is not usable ({error}); it was not cached, "
                    "so the next run downloads it again: check the URL"
                ) from error
        actual = sha256 or sha256_file(fetched)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(fetched, target)
        if not sha256:
            record = staging / "sha256"
            record.write_text(actual + "\n")
            os.replace(record, target.with_name(target.name + ".sha256"))  # the record last: it marks completion
            warnings.warn(
                f"{what}: {url} has no sha256 to check against; recorded {actual} on this first download. "
                f"Add `sha256: {actual}` to pin the file",
                stacklevel=2,
            )
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target, actual


def _fetch(url: str, staging: Path, name: str, sha256: str | None, what: str, limits: Limits) -> Path:
    """pooch's fetch into ``staging`` (retries; pinned hash checked); errors name ``what`` and the URL."""
    store = pooch.create(
        path=staging, base_url="", registry={name: sha256}, urls={name: url}, retry_if_failed=limits.retries
    )
    log.info("%s: downloading %s", what, url)
    try:
        return Path(store.fetch(name, downloader=_Downloader(limits)))
    except (Refused, ValueError, requests.exceptions.RequestException) as error:
        if isinstance(error, ValueError):  # pooch: the pinned hash does not match
            fix = "check the URL; update `sha256` only if you trust the new file"
        elif "HTML" in str(error):
            fix = "the URL serves a web page (a sign-in or landing page?), not the file: use its direct download link"
        elif isinstance(error, Refused):
            fix = "check the URL"
        else:
            fix = "check the URL and the network, then run again"
        raise ConfigError(
            f"{what}: download of {url} failed ({type(error).__name__}: {error}); nothing was cached, "
            f"so the next run downloads it again: {fix}"
        ) from error
