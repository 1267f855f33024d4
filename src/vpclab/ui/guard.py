"""The web view's gate: the app's keys, the request check (Host, Origin, token: `check`), the
error documents, the worker thread, and the checked readers of a request's JSON body.

server.py builds the app from these; its handlers read their input only through `body`,
`text` and `whole`, so a hostile field is refused with the CLI's JSON error document.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import hmac
import secrets
from typing import Optional

from aiohttp import web

from ..errors import NotFound, Refused, VpclabError, shown
from ..model.units import NumberError, loads_json, parse_whole

HOST = "127.0.0.1"
COOKIE = "vpclab_ui_token"
HEADER = "X-Vpclab-Token"

# web.AppKey keeps aiohttp from warning about string keys (aiohttp >= 3.9).
LAB = web.AppKey("lab", str)
TOKEN = web.AppKey("token", str)
PORT = web.AppKey("port", int)
WORKER = web.AppKey("worker", concurrent.futures.ThreadPoolExecutor)
SUBSCRIBERS = web.AppKey("subscribers", set)
WATCHER = web.AppKey("watcher", asyncio.Task)
STATE_CACHE = web.AppKey("state_cache", dict)


def new_token() -> str:
    return secrets.token_urlsafe(24)


def error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message, "hint": None}}, status=status)


def same(given: str, token: str) -> bool:
    """Constant-time comparison (bytes: compare_digest refuses non-ASCII str)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), token.encode())


def allowed_hosts(port: int) -> set:
    return {f"127.0.0.1:{port}", f"localhost:{port}"}


@web.middleware
async def check(request: web.Request, handler):
    """Host, Origin and token checks, before any handler runs."""
    app = request.app
    hosts = allowed_hosts(app[PORT])
    if request.headers.get("Host", "") not in hosts:
        return error(403, "Forbidden.Host", "this server answers only to 127.0.0.1 and localhost (DNS rebinding guard)")
    origin = request.headers.get("Origin")
    if origin is not None and origin not in {f"http://{h}" for h in hosts}:
        return error(403, "Forbidden.Origin", f"requests from {origin} are refused")
    token = app[TOKEN]
    header = request.headers.get(HEADER, "")
    if request.method != "GET":
        if not same(header, token):
            return error(403, "Forbidden.Token", f"a change needs the run's token in the {HEADER} header")
        return await handler(request)
    given = header or request.cookies.get(COOKIE, "") or request.query.get("token", "")
    if not same(given, token):
        return error(403, "Forbidden.Token", "this page needs the token printed by `vpclab ui` (open its URL)")
    return await handler(request)


async def read(request: web.Request, fn, *args):
    """A controller read, off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(None, functools.partial(fn, *args))


async def work(request: web.Request, fn, *args, **kw):
    """A probe or a change: in the one worker thread."""
    return await asyncio.get_running_loop().run_in_executor(request.app[WORKER], functools.partial(fn, *args, **kw))


def as_response(e: VpclabError) -> web.Response:
    status = 404 if isinstance(e, NotFound) else 400 if isinstance(e, Refused) else 500
    return web.json_response(e.to_json(), status=status)


def api(fn):
    """A handler whose VpclabError becomes the CLI's JSON error document ({"error": {code, ...}})."""
    @functools.wraps(fn)
    async def wrapped(request):
        try:
            return await fn(request)
        except VpclabError as e:
            return as_response(e)
    return wrapped


async def body(request: web.Request) -> dict:
    try:
        doc = await request.json(loads=loads_json)  # its numbers through the one bounded parser
    except NumberError as e:
        raise Refused(f"the request body is not JSON vpclab reads: {e}", code="InvalidParameter")
    except (ValueError, LookupError, RecursionError):  # not JSON, not UTF-8, an unknown charset,
        # or nested too deep (RecursionError)
        raise Refused("the request body is not JSON", code="InvalidParameter")
    if not isinstance(doc, dict):
        raise Refused("the request body is not a JSON object", code="InvalidParameter")
    return doc


TEXT_MAX = 256  # longer than any name, reference or duration the lab takes


def text(doc: dict, key: str) -> Optional[str]:
    """doc[key] as a string, or None when it is absent, null or ""; anything else is refused.

    So is a string longer than TEXT_MAX: no field means anything that long, and some parsers
    downstream take time that grows faster than the text (a 60 000-digit duration: minutes).
    """
    value = doc.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise Refused(f"`{key}` must be a string, not {shown(value, as_repr=True)}", code="InvalidParameterValue")
    if len(value) > TEXT_MAX:
        raise Refused(f"`{key}` {shown(value, as_repr=True)} is too long (at most {TEXT_MAX} characters)",
                      code="InvalidParameterValue")
    return value


def whole(value, what: str) -> int:
    """A whole number >= 0 given as a JSON integer or a string of digits (what an <input> holds),
    read by the one bounded parser (model.units.parse_whole).

    Not a bool (JSON true is no port), not 1.9, not "1e3": each would otherwise become another number.
    """
    try:
        return parse_whole(value, what, 0)
    except NumberError as e:
        raise Refused(str(e), code="InvalidParameterValue")
