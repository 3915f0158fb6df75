"""A Flickr-compatible HTTP server on 127.0.0.1: the REST endpoint, the image host, fault injection.

The REST endpoint accepts what ``flickrapi`` sends (OAuth1-signed POSTs, HMAC-SHA1 checked against the
emulator's key table) and plain GET/POST with ``api_key``. Every API call is counted with its time, so
a test or benchmark can check that a client never exceeded its rate limit.

    with FlickrEmulator(build_corpus()) as emu:
        client = flickrapi.FlickrAPI(emu.api_key, emu.api_secret, format="parsed-json", store_token=False)
        client.REST_URL = emu.rest_url
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import numpy as np

from curation.emulator import api
from curation.emulator.corpus import Corpus, PhotoSpec, image_bytes

log = logging.getLogger(__name__)
DEFAULT_KEY = "0123456789abcdef0123456789abcdef"
DEFAULT_SECRET = "a1b2c3d4e5f60718"
_STATIC = re.compile(r"^/(\d+)/(\d+)_([0-9a-f]+)(?:_([a-z]))?\.jpg$")
_KEY_FORMAT = re.compile(r"^[0-9a-f]{32}$")
PLACEHOLDER_PATH = "/images/photo_unavailable.png"


@dataclass
class Faults:
    """What goes wrong, and how often. ``first`` makes the first N events of a kind fail deterministically
    (kinds: api_error, api_5xx, image_5xx, image_429, truncate, hang)."""

    latency_s: float = 0.0
    image_latency_s: float | None = None  # default: latency_s
    api_error_rate: float = 0.0  # stat=fail with code 10 or 105 (temporary)
    api_5xx_rate: float = 0.0
    image_5xx_rate: float = 0.0
    image_429_rate: float = 0.0
    truncate_rate: float = 0.0  # image bytes cut short (Content-Length promises more)
    hang_rate: float = 0.0  # answer only after hang_s (clients time out)
    hang_s: float = 5.0
    retry_after_s: int = 1
    invalid_key: bool = False  # every key is refused (code 100)
    # what deleted photos are answered with: "template" (the placeholder curate draws), "foreign-png" (another
    # design, PNG, as image/png for the .jpg URL) or "foreign-jpeg" (another design, a 500x374 JPEG, image/jpeg)
    placeholder: str = "template"
    first: dict[str, int] = field(default_factory=dict)


@dataclass
class Counters:
    api_calls: list[tuple[float, str, str]] = field(default_factory=list)  # (monotonic time, method, key)
    image_requests: int = 0
    image_bytes: int = 0
    faults: dict[str, int] = field(default_factory=dict)

    def max_in_window(self, window_s: float) -> int:
        """The most API calls made within any ``window_s`` seconds."""
        times = sorted(t for t, _, _ in self.api_calls)
        best, lo = 0, 0
        for hi, t in enumerate(times):
            while t - times[lo] > window_s:
                lo += 1
            best = max(best, hi - lo + 1)
        return best


class FlickrEmulator:
    """The server; a context manager that starts it on a free port of 127.0.0.1."""

    def __init__(self, corpus: Corpus, *, host: str = "127.0.0.1", port: int = 0, faults: Faults | None = None,
                 keys: dict[str, str] | None = None, cap: int = 4000, max_side: int = 320,
                 field_types: str = "modern", seed: int = 0):
        if field_types not in ("modern", "legacy", "mixed"):
            raise ValueError(f"unknown field_types {field_types!r}; valid: modern, legacy, mixed")
        self.corpus, self.index = corpus, api.SearchIndex(corpus)
        self.photos = corpus.by_id()
        self.faults = faults or Faults()
        self.keys = dict(keys or {DEFAULT_KEY: DEFAULT_SECRET})
        self.cap, self.max_side, self.field_types = cap, max_side, field_types
        self.counters = Counters()
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self._images: dict[tuple[str, tuple[int, int]], bytes] = {}
        self._host, self._port = host, port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self) -> "FlickrEmulator":
        handler = type("Handler", (_Handler,), {"emulator": self})
        self._server = _Server((self._host, self._port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="flickr-emulator", daemon=True)
        self._thread.start()
        log.info("Flickr emulator at %s", self.rest_url)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "FlickrEmulator":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start the emulator first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def rest_url(self) -> str:
        return f"{self.base_url}/services/rest/"

    @property
    def api_key(self) -> str:
        return next(iter(self.keys))

    @property
    def api_secret(self) -> str:
        return self.keys[self.api_key]

    # --- faults and counting -----------------------------------------------------------------
    def fires(self, kind: str, rate: float) -> bool:
        with self._lock:
            if self.faults.first.get(kind, 0) > 0:
                self.faults.first[kind] -= 1
                hit = True
            else:
                hit = rate > 0 and float(self._rng.random()) < rate
            if hit:
                self.counters.faults[kind] = self.counters.faults.get(kind, 0) + 1
            return hit

    def legacy_types(self) -> bool:
        if self.field_types == "mixed":
            return len(self.counters.api_calls) % 2 == 1
        return self.field_types == "legacy"

    def image(self, photo: PhotoSpec, size: tuple[int, int]) -> bytes:
        key = (photo.id, size)
        data = self._images.get(key)
        if data is None:
            data = image_bytes(photo, size)
            with self._lock:
                if len(self._images) > 20000:
                    self._images.clear()
                self._images[key] = data
        return data

    def prerender(self, size_name: str = "url_c") -> int:
        """Render every photo's image of ``size_name`` now (benchmarks exclude rendering time)."""
        n = 0
        for photo in self.corpus.photos:
            size = api.served_size(photo, size_name, self.max_side) or api.served_size(photo, "url_m", self.max_side)
            if size:
                self.image(photo, size)
                n += 1
        return n


