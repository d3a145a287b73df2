"""Outbound HTTP(S) from a Python plugin, over wasi:http: ``extension.http``.

    from extension import http

    page = http.get(f"{base}/records?page=1", headers={"authorization": f"Bearer {token}"})
    if page.status != 200: ...
    records = page.json()["records"]
    created = http.post_json(f"{base}/records", record, headers=...)

The host decides where a plugin may connect (the operator's ``[network]`` policy). A refused
or failed request raises :class:`HttpError`, an :class:`extension.ExtensionError` whose code is
the wasi:http error code (``HTTP-request-denied``, ``destination-IP-prohibited``, …), so an
uncaught one fails the call with that code. Redirects are returned as they are, never followed.
"""

import json
import re

from extension import ExtensionError

# Imported at build time on purpose: the component starts from a snapshot of the interpreter
# taken after the module imports, and modules first imported later are not in it. Outside a
# component (tests of an author's module under plain Python) the bindings do not exist.
try:
    from componentize_py_types import Err, Ok
    from wit_world.imports import outgoing_handler, streams
    from wit_world.imports import wasi_http_types as t
except ImportError:  # pragma: no cover - only inside a component
    outgoing_handler = None

_WRITE_CHUNK = 4096
_READ_CHUNK = 65536
_ACRONYMS = {"http": "HTTP", "dns": "DNS", "tls": "TLS", "ip": "IP", "uri": "URI"}


class HttpError(ExtensionError):
    """A request that failed: ``code`` is the wasi:http error code."""


class Response:
    """A response, read whole: ``status``, ``headers`` (lowercase name → value), ``body``."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def text(self):
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        return json.loads(self.body)

    @property
    def ok(self):
        return 200 <= self.status < 300


def get(url, headers=None):
    """``GET url``."""
    return request("GET", url, headers=headers)


def post_json(url, value, headers=None):
    """``POST url`` with ``value`` as its JSON body."""
    headers = {**(headers or {}), "content-type": "application/json"}
    return request("POST", url, headers=headers, body=json.dumps(value).encode())


def request(method, url, headers=None, body=None):
    """Sends a request and reads the whole response."""
    if outgoing_handler is None:
        raise HttpError("unavailable", "extension.http works inside a built component only")
    https, authority, path = _split(url)
    methods = {"GET": t.Method_Get, "HEAD": t.Method_Head, "POST": t.Method_Post,
               "PUT": t.Method_Put, "DELETE": t.Method_Delete, "PATCH": t.Method_Patch,
               "OPTIONS": t.Method_Options}
    method = method.upper()
    fields = t.Fields.from_list([(k.lower(), str(v).encode()) for k, v in (headers or {}).items()])
    outgoing = t.OutgoingRequest(fields)
    outgoing.set_method(methods[method]() if method in methods else t.Method_Other(method))
    outgoing.set_scheme(t.Scheme_Https() if https else t.Scheme_Http())
    outgoing.set_authority(authority)
    outgoing.set_path_with_query(path)
    out_body = outgoing.body()
    try:
        pending = outgoing_handler.handle(outgoing, None)
    except Err as err:
        raise _error(err.value, url) from None
    data = body or b""
    with out_body.write() as stream:
        for i in range(0, len(data), _WRITE_CHUNK):
            stream.blocking_write_and_flush(data[i:i + _WRITE_CHUNK])
    t.OutgoingBody.finish(out_body, None)
    with pending:
        while True:
            ready = pending.get()
            if ready is not None:
                break
            with pending.subscribe() as pollable:
                pollable.block()
    if isinstance(ready, Err):
        raise HttpError("internal-error", "the response was taken twice")
    inner = ready.value
    if not isinstance(inner, Ok):
        raise _error(inner.value, url)
    with inner.value as response:
        status = response.status()
        with response.headers() as fields:
            headers = {k: v.decode("utf-8", errors="replace") for k, v in fields.entries()}
        incoming = response.consume()
    chunks = []
    with incoming:
        with incoming.stream() as stream:
            while True:
                try:
                    chunks.append(stream.blocking_read(_READ_CHUNK))
                except Err as err:
                    if isinstance(err.value, streams.StreamError_Closed):
                        break
                    code = t.http_error_code(err.value.value)
                    if code is None:
                        raise _named(_body_error(err.value.value.to_debug_string()), url) from None
                    raise _error(code, url) from None
    return Response(status, headers, b"".join(chunks))


def _split(url):
    match = re.match(r"^(https?)://([^/?#]+)([^#]*)", url)
    if not match or "@" in match.group(2):
        raise HttpError("invalid-url", f"{url!r}: expected http(s)://host[:port]/path")
    path = match.group(3) or "/"
    if path.startswith("?"):
        path = "/" + path
    return match.group(1) == "https", match.group(2), path


def _code_name(code):
    """``ErrorCode_HttpRequestDenied`` → ``HTTP-request-denied``."""
    name = type(code).__name__.removeprefix("ErrorCode_")
    words = re.findall(r"[A-Z][a-z0-9]*", name)
    return "-".join(_ACRONYMS.get(w.lower(), w.lower()) for w in words)


def _named(name, url):
    bare = url.split("?")[0].split("#")[0]
    return HttpError(name, f"request to {bare} failed: {name}")


def _error(code, url):
    return _named(_code_name(code), url)


def _body_error(debug):
    text = debug.lower()
    if "body size" in text:
        return "HTTP-response-body-size"
    if "timeout" in text:
        return "HTTP-response-timeout"
    if "incomplete" in text:
        return "HTTP-response-incomplete"
    return "HTTP-protocol-error"
