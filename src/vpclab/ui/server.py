"""The web view's HTTP server: one page, a JSON API over the controller, and a live event stream.

Served by aiohttp. Why aiohttp: one well-kept package (aio-libs) holds the server,
streaming responses for server-sent events, a clean Ctrl-C shutdown (`AppRunner`
cleanup), and a test client (`aiohttp.test_utils`) that drives the app in-process
without a browser; starlette would need uvicorn, plus httpx for its test client, for
the same. The controller is synchronous: reads run in the default thread pool, and
everything that sends packets or changes the lab runs in ONE worker thread, one at a
time (a probe's setns and scapy's state are per thread; lifecycle operations take the
lab's lock anyway).

Security, for a page that can change a lab: the server binds 127.0.0.1 only; every
request carries the per-run token (the URL's `?token=` on the first load, traded for
a SameSite=Strict cookie and a redirect to `/`; or the `X-Vpclab-Token` header); a Host that is not
127.0.0.1:PORT or localhost:PORT is refused (DNS rebinding), and so is a foreign
Origin; requests that change anything are POST and need the token in the header (a
cookie alone never changes anything).

Liveness: a watcher checks the lab's state.db every 100 ms (a stat and its header's change
counter) and, when it changed, reads
the events after the last one it sent, and builds the state document once (every page
then gets that copy); each page listens on /api/stream (SSE) and refetches /api/state
when an event arrives.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Optional

from aiohttp import web

from ..controller import events as event_log
from ..controller import operate, status
from ..controller.explaining import explain as explain_model  # `explain` is a handler here
from ..errors import Refused, VpclabError, shown
from . import animation, filtering, guard, layout

STATIC = Path(__file__).parent / "static"
DEFAULT_PORT = 8470
POLL_S = 0.1
EVENTS_SHOWN = 300
SHUTDOWN_S = 0.25  # what a request still running at Ctrl-C/SIGTERM gets; event streams end at once
# ---- pages -----------------------------------------------------------------------------------------


async def index(request: web.Request) -> web.Response:
    if "token" in request.query:
        # First load: trade the URL's token for the cookie and drop it from the address bar
        # (which may be projected in class) and from the browser's history.
        resp = web.Response(status=303, headers={"Location": "/"})
        resp.set_cookie(guard.COOKIE, request.app[guard.TOKEN], httponly=True, samesite="Strict", path="/")
        resp.headers["Referrer-Policy"] = "no-referrer"
        return resp
    html = (STATIC / "index.html").read_text()
    html = html.replace("{{TOKEN}}", request.app[guard.TOKEN]).replace("{{LAB}}", request.app[guard.LAB])
    resp = web.Response(text=html, content_type="text/html")
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Content-Security-Policy"] = "default-src 'self'; style-src 'self' 'unsafe-inline'"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


async def static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    path = STATIC / name
    if "/" in name or name.startswith(".") or not path.is_file():
        return guard.error(404, "ResourceNotFound", f"no asset {name}")
    return web.FileResponse(path, headers={"Cache-Control": "no-store"})


async def no_icon(request: web.Request) -> web.Response:
    return web.Response(status=204)


# ---- reads -----------------------------------------------------------------------------------------


def state_doc(lab: str) -> dict:
    st = filtering.add_filtering(status.status(lab), status.load_model(lab))
    evs = event_log.read(lab)
    return {"status": st, "layout": layout.layout(st), "layout_present": layout.present_layout(st),
            "accounts": sorted({v["account"] for v in st["vpcs"]}),
            "events": evs[-EVENTS_SHOWN:], "last_event": evs[-1]["id"] if evs else 0}


def _db_signature(lab: str) -> Optional[tuple]:
    """What changes whenever a command writes the lab's state (None: no state).

    The file's mtime alone is not enough: it ticks coarsely (jiffies), and a small write
    keeps the size. So it includes SQLite's file change counter (header bytes 24-27, bumped by
    every committed write in rollback-journal mode) and, should the store use WAL, the WAL
    file's size and mtime.
    """
    db = status.state_file(lab)
    try:
        with open(db, "rb") as f:
            st = os.fstat(f.fileno())
            counter = f.read(28)[24:28]
    except FileNotFoundError:
        return None
    try:
        wal = os.stat(f"{db}-wal")
        wal_sig = (wal.st_size, wal.st_mtime_ns)
    except FileNotFoundError:
        wal_sig = None
    return st.st_ino, st.st_mtime_ns, st.st_size, counter, wal_sig


async def _state_json(app: web.Application) -> str:
    """The state document as JSON, built once per change of the lab's state, whoever asks."""
    cache = app[guard.STATE_CACHE]
    sig = _db_signature(app[guard.LAB])
    if sig is None or cache.get("sig") != sig:
        # Taken before the read: a write meanwhile leaves a newer document under an older
        # signature, which the next request rebuilds. Never an older one under a newer.
        doc = await asyncio.get_running_loop().run_in_executor(None, state_doc, app[guard.LAB])
        cache["sig"], cache["json"] = sig, json.dumps(doc)
        cache["nat_gateways"] = [(v["name"], n["name"]) for v in doc["status"]["vpcs"] for n in v["nat_gateways"]]
    return cache["json"]


