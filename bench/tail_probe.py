"""What-if knobs and instrumentation for ``bench/tail.py``, applied at run time inside the server.

Unlike ``tail.py`` this reaches into internals (``reg.server``, ``reg.registry``, the werkzeug
server's handler class, private locks), looked up by attribute at run time so that it never needs
a module path; if the package's internals move, it says which attribute it could not find. The
package's files are never changed.

Knobs (``--variant LABEL:k=v,k=v`` or ``--probe`` for ``probe=1``):

- ``gc=freeze``: ``gc.collect(); gc.freeze()`` once the registry is seeded (start-up objects
  leave the collector's view); ``gc=off``: ``gc.disable()``;
- ``gcthreshold=A[/B[/C]]``: ``gc.set_threshold(A, B, C)``;
- ``switch=S``: ``sys.setswitchinterval(S)`` (seconds; CPython's default is 0.005);
- ``http10=1``: the handler answers HTTP/1.0 and closes each connection (werkzeug's default);
- ``journal=N``: the registry's journal keeps N entries (default 20,000);
- ``log=N``: the server's request log keeps N exchanges (default 200, trimmed at 2N);
- ``nocycle=1``: requests are built with ``Request(environ, populate_request=False)`` (what
  ``Request.application`` does, minus ``environ["werkzeug.request"] = request``), so a request
  and its environ no longer form a reference cycle that only the collector can free;
- ``routecache=1``: URL matches of the app's ``MapAdapter`` (and the server module's ``_ROUTES``)
  are cached by (path, method): werkzeug's ``StateMachineMatcher.match`` makes a recursive
  closure, ~9 objects of cyclic garbage, per call;
- ``logtrim=1``: the request log drops its oldest exchange on each append past ``limit``
  instead of growing to 2 x ``limit`` and dropping half: the number of live objects stays flat, so
  the collector's allocation count does not climb by ~15 objects per request between trims;
- ``probe=1``: per-request timings (wall and thread CPU from ``parse_request`` to the end of
  ``run_wsgi``, app time), GC pauses (``gc.callbacks``), waits on the registry, journal, span and
  document-cache locks, ``identify`` (token lookup and hashing), and a GIL stall detector (a thread
  that sleeps 1 ms in a loop and records how late it wakes: what a thread woken by a socket waits
  for the interpreter). ``mark(label)`` closes a segment; ``report()`` returns them all.
"""

from __future__ import annotations

import gc
import statistics
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request

KNOBS = ("gc", "gcthreshold", "switch", "http10", "journal", "log", "nocycle", "routecache", "logtrim", "probe")

perf = time.perf_counter
cpu = time.thread_time


def _get(obj: Any, *path: str) -> Any:
    for name in path:
        if not hasattr(obj, name):
            raise RuntimeError(f"tail_probe: {type(obj).__name__} has no attribute {name!r} (internals moved?)")
        obj = getattr(obj, name)
    return obj


def _find(obj: Any, *paths: str) -> tuple[Any, str]:
    """The owner and attribute name of the first dotted path that exists (layouts differ)."""
    for path in paths:
        *owners, attr = path.split(".")
        owner = obj
        try:
            for name in owners:
                owner = getattr(owner, name)
        except AttributeError:
            continue
        if hasattr(owner, attr):
            return owner, attr
    raise RuntimeError(f"tail_probe: none of {paths} on {type(obj).__name__} (internals moved?)")


