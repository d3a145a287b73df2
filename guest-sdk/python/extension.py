"""Helpers for Python extension modules served by extension-host.

A module is plain functions grouped in module-level dicts, as a Celigo JavaScript module
groups them in objects::

    from extension import ExtensionError, kind

    @kind("preMap")            # optional: the host checks the preMap contract
    def pre_map_phones(options):
        return [{"data": record} for record in options["data"]]

    hooks = {"preMapPhones": pre_map_phones}

Each public module-level dict of functions is a group (``hooks``, ``wrappers``, ``installer``,
``uninstaller``, ``settings``, ``utilities``, or a name of your own); functions of a flat module
(requests without ``type``) are the callables named in ``__all__``. A function takes the request's
``options`` dict and returns JSON data (or ``None`` for an empty answer); ``async def`` works too.
"""


class ExtensionError(Exception):
    """Fails the whole call with ``{"code": code, "message": message}``.

    A numeric ``code`` is answered as a JSON number, any other as text. Any other exception
    answers ``code`` = its ``code`` attribute if it has a truthy one, else
    its class name (as the JavaScript original's ``err.code || err.name``), and ``message`` =
    ``str(exception)``.
    """

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def kind(name):
    """Declares a function's kind, so the host checks its options and result against that
    kind's contract (``@kind("preMap")``). Same as setting ``function.kind = "preMap"``.

    The kinds are the WIT's ``enum kind`` cases in camelCase; the build checks the name (an
    unknown kind fails the build, naming the function and the kinds there are)."""

    def declare(function):
        function.kind = name
        return function

    return declare


def log(level, *parts):
    """Writes one line to the host log: ``log("warn", "retrying", record_id)``. ``print``
    reaches the host log too (as stdout)."""
    from wit_world.imports import log as host_log

    levels = {"trace": host_log.Level.TRACE, "debug": host_log.Level.DEBUG, "info": host_log.Level.INFO,
              "warn": host_log.Level.WARN, "error": host_log.Level.ERROR}
    host_log.write(levels[level], " ".join(p if isinstance(p, str) else repr(p) for p in parts))


# Outbound HTTP: `from extension import http` (or `extension.http.get(...)`). Imported last:
# it builds on ExtensionError above.
import extension_http as http  # noqa: E402