@guard.api
async def state(request: web.Request) -> web.Response:
    return web.Response(text=await _state_json(request.app), content_type="application/json")


@guard.api
async def events(request: web.Request) -> web.Response:
    after = guard.whole(request.query.get("after") or "0", "after")
    rows = await guard.read(request, event_log.read, request.app[guard.LAB])
    return web.json_response({"events": [e for e in rows if e["id"] > after]})


async def stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events: `event` per new row of the lab's event log; a comment every 15 s keeps it open."""
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
    await resp.prepare(request)
    queue: asyncio.Queue = asyncio.Queue()
    request.app[guard.SUBSCRIBERS].add(queue)
    try:
        await resp.write(b": hello\n\n")
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), timeout=15)
            except asyncio.TimeoutError:
                await resp.write(b": keepalive\n\n")
                continue
            if item is None:  # the server is stopping (_end_streams)
                break
            await resp.write(f"event: {item['kind']}\ndata: {json.dumps(item['data'])}\n\n".encode())
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        request.app[guard.SUBSCRIBERS].discard(queue)
    return resp


async def _end_streams(app: web.Application) -> None:
    """At shutdown, before the connections are closed: every event stream ends now (otherwise each
    holds the shutdown for its timeout, and `vpclab ui` took seconds to stop)."""
    for q in list(app[guard.SUBSCRIBERS]):
        q.put_nowait(None)


def _publish(app: web.Application, kind: str, data) -> None:
    for q in list(app[guard.SUBSCRIBERS]):
        q.put_nowait({"kind": kind, "data": data})


def _new_events(lab: str, after: int):
    """(events after `after`, or None when the lab is gone)."""
    try:
        return [e for e in event_log.read(lab) if e["id"] > after]
    except VpclabError:
        return None


async def watch(app: web.Application) -> None:
    """Stat state.db every POLL_S; on a change, publish the new events (cheap: a stat when idle)."""
    loop = asyncio.get_running_loop()
    last_sig, last_id, gone = None, None, False
    while True:
        sig = _db_signature(app[guard.LAB])
        if sig != last_sig:
            last_sig = sig
            rows = None if sig is None else await loop.run_in_executor(None, _new_events, app[guard.LAB], last_id or 0)
            if rows is None:
                if not gone:
                    _publish(app, "gone", {"lab": app[guard.LAB]})
                gone = True
            else:
                if gone:
                    last_id, gone = None, False  # rebuilt: ids start again
                    _publish(app, "changed", {})
                if last_id is None:  # first look: remember where the log is, send nothing
                    last_id = rows[-1]["id"] if rows else 0
                elif rows:
                    last_id = rows[-1]["id"]
                    for e in rows:
                        _publish(app, "event", e)
                try:
                    await _state_json(app)  # ready for the pages that will ask for it now
                except VpclabError:
                    pass
        await asyncio.sleep(POLL_S)