def _pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, -(-len(ordered) * p // 100) - 1))
    return ordered[int(rank)]


class _Waits(Protocol):
    def append(self, value: float, /) -> None: ...


class TimedLock:
    """A lock (or RLock) that records how long each contended acquire waited."""

    def __init__(self, inner: Any, sink: _Waits) -> None:
        self._inner = inner
        self._sink = sink

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if self._inner.acquire(False):
            return True
        if not blocking:
            return False
        started = perf()
        ok = bool(self._inner.acquire(True, timeout))
        self._sink.append(perf() - started)
        return ok

    def release(self) -> None:
        self._inner.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self._inner.release()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class Probe:
    LOCKS = ("registry", "journal", "span", "cache")

    def __init__(self) -> None:
        self.segments: list[dict[str, Any]] = []
        self._new()
        self._gc_started: dict[int, float] = {}

    def _new(self) -> None:
        self.started = perf()
        self.requests: list[tuple[float, float, float, float]] = []  # start, wall, cpu, app
        self.gcs: list[tuple[float, float, int, int]] = []  # start, duration, generation, collected
        self.locks: dict[str, list[float]] = {name: [] for name in self.LOCKS}
        self.identify: list[float] = []
        self.stalls: list[float] = []
        self.gaps: list[float] = []

    # -- instrumentation ---------------------------------------------------------------------------

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        ident = threading.get_ident()
        if phase == "start":
            self._gc_started[ident] = perf()
        else:
            started = self._gc_started.pop(ident, None)
            if started is not None:
                self.gcs.append((started, perf() - started, info["generation"], info.get("collected", 0)))

    def stall_loop(self, limit: float = 3600.0) -> None:
        deadline = perf() + limit  # bounded: the server process is gone long before
        while perf() < deadline:
            started = perf()
            time.sleep(0.001)
            self.stalls.append(perf() - started - 0.001)

    # -- segments ----------------------------------------------------------------------------------

    def mark(self, label: str) -> None:
        requests, gcs, locks, identify, stalls = self.requests, self.gcs, self.locks, self.identify, self.stalls
        gaps = self.gaps
        elapsed = perf() - self.started
        self._new()
        segment = summarize(label, elapsed, requests=requests, gcs=gcs, locks=locks, identify=identify, stalls=stalls)
        segment["gap_ms"] = _stats([g * 1e3 for g in gaps])
        self.segments.append(segment)

    def report(self) -> dict[str, Any]:
        return {"segments": self.segments, "gc_threshold": gc.get_threshold(), "switch": sys.getswitchinterval()}


def summarize(
    label: str,
    elapsed: float,
    *,
    requests: list[tuple[float, float, float, float]],
    gcs: list[tuple[float, float, int, int]],
    locks: dict[str, list[float]],
    identify: list[float],
    stalls: list[float],
) -> dict[str, Any]:
    ms = 1e3
    wall = [r[1] * ms for r in requests]
    cpu_ms = [r[2] * ms for r in requests]
    waited = [(r[1] - r[2]) * ms for r in requests]
    app = [r[3] * ms for r in requests]
    # Slow requests: which overlapped a collection, and which were slow with little CPU of their own.
    slow = [r for r in requests if r[1] > 0.005]
    spans = sorted((g[0], g[0] + g[1], g[2]) for g in gcs)

    def overlaps(r: tuple[float, float, float, float], gen: int | None) -> bool:
        lo, hi = r[0], r[0] + r[1]
        return any(s < hi and e > lo and (gen is None or g == gen) for s, e, g in spans)

    by_gen: dict[str, Any] = {}
    for gen in (0, 1, 2):
        durations = [g[1] * ms for g in gcs if g[2] == gen]
        by_gen[str(gen)] = {
            "count": len(durations),
            "total_ms": sum(durations),
            "mean_ms": statistics.fmean(durations) if durations else 0.0,
            "max_ms": max(durations, default=0.0),
            "collected": sum(g[3] for g in gcs if g[2] == gen),
        }
    tracked = {str(gen): len(gc.get_objects(generation=gen)) for gen in (0, 1, 2)}
    return {
        "label": label,
        "seconds": elapsed,
        "requests": len(requests),
        "server_wall_ms": _stats(wall),
        "server_cpu_ms": _stats(cpu_ms),
        "server_wait_ms": _stats(waited),
        "app_ms": _stats(app),
        "slow_over_5ms": {
            "count": len(slow),
            "with_any_gc": sum(overlaps(r, None) for r in slow),
            "with_gen2_gc": sum(overlaps(r, 2) for r in slow),
        },
        "gc": by_gen,
        "gc_pct_of_time": 100 * sum(g[1] for g in gcs) / elapsed if elapsed else 0.0,
        "tracked_objects": tracked,
        "frozen_objects": gc.get_freeze_count(),
        "locks": {
            name: {"contended": len(w), "total_ms": sum(w) * ms, "max_ms": max(w, default=0.0) * ms}
            for name, w in locks.items()
        },
        "identify_us": _stats([x * 1e6 for x in identify]),
        "stall_ms": _stats([x * ms for x in stalls]),
    }


def _stats(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "mean": statistics.fmean(values) if values else 0.0,
        "p50": _pct(values, 50),
        "p99": _pct(values, 99),
        "p999": _pct(values, 99.9),
        "max": max(values, default=0.0),
    }


def format_report(report: dict[str, Any]) -> str:
    out = [f"  gc threshold {tuple(report['gc_threshold'])}, switch interval {report['switch'] * 1e3:g} ms"]
    for seg in report["segments"]:
        if seg["label"] == "warmup":
            continue
        w, c, q, a, st = (
            seg["server_wall_ms"],
            seg["server_cpu_ms"],
            seg["server_wait_ms"],
            seg["app_ms"],
            seg["stall_ms"],
        )
        gcs = seg["gc"]
        slow = seg["slow_over_5ms"]
        locks = ", ".join(
            f"{name} {v['contended']}x/{v['total_ms']:.1f} ms (max {v['max_ms']:.2f})"
            for name, v in seg["locks"].items()
        )
        ident, gap = seg["identify_us"], seg["gap_ms"]
        out += [
            f"  [{seg['label']}] {seg['requests']} requests in {seg['seconds']:.1f} s",
            f"    in-server wall ms  p50 {w['p50']:.3f}  p99 {w['p99']:.2f}  p99.9 {w['p999']:.2f}  max {w['max']:.1f}"
            f"   | own CPU p50 {c['p50']:.3f} p99 {c['p99']:.3f} | waiting (wall-CPU) p99 {q['p99']:.2f}"
            f" p99.9 {q['p999']:.2f} | app p99 {a['p99']:.3f}",
            f"    gap on a keep-alive connection, our answer -> next request parsed (client turnaround +"
            f" waiting for the interpreter after recv) ms: p50 {gap['p50']:.2f} p99 {gap['p99']:.2f}"
            f" p99.9 {gap['p999']:.2f} max {gap['max']:.1f}",
            f"    slow (>5 ms in server): {slow['count']}, overlapping a GC {slow['with_any_gc']}"
            f" (gen2 {slow['with_gen2_gc']})",
            "    gc: "
            + ", ".join(
                f"gen{g} {v['count']}x mean {v['mean_ms']:.2f} max {v['max_ms']:.1f} ms ({v['collected']} freed)"
                for g, v in gcs.items()
            )
            + f"; {seg['gc_pct_of_time']:.1f} % of the time; tracked objects {seg['tracked_objects']},"
            f" frozen {seg['frozen_objects']}",
            f"    lock waits: {locks}",
            f"    identify us: n {ident['n']} p50 {ident['p50']:.1f} p99 {ident['p99']:.1f} max {ident['max']:.0f}"
            f"   | GIL stall detector (late wake of a 1 ms sleep) ms: p50 {st['p50']:.2f} p99 {st['p99']:.2f}"
            f" p99.9 {st['p999']:.2f} max {st['max']:.1f}",
        ]
    return "\n".join(out)


def _parse(knobs: str) -> dict[str, str]:
    out = {}
    for item in filter(None, knobs.split(",")):
        key, _, value = item.partition("=")
        out[key.strip()] = value.strip() or "1"
    return out


def apply(reg: Any, knobs: str) -> Probe | None:
    """Apply ``knobs`` to a started, seeded ``NpmRegistry``; the probe when ``probe`` is set."""
    settings = _parse(knobs)
    server = _get(reg, "server")
    registry = _get(reg, "registry")
    wsgi = _get(server, "server")
    unknown = set(settings) - set(KNOBS)
    if unknown:
        raise SystemExit(f"tail_probe: unknown knobs {sorted(unknown)}")
    if "switch" in settings:
        sys.setswitchinterval(float(settings["switch"]))
    if "gcthreshold" in settings:
        gc.set_threshold(*(int(x) for x in settings["gcthreshold"].split("/")))
    if "journal" in settings:
        journal = _get(registry, "journal")
        _get(journal, "_entries")
        journal._entries = deque(journal._entries, maxlen=int(settings["journal"]))
    if "log" in settings:
        server.log_limit = int(settings["log"])
        server.clear_log()
    if settings.get("nocycle") == "1":
        _no_request_cycle(server, wsgi)
    if settings.get("routecache") == "1":
        _cache_routes(server)
    if settings.get("logtrim") == "1":
        log_class = type(_get(server, "log"))
        _get(log_class, "append")

        def append(self: Any, item: Any) -> None:
            list.append(self, item)
            if len(self) > self.limit:
                del self[: len(self) - self.limit]

        log_class.append = append
    handler = _get(wsgi, "RequestHandlerClass")
    if settings.get("http10") == "1":
        handler = type("Http10Handler", (handler,), {"protocol_version": "HTTP/1.0"})
        wsgi.RequestHandlerClass = handler
    probe = Probe() if settings.get("probe") == "1" else None
    if probe is not None:
        _instrument(probe, server, registry, wsgi, handler)
    mode = settings.get("gc")
    if mode == "freeze":
        gc.collect()
        gc.freeze()
    elif mode == "off":
        gc.disable()
    elif mode not in (None, "default"):
        raise SystemExit(f"tail_probe: gc={mode}: expected freeze, off or default")
    return probe


def _no_request_cycle(server: Any, wsgi: Any) -> None:
    application = server.application

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ, populate_request=False)
        with request:
            try:
                response = application(request)
            except HTTPException as exc:
                response = exc.get_response(environ)
            return response(environ, start_response)

    _get(wsgi, "app")
    wsgi.app = app


