"""The component side of a Python extension module (componentize-py's app module).

build.py names the author's module in ``extension_entry``; this module imports it when the
component is built (componentize-py snapshots the initialised interpreter), so a module that
fails to import, or declares an unknown kind, fails the build rather than the first request.

Every function is served through ``plugin.invoke`` (the JSON boundary): the request's whole
``options`` arrive as one JSON text and the result leaves as one, which is the fastest way
across for an interpreter whose JSON parser is native code. A declared kind makes the host
check options and result against that kind's contract.
"""

import datetime
import importlib
import json

import extension
import extension_entry
from wit_world import exports
from componentize_py_types import Err
from wit_world.imports import integrator_extension_types as types

module = importlib.import_module(extension_entry.MODULE)

GROUPS = {
    "hooks": types.Group_Hooks,
    "wrappers": types.Group_Wrappers,
    "installer": types.Group_Installer,
    "uninstaller": types.Group_Uninstaller,
    "settings": types.Group_Settings,
    "utilities": types.Group_Utilities,
}


def _camel(member):
    first, *rest = member.lower().split("_")
    return first + "".join(word.capitalize() for word in rest)


# The kinds a function may declare: the WIT's `enum kind` cases (componentize-py generates
# `types.Kind` from wit/types.wit at build time) in camelCase, as integrator.io spells them.
KINDS = {_camel(k.name): k for k in types.Kind}


def _code(code):
    """An error code for the wire: a number stays a number (as the JavaScript original's
    ``err.code``), anything else is its text."""
    if isinstance(code, (int, float)) and not isinstance(code, bool):
        return types.ErrorCode_Number(float(code))
    return types.ErrorCode_Text(str(code))


def _error(code, message):
    return types.FnError(_code(code), message)


INVALID_FUNCTION = _error(
    "invalid_function", "The function passed in the extension options doesn't map to a function."
)
NOT_SERIALIZABLE = _error("invalid_extension_response", "Extension response is not serializable.")


def _exposed():
    """(group name or None for the root, function name, function) for every function served:
    callables named in ``__all__``, and the callables of every public module-level dict."""
    for name in getattr(module, "__all__", ()):
        if callable(getattr(module, name, None)):
            yield None, name, getattr(module, name)
    for group, value in vars(module).items():
        if group.startswith("_") or not isinstance(value, dict):
            continue
        for name, function in value.items():
            if isinstance(name, str) and callable(function):
                yield group, name, function


def _info(group, name, function):
    declared = getattr(function, "kind", "json")
    if declared not in KINDS:
        where = name if group is None else f"{group}.{name}"
        raise ValueError(f"{where}.kind is {declared!r}; expected one of {', '.join(KINDS)}")
    if group is None:
        wit_group = types.Group_Root()
    else:
        wit_group = GROUPS[group]() if group in GROUPS else types.Group_Other(group)
    return types.FunctionInfo(name, wit_group, KINDS[declared], types.Boundary.JSON)


# Both computed once, when the component is built (so a bad kind fails the build): the
# manifest the host routes by, and the table calls are looked up in.
FUNCTIONS = {(group, name): function for group, name, function in _exposed()}
MANIFEST = [_info(group, name, function) for (group, name), function in FUNCTIONS.items()]
GROUP_NAMES = {cls: name for name, cls in GROUPS.items()}


def _lookup(target):
    group = target.group
    if isinstance(group, types.Group_Root):
        key = None
    elif isinstance(group, types.Group_Other):
        key = group.value
    else:
        key = GROUP_NAMES[type(group)]
    function = FUNCTIONS.get((key, target.name))
    if function is None:
        raise Err(INVALID_FUNCTION)
    return function


def _date(value):
    try:
        return datetime.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return value


def _run(coroutine):
    """Drives an ``async def`` function to completion: nothing in the sandbox can be awaited
    for real (no network, no timers), so the coroutine never needs an event loop."""
    try:
        while True:
            coroutine.send(None)
    except StopIteration as done:
        return done.value


def _fn_error(err):
    if isinstance(err, extension.ExtensionError):
        return _error(err.code, str(err.message))
    # SystemExit.code is the exit status or message, not an error code.
    code = None if isinstance(err, SystemExit) else getattr(err, "code", None)
    return _error(code if code else type(err).__name__, str(err))


class Plugin(exports.Plugin):
    def manifest(self):
        return MANIFEST

    def invoke(self, target, options):
        function = _lookup(target)
        opts = json.loads(options)
        if isinstance(opts, dict):
            for key in ("lastExportDateTime", "currentExportDateTime"):
                if opts.get(key):
                    opts[key] = _date(opts[key])
        try:
            result = function(opts)
            if hasattr(result, "send") and hasattr(result, "throw"):
                result = _run(result)
        except (Exception, SystemExit) as err:  # noqa: BLE001 - every failure answers {code, message}
            # sys.exit() in a hook is a failure of that call, not of the plugin.
            raise Err(_fn_error(err))
        if result is None:
            return None
        try:
            return json.dumps(result, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
        except (TypeError, ValueError):
            raise Err(NOT_SERIALIZABLE)


def _untyped(*_args):
    raise Err(_error(
        "invalid_function", "Python functions are served through plugin.invoke (the JSON boundary)."
    ))


class Hooks(exports.Hooks):
    pre_save_page = pre_map = post_map = post_submit = post_response_map = post_aggregate = _untyped


class Wrappers(exports.Wrappers):
    ping = export = import_ = _untyped


class Lifecycle(exports.Lifecycle):
    step = form_init = pre_save = init_child = update = change_edition = _untyped


class Scripts(exports.Scripts):
    response_script = _untyped