# ---- probes and changes ------------------------------------------------------------------------------


def _probe_args(doc: dict):
    src, dst = guard.text(doc, "src"), guard.text(doc, "dst")
    if src is None or dst is None:
        raise Refused("a probe needs `src` and `dst` (<vpc>/<instance>)", code="MissingParameter")
    proto = guard.text(doc, "proto") or "icmp"
    if proto not in ("icmp", "tcp", "udp"):
        raise Refused("`proto` must be icmp, tcp or udp", code="InvalidParameterValue")
    port = doc.get("port")
    if port in ("", None):
        port = None
    else:
        port = guard.whole(port, "port")
        if not 1 <= port <= 65535:
            raise Refused(f"port {shown(port)} is not in 1..65535", code="InvalidParameterValue")
    return src, dst, proto, port


@guard.api
async def probe(request: web.Request) -> web.Response:
    from ..controller import probing

    src, dst, proto, port = _probe_args(await guard.body(request))
    doc = await guard.work(request, probing.probe, src, dst, proto, port, None, request.app[guard.LAB],
                           actor=WEB_ACTOR)  # logged: a teacher's `vpclab events` shows the page's probes
    return web.json_response(dict(doc, animation=await _animation(request, doc)))


@guard.api
async def explain(request: web.Request) -> web.Response:
    src, dst, proto, port = _probe_args(await guard.body(request))
    v = await guard.read(request, functools.partial(explain_model, src, dst, proto, port, lab=request.app[guard.LAB],
                                                  load=status.load_model))
    doc = v.to_json()
    return web.json_response(dict(doc, animation=await _animation(request, doc)))


async def _animation(request: web.Request, doc: dict) -> dict:
    """The probe's animation, its NAT gateway hops drawn where the picture draws them: the
    page's own state, read again only if the lab changed (if the lab is gone by now, the
    answer stays, drawn without them)."""
    try:
        await _state_json(request.app)
        nats = request.app[guard.STATE_CACHE]["nat_gateways"]
    except VpclabError:
        nats = []
    return animation.steps(animation.placed(doc, nats))


@guard.api
async def matrix(request: web.Request) -> web.Response:
    from ..controller import probing

    return web.json_response(await guard.work(request, probing.matrix, request.app[guard.LAB], actor=WEB_ACTOR))


PEERING_EVENTS = ("accept", "reject", "delete")
WEB_ACTOR = "web view"  # the actor of the page's probes and matrix runs in the event log


@guard.api
async def peering(request: web.Request) -> web.Response:
    event, pid = request.match_info["event"], request.match_info["id"]
    if event not in PEERING_EVENTS:
        raise Refused(f"unknown peering action {shown(event, as_repr=True)} (accept, reject, delete)", code="InvalidParameter")
    account = guard.text(await guard.body(request), "as")  # None: the requester's account, as in the CLI
    p = await guard.work(request, operate.run, request.app[guard.LAB], f"peering {event}", pid, account)
    return web.json_response({"id": p.name, "state": p.state})


# version 3: the CCN's live operations, as the CLI's `ccn attach|detach|accept|reject CCN VPC` and
# `ccn route enable|disable CCN DESTINATION@VPC` (the same rows of the one table)
CCN_ACTIONS = {"attach": "vpc", "detach": "vpc", "accept": "vpc", "reject": "vpc", "route-enable": "route",
               "route-disable": "route"}