def _cache_routes(server: Any) -> None:
    adapters = [_get(server, "app", "_adapter")]
    module = sys.modules.get(type(server).__module__)
    if module is not None and hasattr(module, "_ROUTES"):
        adapters.append(module._ROUTES)
    for adapter in adapters:
        match = adapter.match
        cache: dict[tuple[str, str | None], tuple[Any, dict[str, Any]]] = {}

        def cached(path: str, method: str | None = None, *, _match: Any = match, _cache: Any = cache) -> Any:
            hit = _cache.get((path, method))
            if hit is None:
                hit = _match(path, method=method)  # raises for no match: not cached
                if len(_cache) >= 4096:
                    _cache.clear()
                _cache[path, method] = hit
            return hit[0], dict(hit[1])

        adapter.match = cached


def _instrument(probe: Probe, server: Any, registry: Any, wsgi: Any, handler: Any) -> None:
    _instrument_requests(probe, server, wsgi, handler)
    _instrument_identify(probe, registry)
    _instrument_locks(probe, server, registry)
    gc.callbacks.append(probe.on_gc)
    threading.Thread(target=probe.stall_loop, name="tail-probe-stall", daemon=True).start()


def _instrument_requests(probe: Probe, server: Any, wsgi: Any, handler: Any) -> None:
    """Wall and CPU time from ``parse_request`` to the end of ``run_wsgi``; the app's share."""
    parse_request = handler.parse_request
    run_wsgi = handler.run_wsgi

    def timed_parse(self: Any) -> bool:
        self._probe_start = now = perf()
        self._probe_cpu = cpu()
        last = self.__dict__.get("_probe_end")
        if last is not None:  # keep-alive: from our last answer to this request's first byte parsed
            probe.gaps.append(now - last)
        return bool(parse_request(self))

    def timed_run(self: Any) -> None:
        try:
            run_wsgi(self)
        finally:
            start = getattr(self, "_probe_start", None)
            if start is not None:
                self._probe_end = end = perf()
                probe.requests.append((start, end - start, cpu() - self._probe_cpu, local.app))
                local.app = 0.0

    local = threading.local()
    local.app = 0.0
    probe_handler = type("ProbeHandler", (handler,), {"parse_request": timed_parse, "run_wsgi": timed_run})
    wsgi.RequestHandlerClass = probe_handler

    dispatch = server.dispatch

    def timed_dispatch(request: Any) -> Any:
        started = perf()
        try:
            return dispatch(request)
        finally:
            local.app = perf() - started

    server.dispatch = timed_dispatch