@functools.lru_cache(maxsize=1)
def placeholder_bytes() -> bytes:
    """The 'This photo is no longer available' image the emulator serves for deleted photos."""
    from curation.download.placeholder import template_png

    return template_png((500, 374))


PLACEHOLDER_KINDS = ("template", "foreign-png", "foreign-jpeg")


@functools.lru_cache(maxsize=2)
def foreign_placeholder(kind: str) -> bytes:
    """A deleted-photo image of another design than curate's template (white, a dark banner, a frame)."""
    import io

    from PIL import Image, ImageDraw

    if kind not in PLACEHOLDER_KINDS[1:]:
        raise ValueError(f"unknown placeholder kind {kind!r}; valid kinds: {', '.join(PLACEHOLDER_KINDS)}")
    img = Image.new("RGB", (500, 374), (250, 250, 250))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, 499, 60), fill=(40, 40, 48))
    draw.rectangle((150, 140, 350, 260), outline=(120, 120, 130), width=6)
    draw.line((150, 140, 350, 260), fill=(120, 120, 130), width=6)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90) if kind == "foreign-jpeg" else img.save(buf, "PNG")
    return buf.getvalue()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        """Clients closing kept-alive connections is normal; anything else is logged, not printed."""
        import sys

        exc = sys.exc_info()[1]
        if not isinstance(exc, (ConnectionError, TimeoutError)):
            log.exception("emulator request from %s failed", client_address)