@guard.api
async def ccn(request: web.Request) -> web.Response:
    action, name = request.match_info["action"], request.match_info["id"]
    if action not in CCN_ACTIONS:
        raise Refused(f"unknown CCN action {shown(action, as_repr=True)} ({', '.join(CCN_ACTIONS)})",
                      code="InvalidParameter")
    doc = await guard.body(request)
    what, account = guard.text(doc, CCN_ACTIONS[action]), guard.text(doc, "as")  # None: the entitled account
    if what is None:
        raise Refused(f"ccn {action} needs `{CCN_ACTIONS[action]}`", code="MissingParameter")
    result = await guard.work(request, operate.run, request.app[guard.LAB], "ccn " + action.replace("-", " "),
                              name, what, account)
    if CCN_ACTIONS[action] == "route":
        return web.json_response({"ccn": name, "route": result.key, "state": "enabled" if result.enabled
                                  else "disabled", "why": result.why or None})
    return web.json_response({"ccn": name, "vpc": result.vpc, "state": result.state})


@guard.api
async def ccn_create(request: web.Request) -> web.Response:
    """`ccn create [NAME] --as ACCOUNT` (the name: the cloud's next free one when not given)."""
    doc = await guard.body(request)
    c = await guard.work(request, operate.run, request.app[guard.LAB], "ccn create", guard.text(doc, "name"),
                         guard.text(doc, "as"))
    return web.json_response({"ccn": c.name, "account": c.account})


@guard.api
async def ccn_delete(request: web.Request) -> web.Response:
    doc = await guard.body(request)
    c = await guard.work(request, operate.run, request.app[guard.LAB], "ccn delete", request.match_info["id"],
                         guard.text(doc, "as"))
    return web.json_response({"ccn": c.name, "state": "deleted"})


@guard.api
async def ccn_bandwidth(request: web.Request) -> web.Response:
    """`ccn bandwidth CCN REGION REGION RATE` (RATE `default`: the 1 Gbps default)."""
    from ..model.units import bandwidth_kbps

    doc = await guard.body(request)
    name = request.match_info["id"]
    region, dst, rate = (guard.text(doc, k) for k in ("region", "dst_region", "rate"))
    if region is None or dst is None or rate is None:
        raise Refused("ccn bandwidth needs `region`, `dst_region` and `rate`", code="MissingParameter")
    kbps = None if rate == "default" else bandwidth_kbps(rate)
    if rate != "default" and kbps is None:
        raise Refused("rate must be a bandwidth (e.g. 200Mbps) or `default`", code="InvalidParameterValue")
    c = await guard.work(request, operate.run, request.app[guard.LAB], "ccn bandwidth", name, region, dst, kbps,
                         guard.text(doc, "as"))
    return web.json_response({"ccn": c.name, "regions": [region, dst],
                              "bandwidth_mbps": c.bandwidth_kbps(region, dst) / 1000})


@guard.api
async def clock_advance(request: web.Request) -> web.Response:
    from ..model.units import parse_duration

    text = guard.text(await guard.body(request), "duration")
    if text is None:
        raise Refused("advancing the clock needs `duration` (e.g. 8d, 36h)", code="MissingParameter")
    try:
        seconds = parse_duration(text)
    except ValueError as e:
        raise Refused(str(e), code="InvalidParameterValue")
    expired = await guard.work(request, operate.run, request.app[guard.LAB], "clock advance", seconds)
    model = await guard.read(request, status.load_model, request.app[guard.LAB])
    return web.json_response({"clock": model.clock, "expired": [p.name for p in expired]})


# ---- the app -----------------------------------------------------------------------------------------


async def _start_watch(app: web.Application):
    app[guard.WATCHER] = asyncio.create_task(watch(app))
    yield
    app[guard.WATCHER].cancel()
    try:
        await app[guard.WATCHER]
    except asyncio.CancelledError:
        pass
    app[guard.WORKER].shutdown(wait=False, cancel_futures=True)