def _instrument_identify(probe: Probe, registry: Any) -> None:
    """Who a credential is: the token lookup, with its hash."""
    owner, attr = _find(registry, "accounts.identify", "identify")
    identify = getattr(owner, attr)

    def timed_identify(call: Any) -> Any:
        started = perf()
        try:
            return identify(call)
        finally:
            if getattr(call, "credential", None) is not None:
                probe.identify.append(perf() - started)

    setattr(owner, attr, timed_identify)


def _instrument_locks(probe: Probe, server: Any, registry: Any) -> None:
    app = _get(server, "app")
    views = [getattr(v, "__self__", None) for v in getattr(app, "views", {}).values()]
    targets: dict[str, Callable[[], tuple[Any, str]]] = {
        "registry": lambda: _find(registry, "state.lock", "state._lock", "_lock"),
        "journal": lambda: _find(registry, "journal._lock"),
        "span": lambda: _find(server, "_span_lock"),
        # the packument cache's lock: on the app, or (newer layout) on one of its mounted views
        "cache": lambda: (
            next(((v, "_cache_lock") for v in views if hasattr(v, "_cache_lock")), None) or _find(app, "_cache_lock")
        ),
    }
    for name, locate in targets.items():
        try:
            owner, attr = locate()
        except RuntimeError as exc:  # not fatal: the other measurements stand
            print(f"{exc}: lock {name!r} not timed", file=sys.stderr)
            continue
        setattr(owner, attr, TimedLock(getattr(owner, attr), _Sink(probe, name)))


class _Sink:
    """The current segment's list of waits for one lock."""

    def __init__(self, probe: Probe, name: str) -> None:
        self.probe, self.name = probe, name

    def append(self, value: float) -> None:
        self.probe.locks[self.name].append(value)