class _Handler(BaseHTTPRequestHandler):
    emulator: FlickrEmulator
    protocol_version = "HTTP/1.1"
    server_version = "FlickrEmulator/1.0"
    disable_nagle_algorithm = True  # headers and body go out at once, no delayed-ACK stalls

    def log_message(self, fmt: str, *args) -> None:  # quiet: one line per request would flood test output
        log.debug("%s " + fmt, self.address_string(), *args)

    def do_GET(self) -> None:
        self._dispatch(b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._dispatch(self.rfile.read(length) if length else b"")

    def _dispatch(self, body: bytes) -> None:
        path = urlsplit(self.path).path
        if path.rstrip("/") == "/services/rest":
            self._rest(body)
        elif path == PLACEHOLDER_PATH:
            self._send(200, placeholder_bytes(), "image/png")
        else:
            self._static(path)

    def _send(self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None,
              truncate: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if truncate:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data[: len(data) // 2] if truncate else data)

    # --- REST ---------------------------------------------------------------------------------
    def _rest(self, body: bytes) -> None:
        emu = self.emulator
        time.sleep(emu.faults.latency_s)
        query = urlsplit(self.path).query
        params = dict(parse_qsl(query, keep_blank_values=True))
        params.update(dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)))
        if emu.fires("hang", emu.faults.hang_rate):
            time.sleep(emu.faults.hang_s)
        if emu.fires("api_5xx", emu.faults.api_5xx_rate):
            self._send(503, b"Service Unavailable", "text/plain")
            return
        try:
            key = self._authenticate(params, query, body)
            with emu._lock:
                emu.counters.api_calls.append((time.monotonic(), params.get("method", ""), key))
            if emu.fires("api_error", emu.faults.api_error_rate):
                code = 105 if emu.counters.faults["api_error"] % 2 else 10
                raise api.ApiError(code, "Service currently unavailable" if code == 105 else
                                   "Sorry, the Flickr search API is not currently available.")
            payload = self._call(params)
        except api.ApiError as exc:
            self._reply(params, {"stat": "fail", "code": exc.code, "message": exc.message}, ok=False)
            return
        self._reply(params, {**payload, "stat": "ok"}, ok=True)

    def _call(self, params: dict[str, str]) -> dict:
        emu = self.emulator
        method = params.get("method", "")
        fmt = params.get("format", "rest")
        if fmt not in ("json", "rest"):
            raise api.ApiError(111, f'Format "{fmt}" not found')
        if method == "flickr.photos.search":
            photos = api.search(emu.index, params, emu.base_url, emu.max_side, emu.cap, emu.legacy_types())
            return {"photos": photos}
        if method == "flickr.photos.licenses.getInfo":
            return api.licenses_info()
        raise api.ApiError(112, f'Method "{method}" not found')

    def _reply(self, params: dict[str, str], payload: dict, ok: bool) -> None:
        if params.get("format") == "rest":
            if ok:
                text = api.to_xml(params.get("method", ""), payload)
            else:
                text = (f'<?xml version="1.0" encoding="utf-8" ?>\n<rsp stat="fail">\n<err code="{payload["code"]}" '
                        f'msg="{payload["message"]}" />\n</rsp>\n')
            self._send(200, text.encode(), "text/xml; charset=utf-8")
            return
        text = json.dumps(payload)
        if params.get("nojsoncallback") != "1":
            text = f"{params.get('jsoncallback') or 'jsonFlickrApi'}({text})"
        self._send(200, text.encode(), "application/json; charset=utf-8")

    def _authenticate(self, params: dict[str, str], query: str, body: bytes) -> str:
        """The caller's key, from the OAuth Authorization header (signature checked) or ``api_key``."""
        emu = self.emulator
        header = self.headers.get("Authorization", "")
        oauth = {k: unquote(v) for k, v in re.findall(r'(\w+)="([^"]*)"', header)} if header.startswith("OAuth") else {}
        key = oauth.get("oauth_consumer_key") or params.get("api_key", "")
        if not _KEY_FORMAT.match(key):
            raise api.ApiError(100, "Invalid API Key (Key has invalid format)")
        if emu.faults.invalid_key or key not in emu.keys:
            raise api.ApiError(100, "Invalid API Key (Key not found)")
        if oauth and not self._signature_ok(oauth, query, body, emu.keys[key]):
            raise api.ApiError(96, "Invalid signature")
        return key

    def _signature_ok(self, oauth: dict[str, str], query: str, body: bytes, secret: str) -> bool:
        from oauthlib.oauth1.rfc5849 import signature

        uri = f"http://{self.headers.get('Host')}{urlsplit(self.path).path}"
        header = self.headers.get("Authorization", "")
        collected = signature.collect_parameters(uri_query=query, body=body.decode("utf-8", "replace"),
                                                 headers={"Authorization": header}, exclude_oauth_signature=True)
        base = signature.signature_base_string(self.command, signature.base_string_uri(uri),
                                               signature.normalize_parameters(collected))
        key = f"{quote(secret, safe='~')}&".encode()
        expected = base64.b64encode(hmac.new(key, base.encode(), hashlib.sha1).digest()).decode()
        return signature.safe_string_equals(expected, oauth.get("oauth_signature", ""))

    # --- image host ---------------------------------------------------------------------------
    def _static(self, path: str) -> None:
        emu = self.emulator
        time.sleep(emu.faults.latency_s if emu.faults.image_latency_s is None else emu.faults.image_latency_s)
        with emu._lock:
            emu.counters.image_requests += 1
        match = _STATIC.match(path)
        photo = emu.photos.get(match.group(2)) if match else None
        if photo is None:
            self._send(404, b"Not Found", "text/plain")
            return
        suffix = match.group(4) or ""
        size_name = api.SUFFIX_TO_SIZE.get(suffix)
        secret = api.original_secret(photo) if suffix == "o" else photo.secret
        size = api.served_size(photo, size_name, emu.max_side) if size_name else None
        if match.group(3) != secret or size is None:
            self._send(404, b"Not Found", "text/plain")
            return
        if emu.fires("image_429", emu.faults.image_429_rate):
            self._send(429, b"Too Many Requests", "text/plain", {"Retry-After": str(emu.faults.retry_after_s)})
            return
        if emu.fires("image_5xx", emu.faults.image_5xx_rate):
            self._send(502, b"Bad Gateway", "text/plain")
            return
        if photo.deleted:
            kind = emu.faults.placeholder
            self._send(200, placeholder_bytes() if kind == "template" else foreign_placeholder(kind),
                       "image/jpeg" if kind == "foreign-jpeg" else "image/png")
            return
        data = emu.image(photo, size)
        headers = {"X-Robots-Tag": "noai, noimageai"} if photo.noai else {}
        truncate = emu.fires("truncate", emu.faults.truncate_rate)
        with emu._lock:
            emu.counters.image_bytes += len(data)
        self._send(200, data, "image/jpeg", headers, truncate=truncate)