def make_app(lab: str, token: str, port: int) -> web.Application:
    """The application for one lab; `port` is the one the Host header must name."""
    app = web.Application(middlewares=[guard.check], client_max_size=64 * 1024)
    app[guard.LAB], app[guard.TOKEN], app[guard.PORT] = lab, token, port
    app[guard.WORKER] = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="vpclab-ui")
    app[guard.SUBSCRIBERS] = set()
    app[guard.STATE_CACHE] = {}
    app.cleanup_ctx.append(_start_watch)
    app.on_shutdown.append(_end_streams)
    app.router.add_get("/", index)
    app.router.add_get("/static/{name}", static)
    app.router.add_get("/favicon.ico", no_icon)
    app.router.add_get("/api/state", state)
    app.router.add_get("/api/events", events)
    app.router.add_get("/api/stream", stream)
    app.router.add_post("/api/probe", probe)
    app.router.add_post("/api/explain", explain)
    app.router.add_post("/api/matrix", matrix)
    app.router.add_post("/api/peering/{id}/{event}", peering)
    app.router.add_post("/api/clock/advance", clock_advance)
    app.router.add_post("/api/ccn", ccn_create)
    app.router.add_post("/api/ccn/{id}/delete", ccn_delete)
    app.router.add_post("/api/ccn/{id}/bandwidth", ccn_bandwidth)
    app.router.add_post("/api/ccn/{id}/{action}", ccn)
    return app


class _OneLine(logging.Handler):
    """aiohttp's server log as one line on stderr (at the time of writing: sys.stderr may change), its
    exception's message without the traceback, control characters escaped. Any local client can send
    malformed HTTP (two Host headers, say) without the token: that is a line, not a page of traceback."""

    def emit(self, record: logging.LogRecord) -> None:
        from aiohttp.http_exceptions import HttpProcessingError

        try:
            exc = record.exc_info[1] if record.exc_info else None
            if isinstance(exc, HttpProcessingError):
                peer = record.args[0] if isinstance(record.args, tuple) and record.args else "a client"
                text = f"malformed HTTP from {peer} refused ({exc.code}): {' '.join(str(exc.message).split())}"
            elif exc is not None:
                text = f"{record.getMessage()}: {type(exc).__name__}: {' '.join(str(exc).split())}"
            else:
                text = record.getMessage()
            sys.stderr.write(f"ui: {shown(text, 300)}\n")
            sys.stderr.flush()
        except Exception:  # a log line never stops the server
            pass


def http_logger() -> logging.Logger:
    """The logger the server's connections write to (not aiohttp's own, left as it is)."""
    log = logging.getLogger("vpclab.ui.http")
    if not any(isinstance(h, _OneLine) for h in log.handlers):
        log.addHandler(_OneLine())
    log.propagate = False
    log.setLevel(logging.WARNING)
    return log


def url(port: int, token: str) -> str:
    return f"http://{guard.HOST}:{port}/?token={token}"


async def _serve(lab: str, port: int, token: str, ready) -> None:
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((guard.HOST, port))
    except OSError as e:
        sock.close()
        raise Refused(f"cannot listen on {guard.HOST}:{port}: {e.strerror}", code="InvalidParameterValue",
                      hint="choose another with --port")
    port = sock.getsockname()[1]
    # Ctrl-C (SIGINT) and SIGTERM both cancel this task: the finally below closes the server cleanly.
    # Installed here, not left to asyncio.run, so that it works even where SIGINT starts ignored
    # (a background job of a non-interactive shell).
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, asyncio.current_task().cancel)
    app = make_app(lab, token, port)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, logger=http_logger(),
                           shutdown_timeout=SHUTDOWN_S)
    await runner.setup()
    try:
        await web.SockSite(runner, sock).start()
        ready(url(port, token))
        await asyncio.Event().wait()  # until Ctrl-C cancels this task
    finally:
        await runner.cleanup()


def serve(lab: Optional[str], port: int = DEFAULT_PORT, token: Optional[str] = None, ready=print) -> None:
    """Serve lab's view on 127.0.0.1:port until interrupted; `ready(url)` once listening."""
    name = status.resolve_lab(lab)
    try:
        asyncio.run(_serve(name, port, token or guard.new_token(), ready))
    except (KeyboardInterrupt, asyncio.CancelledError):
        pass
