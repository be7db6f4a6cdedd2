"""What an update costs, side by side with raw aiohttp (and requests), in one run.

    .venv/bin/python benchmarks/bench_update.py --quick        # a smoke run (seconds)
    .venv/bin/python benchmarks/bench_update.py                # the full table (minutes)
    .venv/bin/python benchmarks/bench_update.py --soak         # 100,000 updates at concurrency 64

The headline figure is the client process's CPU time per call (user + sys, microseconds), which
does not depend on the server. Each variant runs in a fresh client subprocess pinned to CPU 0
(warm-up first, then a measured window); the fixed-answer server (``fixed_server.py``) runs in its
own process pinned to CPU 1. Medians of ``--repeat`` repetitions; ratios are to raw aiohttp at the
same concurrency in the same run (and to the ``requests`` loop for the blocking facade).

Variants (all do PUT users/{objectId} with a small changed-property body; the answer is a full
user object of 15 properties):

    raw-aiohttp     one ClientSession, ``json=`` body, ``await resp.json()``: the floor
    update          ``await scope.update(user)``, structlog not configured (the default)
    update+model    ``await scope.update(profile)`` with a typed model (an attrs class, issue 13)
    update+jsonlog  the same, structlog rendering JSON lines to /dev/null
    callback        ``scope.update(user, AsyncCallback(on_ok, on_fault))``, awaiting the handle
    blocking        ``BlockingBackendless``: ``scope.update(user)`` in a plain loop (concurrency 1)
    requests        a ``requests.Session`` loop doing the same PUT (concurrency 1)

With uvloop installed, ``raw-aiohttp@uvloop`` and ``update@uvloop`` rows run the same code on
uvloop (ratios still to raw aiohttp on the stdlib loop). A separate row measures the emulator's
own throughput: updates/s against SQLite on one core, 16 concurrent updates from raw aiohttp.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import gc
import itertools
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fixed_server import FULL_USER, OBJECT_ID, USER_TOKEN  # noqa: E402

APP_ID = "BENCH-APP-ID"
API_KEY = "BENCH-REST-API-KEY"

ASYNC_VARIANTS = ("raw-aiohttp", "update", "update+model", "update+jsonlog", "callback")
UVLOOP_VARIANTS = ("raw-aiohttp@uvloop", "update@uvloop")
SYNC_VARIANTS = ("blocking", "requests")
#: (variant, baseline, limit) : the goals of issue 9
GOALS = {
    "update": ("raw-aiohttp", 1.00),
    "update+model": ("update", 1.10),  # issue 13: model= at most 10 % above BackendlessUser
    "update+jsonlog": ("raw-aiohttp", 1.25),
    "blocking": ("requests", 0.60),
}
CLIENT_CPU = 0
SERVER_CPU = 1
FULL = {"n": 20000, "warmup": 2000, "repeat": 9, "emulator_n": 5000, "emulator_repeat": 3,
        "soak_n": 100_000}
QUICK = {"n": 1000, "warmup": 300, "repeat": 1, "emulator_n": 300, "emulator_repeat": 1,
         "soak_n": 5000}


# -- measuring ------------------------------------------------------------------------------------
def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def user_sys_seconds() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def current_rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def process_cpu_seconds(pid: int | None) -> float | None:
    """utime + stime of another process (the server), from /proc/PID/stat."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def established_sockets() -> int:
    """This process's ESTABLISHED TCP sockets (its fds matched against /proc/net/tcp{,6})."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        with contextlib.suppress(OSError), open(table, encoding="ascii") as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                if fields[3] == "01" and fields[9] in inodes:  # 01 = TCP_ESTABLISHED
                    count += 1
    return count


def pin(cpu: int | None, pid: int = 0) -> None:
    """Pin process ``pid`` (0: this one) to ``cpu``, where the machine has it."""
    if cpu is not None and hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > cpu:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(pid, {cpu})


class Window:
    """The measured window: client CPU, wall time and the server's CPU over it.

    ``tick(i)`` is called with each call's number; every tenth of the window it notes the CPU
    used so far, so that each run also yields the CPU per call of ten consecutive slices (their
    median is robust to a slice disturbed by something else on the machine).
    """

    SLICES = 10

    def __init__(self, server_pid: int | None, n: int) -> None:
        self.server_pid = server_pid
        self.n = n
        self.step = max(1, n // self.SLICES)
        self.marks: list[float] = []

    def tick(self, i: int) -> None:
        if i % self.step == 0:
            self.marks.append(cpu_seconds())

    def _gc_event(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.gc_started = time.perf_counter()
        else:
            self.gc_passes[info["generation"]] += 1
            self.gc_collected[info["generation"]] += info["collected"]
            self.gc_seconds += time.perf_counter() - self.gc_started

    def __enter__(self) -> Window:
        gc.collect()
        self.gc_passes = [0, 0, 0]
        self.gc_collected = [0, 0, 0]  # unreachable objects the passes found, per generation
        self.gc_seconds = 0.0
        self.gc_started = 0.0
        gc.callbacks.append(self._gc_event)
        self.server0 = process_cpu_seconds(self.server_pid)
        self.user_sys0 = user_sys_seconds()
        self.cpu0 = cpu_seconds()
        self.wall0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall0
        gc.callbacks.remove(self._gc_event)
        end = cpu_seconds()
        self.cpu = end - self.cpu0
        user, system = user_sys_seconds()
        self.user, self.sys = user - self.user_sys0[0], system - self.user_sys0[1]
        server1 = process_cpu_seconds(self.server_pid)
        self.server = None if server1 is None or self.server0 is None else server1 - self.server0
        self.marks.append(end)

    def result(self) -> dict[str, Any]:
        n = self.n
        marks = self.marks
        # marks[k] is taken when call number k * step starts; the last one at the very end
        slices = []
        if len(marks) >= 2:  # ticked
            counts = [self.step] * (len(marks) - 2) + [n - self.step * (len(marks) - 2)]
            slices = [(b - a) / calls * 1e6
                      for (a, b), calls in zip(itertools.pairwise(marks), counts, strict=True)
                      if calls >= self.step // 2]
        return {
            "n": n,
            "cpu_us": self.cpu / n * 1e6,
            "user_us": self.user / n * 1e6,
            "sys_us": self.sys / n * 1e6,
            "gc_passes": self.gc_passes,
            "gc_collected": self.gc_collected,
            "gc_us": self.gc_seconds / n * 1e6,
            "cpu_us_slices": slices,
            "cpu_us_median_slice": statistics.median(slices) if slices else self.cpu / n * 1e6,
            "calls_s": n / self.wall,
            "wall_s": self.wall,
            "server_busy": None if self.server is None else self.server / self.wall,
            "server_cpu_us": None if self.server is None else self.server / n * 1e6,
            "peak_rss_mb": peak_rss_mb(),
        }


# -- the client side (runs in a fresh subprocess per variant) -----------------------------------
def configure_logging(variant: str) -> None:
    import structlog

    structlog.reset_defaults()
    if variant == "update+jsonlog":
        structlog.configure(
            processors=[
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso"),
                structlog.processors.JSONRenderer(),
            ],
            logger_factory=structlog.WriteLoggerFactory(open(os.devnull, "w")),  # noqa: SIM115
        )


async def drive(call: Callable[[int, int], Awaitable[Any]], concurrency: int, count: int,
                tick: Callable[[int], None] | None = None, *, first: int = 0) -> None:
    """``count`` calls numbered from ``first``, ``concurrency`` at a time (each worker w gets
    its own user object)."""
    numbers = iter(range(first, first + count))

    async def worker(w: int) -> None:
        for i in numbers:
            await call(w, i)

    async def ticking_worker(w: int) -> None:
        for i in numbers:
            tick(i)  # type: ignore[misc]
            await call(w, i)

    run = worker if tick is None else ticking_worker
    await asyncio.gather(*(run(w) for w in range(concurrency)))


def model_class() -> type[Any]:
    """The typed model of the ``update+model`` row: nine of the answer's properties."""
    import attrs

    @attrs.define
    class Profile:
        objectId: str | None = None
        email: str | None = None
        name: str | None = None
        phoneNumber: str | None = None
        age: int = 0
        newsletter: bool = False
        city: str | None = None
        created: dt.datetime | None = None
        updated: dt.datetime | None = None

    return Profile


async def async_client(variant: str, base_url: str, concurrency: int,
                       setup_only: bool = False) -> tuple[Callable[[int, int], Awaitable[Any]],
                                                          Callable[[], Awaitable[None]], Any]:
    """The per-call coroutine of a variant, its closer, and the object that owns the pool."""
    base = variant.split("@")[0]
    if base == "raw-aiohttp":
        import aiohttp

        session = aiohttp.ClientSession()
        url = f"{base_url}/{APP_ID}/{API_KEY}/users/{OBJECT_ID}"
        headers = {"user-token": USER_TOKEN}

        async def raw(w: int, i: int) -> Any:
            async with session.put(url, json={"phoneNumber": str(i)}, headers=headers) as resp:
                data = await resp.json()
            if resp.status != 200 or data["objectId"] != OBJECT_ID:
                raise RuntimeError(f"unexpected answer {resp.status}")
            return data

        return raw, session.close, session

    configure_logging(base)
    from backendless_aio import AsyncCallback, Backendless, BackendlessUser

    app = Backendless(app_id=APP_ID, api_key=API_KEY, server_url=base_url)
    scope = app.users.session(user_token=USER_TOKEN, object_id=OBJECT_ID)
    users = [BackendlessUser._from_wire(dict(FULL_USER)) for _ in range(concurrency)]

    if base == "callback":
        faults: list[BaseException] = []

        def on_ok(user: Any) -> None:
            pass

        async def with_callback(w: int, i: int) -> Any:
            user = users[w]
            user.set_property("phoneNumber", str(i))
            return await scope.update(user, AsyncCallback(on_ok, faults.append))

        async def close_callback() -> None:
            await app.aclose()
            if faults:
                raise faults[0]

        return with_callback, close_callback, app

    if base == "update+model":
        from backendless_aio import typed

        profile_class = model_class()
        profiles = [typed.from_wire(profile_class, dict(FULL_USER)) for _ in range(concurrency)]

        async def update_model(w: int, i: int) -> Any:
            profile = profiles[w]
            profile.phoneNumber = str(i)
            profiles[w] = await scope.update(profile)
            return profiles[w]

        return update_model, app.aclose, app

    async def update(w: int, i: int) -> Any:
        user = users[w]
        user.set_property("phoneNumber", str(i))
        return await scope.update(user)

    return update, app.aclose, app


def run_async_variant(args: argparse.Namespace) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        call, close, _ = await async_client(args.variant, args.url, args.concurrency)
        try:
            await drive(call, args.concurrency, args.warmup)
            with Window(args.server_pid, args.n) as window:
                await drive(call, args.concurrency, args.n, window.tick)
        finally:
            await close()
        return window.result()

    if args.variant.endswith("@uvloop"):
        import uvloop

        return uvloop.run(main())
    return asyncio.run(main())


def run_sync_variant(args: argparse.Namespace) -> dict[str, Any]:
    if args.variant == "requests":
        import requests

        url = f"{args.url}/{APP_ID}/{API_KEY}/users/{OBJECT_ID}"
        headers = {"user-token": USER_TOKEN}
        with requests.Session() as session:

            def put(i: int) -> Any:
                resp = session.put(url, json={"phoneNumber": str(i)}, headers=headers)
                data = resp.json()
                if resp.status_code != 200 or data["objectId"] != OBJECT_ID:
                    raise RuntimeError(f"unexpected answer {resp.status_code}")
                return data

            for i in range(args.warmup):
                put(i)
            with Window(args.server_pid, args.n) as window:
                for i in range(args.n):
                    window.tick(i)
                    put(i)
        return window.result()

    configure_logging("update")
    from backendless_aio import BackendlessUser, BlockingBackendless

    with BlockingBackendless(app_id=APP_ID, api_key=API_KEY, server_url=args.url) as app:
        scope = app.users.session(user_token=USER_TOKEN, object_id=OBJECT_ID)
        user = BackendlessUser._from_wire(dict(FULL_USER))

        def update(i: int) -> Any:
            user.set_property("phoneNumber", str(i))
            return scope.update(user)

        for i in range(args.warmup):
            update(i)
        with Window(args.server_pid, args.n) as window:
            for i in range(args.n):
                window.tick(i)
                update(i)
    return window.result()


def run_soak(args: argparse.Namespace) -> dict[str, Any]:
    """``args.n`` library updates at ``args.concurrency``; RSS and connections along the way."""

    async def main() -> dict[str, Any]:
        call, close, app = await async_client("update", args.url, args.concurrency)
        try:
            await drive(call, args.concurrency, args.warmup)
            gc.collect()
            rss_start = current_rss_mb()
            trace = []
            done = 0
            step = max(1, args.n // 10)
            with Window(args.server_pid, args.n) as window:
                while done < args.n:
                    chunk = min(step, args.n - done)
                    await drive(call, args.concurrency, chunk)
                    done += chunk
                    trace.append(round(current_rss_mb(), 2))
            gc.collect()
            rss_end = current_rss_mb()
            connector = app.connector
            idle = sum(len(conns) for conns in connector._conns.values())
            acquired = len(connector._acquired)
            sockets = established_sockets()
            pool_size = app.config.pool_size
        finally:
            await close()
        result = window.result()
        result.update(rss_start_mb=rss_start, rss_end_mb=rss_end, rss_trace_mb=trace,
                      pool_idle=idle, pool_acquired=acquired, established=sockets,
                      pool_size=pool_size, sockets_after_close=established_sockets())
        return result

    return asyncio.run(main())


def run_emulator_client(args: argparse.Namespace) -> dict[str, Any]:
    """Raw aiohttp against the emulator: register, log in, then 16 concurrent updates."""
    import aiohttp

    async def main() -> dict[str, Any]:
        root = args.url
        async with aiohttp.ClientSession() as session:
            creds = {"email": "bench@example.com", "password": "bench-password-1"}
            async with session.post(f"{root}/users/register", json=creds) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"register: {resp.status} {await resp.text()}")
            login = {"login": creds["email"], "password": creds["password"]}
            async with session.post(f"{root}/users/login", json=login) as resp:
                answer = await resp.json()
            url = f"{root}/users/{answer['objectId']}"
            headers = {"user-token": answer["user-token"]}

            async def update(w: int, i: int) -> None:
                async with session.put(url, json={"phoneNumber": str(i), "age": w},
                                       headers=headers) as resp:
                    data = await resp.json()
                if resp.status != 200:
                    raise RuntimeError(f"update: {resp.status} {data}")

            await drive(update, args.concurrency, args.warmup)
            with Window(args.server_pid, args.n) as window:
                await drive(update, args.concurrency, args.n)
        return window.result()

    return asyncio.run(main())


def serve_emulator(args: argparse.Namespace) -> int:
    """The emulator in this process (pinned), printing its root URL; until SIGTERM."""
    import signal

    pin(args.cpu)
    from backendless_aio.emulator import Emulator, EmulatorSettings

    async def main() -> None:
        settings = EmulatorSettings(db_path=args.db, port=0, fast_password_hashing=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with Emulator(settings) as emulator:
            print(f"listening {emulator.root_url}", flush=True)
            await stop.wait()

    asyncio.run(main())
    return 0


def worker_main(args: argparse.Namespace) -> int:
    pin(args.cpu)
    threshold = os.environ.get("BENCH_GC_THRESHOLD")
    if threshold:  # --gc-threshold: what an application may set (the library never does)
        gc.set_threshold(int(threshold), *gc.get_threshold()[1:])
    what_if = os.environ.get("BENCH_WHAT_IF")
    if what_if and args.variant not in ("raw-aiohttp", "raw-aiohttp@uvloop", "requests",
                                        "emulator"):
        import whatif

        whatif.apply(what_if)
    if args.variant == "soak":
        result = run_soak(args)
    elif args.variant == "emulator":
        result = run_emulator_client(args)
    elif args.variant in SYNC_VARIANTS:
        result = run_sync_variant(args)
    else:
        result = run_async_variant(args)
    if "backendless_aio" in sys.modules:
        result["library"] = str(Path(sys.modules["backendless_aio"].__file__ or "").parent)
    print(json.dumps(result), flush=True)
    return 0


# -- the orchestrator -----------------------------------------------------------------------------
def FIXED_SERVER_ARGV(cpu: int | None) -> list[str]:
    argv = [sys.executable, str(HERE / "fixed_server.py"), "--port", "0"]
    return argv if cpu is None else [*argv, "--cpu", str(cpu)]


class Server:
    """A server subprocess that prints ``listening X`` first; stopped with SIGTERM."""

    def __init__(self, argv: Sequence[str]) -> None:
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("listening "):
            self.stop()
            raise RuntimeError(f"server did not start: {line!r}")
        self.address = line.split(" ", 1)[1]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def snapshot_library(use_tree: bool) -> tuple[str | None, str]:
    """A copy of ``backendless_aio`` as committed at HEAD, for the workers to import.

    The library may change while a run lasts (other engineers commit to the same tree): every
    worker of one run must measure the same code. Returns (directory or None, description).
    """
    repo = HERE.parent

    def git(*argv: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["git", "-C", str(repo), *argv], capture_output=True, check=False)

    head = git("rev-parse", "--short=10", "HEAD").stdout.decode().strip() or "unknown"
    dirty = bool(git("status", "--porcelain", "--", "backendless_aio").stdout.strip())
    if use_tree:
        return None, f"the working tree at {head}" + (" with uncommitted changes" if dirty else "")
    archive = git("archive", "--format=tar", "HEAD", "backendless_aio")
    if archive.returncode != 0:
        return None, f"the working tree (git archive failed) at {head}"
    import io
    import tarfile

    target = tempfile.mkdtemp(prefix="bench-backendless-aio-")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(target, filter="data")
        else:  # pragma: no cover - Python without extraction filters
            tar.extractall(target)
    note = "; uncommitted changes to backendless_aio/ not included" if dirty else ""
    return target, f"commit {head} (a snapshot of HEAD{note})"


def others_busy() -> bool:
    """Whether another test run (pytest) is active on the machine right now."""
    if not shutil.which("pgrep"):
        return False
    found = subprocess.run(["pgrep", "-f", "pytest"], capture_output=True, text=True,
                           check=False).stdout.split()
    return bool(found)


def run_worker(variant: str, url: str, concurrency: int, n: int, warmup: int,
               server_pid: int | None, cpu: int | None) -> dict[str, Any]:
    argv = [sys.executable, str(Path(__file__).resolve()), "--worker", variant,
            "--url", url, "--worker-concurrency", str(concurrency), "--n", str(n),
            "--warmup", str(warmup)]
    if server_pid is not None:
        argv += ["--server-pid", str(server_pid)]
    if cpu is not None:
        argv += ["--cpu", str(cpu)]
    busy_before = others_busy()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=3600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{variant} c={concurrency} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["disturbed"] = busy_before or others_busy()
    expected = os.environ.get("BENCH_LIBRARY")
    if expected and "library" in result and not result["library"].startswith(expected):
        raise RuntimeError(f"{variant} imported {result['library']}, not the snapshot {expected}")
    return result


def machine() -> dict[str, str]:
    import aiohttp

    model = platform.processor() or "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = {"aiohttp": aiohttp.__version__}
    for name in ("orjson", "structlog", "cattrs", "requests", "uvloop", "yarl", "multidict"):
        try:
            module = __import__(name)
            versions[name] = getattr(module, "__version__", "?")
        except ImportError:
            versions[name] = "not installed"
    if versions.get("cattrs") == "?":
        from importlib.metadata import version

        versions["cattrs"] = version("cattrs")
    return {
        "cpu": f"{model}, {os.cpu_count()} cores",
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "libraries": ", ".join(f"{k} {v}" for k, v in versions.items()),
    }


def _median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def _has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def bench_table(args: argparse.Namespace, cpus: tuple[int | None, int | None]) -> None:
    client_cpu, server_cpu = cpus
    server_argv = FIXED_SERVER_ARGV(server_cpu)
    variants = list(ASYNC_VARIANTS)
    if args.uvloop_rows and _has_uvloop():
        variants += UVLOOP_VARIANTS
    sync_variants = list(SYNC_VARIANTS)
    if args.variants:
        unknown = set(args.variants) - {*ASYNC_VARIANTS, *UVLOOP_VARIANTS, *SYNC_VARIANTS}
        if unknown:
            raise SystemExit(f"unknown variants: {', '.join(sorted(unknown))}")
        variants = [v for v in variants if v in args.variants]
        sync_variants = [v for v in sync_variants if v in args.variants]
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
    server = Server(server_argv)
    url = f"http://127.0.0.1:{server.address}"
    try:
        for rep in range(args.repeat):
            shift = rep % max(1, len(variants))
            order = variants[shift:] + variants[:shift]
            jobs = [(v, c) for c in args.concurrency for v in order]
            jobs += [(v, 1) for v in (sync_variants if rep % 2 == 0 else sync_variants[::-1])]
            for variant, conc in jobs:
                n = args.n if variant not in SYNC_VARIANTS else args.sync_n
                result = run_worker(variant, url, conc, n, args.warmup, server.pid, client_cpu)
                runs.setdefault((variant, conc), []).append(result)
                print(f"  rep {rep + 1}/{args.repeat} {variant:>18} c={conc:<3} "
                      f"{result['cpu_us']:7.1f} us/call  {result['calls_s']:8.0f} calls/s  "
                      f"server busy {100 * (result['server_busy'] or 0):3.0f}%",
                      file=sys.stderr, flush=True)
    finally:
        server.stop()

    emulator_runs = []
    if args.emulator:
        for rep in range(args.emulator_repeat):
            with tempfile.TemporaryDirectory(prefix="bench-emulator-") as tmp:
                emulator_argv = [sys.executable, str(Path(__file__).resolve()),
                                 "--serve-emulator", "--db", str(Path(tmp) / "users.sqlite3")]
                if server_cpu is not None:
                    emulator_argv += ["--cpu", str(server_cpu)]
                emulator = Server(emulator_argv)
                try:
                    result = run_worker("emulator", emulator.address, 16, args.emulator_n,
                                        args.warmup // 4, emulator.pid, client_cpu)
                finally:
                    emulator.stop()
            emulator_runs.append(result)
            print(f"  rep {rep + 1}/{args.emulator_repeat} emulator c=16 "
                  f"{result['calls_s']:8.0f} updates/s, emulator busy "
                  f"{100 * (result['server_busy'] or 0):3.0f}%", file=sys.stderr, flush=True)

    report(args, runs, emulator_runs, cpus)


def report(args: argparse.Namespace, runs: dict[tuple[str, int], list[dict[str, Any]]],
           emulator_runs: list[dict[str, Any]], cpus: tuple[int | None, int | None]) -> None:
    fields = ("cpu_us", "cpu_us_median_slice", "user_us", "sys_us", "calls_s", "peak_rss_mb")
    med = {key: {field: _median(r.get(field, float("nan")) for r in results) for field in fields}
           for key, results in runs.items()}
    for key, results in runs.items():
        busy = [r["server_busy"] for r in results if r["server_busy"] is not None]
        med[key]["server_busy"] = _median(busy) if busy else float("nan")
        spread = [r["cpu_us"] for r in results]
        med[key]["spread"] = (min(spread), max(spread))

    info = machine()
    when = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    lines = [
        f"Run {when}: `bench_update.py {' '.join(sys.argv[1:])}`",
        "",
        f"- CPU: {info['cpu']} ({info['os']}); client pinned to CPU {cpus[0]}, "
        f"server to CPU {cpus[1]}",
        f"- {info['python']}; {info['libraries']}",
        f"- backendless_aio: {args.library}",
        f"- N = {args.n} measured calls per async row ({args.sync_n} per blocking/requests "
        f"row) after {args.warmup} warm-up calls; median of {args.repeat} runs, each in a "
        "fresh process",
        *([f"- **what-if run**: whatif.py prototypes `{args.what_if}` applied to the library "
            "rows (not the library as it is)"] if args.what_if else []),
        *([f"- the client workers ran `gc.set_threshold({args.gc_threshold})`"]
          if args.gc_threshold is not None else []),
        "- CPU µs/call: client user+sys CPU over the whole measured window / N; "
        "\"slice\": the run's median over 10 consecutive slices of N/10 calls (robust to a "
        "disturbed slice). Ratios: to raw-aiohttp at the same concurrency (blocking: to "
        "requests), computed on the medians. A goal is met when both ratios are within it. "
        "user / sys: the medians of the two parts of the CPU time; sys (the kernel's work for "
        "the client's sockets, loopback delivery included) moves between two levels from one "
        "process to the next, whatever the variant, so the user ratio to a goal's row is "
        "shown too (it does not decide the verdict).",
        "",
        "| variant | conc. | CPU µs/call | (min-max) | ratio | slice µs/call | slice ratio "
        "| user / sys µs | goal | calls/s | peak RSS MB | server busy |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    order = [*ASYNC_VARIANTS, *UVLOOP_VARIANTS, *SYNC_VARIANTS]
    keys = sorted(med, key=lambda k: (order.index(k[0]) >= len(ASYNC_VARIANTS) + 2,
                                      k[1], order.index(k[0])))
    for variant, conc in keys:
        row = med[(variant, conc)]
        base = "requests" if variant in SYNC_VARIANTS else "raw-aiohttp"
        base_row = med.get((base, conc))
        nan = float("nan")
        ratio = row["cpu_us"] / base_row["cpu_us"] if base_row else nan
        slice_ratio = (row["cpu_us_median_slice"] / base_row["cpu_us_median_slice"]
                       if base_row else nan)
        goal = ""
        if variant in GOALS:
            goal_base, limit = GOALS[variant]
            goal_row = med.get((goal_base, conc))
            if goal_row:
                ratios = (row["cpu_us"] / goal_row["cpu_us"],
                          row["cpu_us_median_slice"] / goal_row["cpu_us_median_slice"])
                met = [round(r, 2) <= limit for r in ratios]
                verdict = "met" if all(met) else "**missed**" if not any(met) else "borderline"
                user_ratio = row["user_us"] / goal_row["user_us"]
                against = "" if goal_base == base else \
                    f" {goal_base} ({ratios[0]:.2f}x, slice {ratios[1]:.2f}x, " \
                    f"user {user_ratio:.2f}x)"
                goal = f"≤ {limit:.2f}x{against}: {verdict}"
        lo, hi = row["spread"]
        lines.append(
            f"| {variant} | {conc} | {row['cpu_us']:.1f} | {lo:.0f}-{hi:.0f} | {ratio:.2f}x "
            f"| {row['cpu_us_median_slice']:.1f} | {slice_ratio:.2f}x "
            f"| {row['user_us']:.1f} / {row['sys_us']:.1f} | {goal} | {row['calls_s']:.0f} "
            f"| {row['peak_rss_mb']:.1f} "
            f"| {100 * row['server_busy']:.0f}% |")
    collected = [(key, [r for r in runs[key] if "gc_passes" in r]) for key in keys]
    if any(results for _, results in collected):
        lines += ["", "| variant | conc. | gen-0 passes (min-max) | GC µs/call (min-max) "
                  "| garbage found, gen 0 / 1 / 2 (all runs) |", "|---|---:|---:|---:|---:|"]
        for (variant, conc), results in collected:
            if results:
                passes = [r["gc_passes"][0] for r in results]
                spent = [r["gc_us"] for r in results]
                found = [sum(r.get("gc_collected", (0, 0, 0))[g] for r in results)
                         for g in range(3)]
                lines.append(f"| {variant} | {conc} | {min(passes)}-{max(passes)} "
                             f"| {_median(spent):.2f} ({min(spent):.2f}-{max(spent):.2f}) "
                             f"| {found[0]} / {found[1]} / {found[2]} |")
    if emulator_runs:
        rate = _median(r["calls_s"] for r in emulator_runs)
        busy = _median(r["server_busy"] or 0 for r in emulator_runs)
        emu_cpu = _median(r["server_cpu_us"] or 0 for r in emulator_runs)
        lines += [
            "",
            "| emulator (SQLite file, one core) | conc. | updates/s | emulator CPU µs/update "
            "| emulator busy | runs |",
            "|---|---:|---:|---:|---:|---:|",
            f"| raw aiohttp client → `Emulator`, PUT users/{{objectId}} | 16 | {rate:.0f} "
            f"| {emu_cpu:.0f} | {100 * busy:.0f}% | {len(emulator_runs)} |",
        ]
    all_runs = [r for results in runs.values() for r in results] + emulator_runs
    disturbed = sum(1 for r in all_runs if r.get("disturbed"))
    lines += ["", f"Another test run (pytest) was active during {disturbed} of {len(all_runs)} "
              "runs."]
    text = "\n".join(lines)
    print(text)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({
            "machine": info, "when": when, "argv": sys.argv[1:],
            "runs": {f"{v}@c{c}": r for (v, c), r in runs.items()},
            "emulator": emulator_runs}, indent=1))


def soak(args: argparse.Namespace, cpus: tuple[int | None, int | None]) -> int:
    client_cpu, server_cpu = cpus
    server_argv = FIXED_SERVER_ARGV(server_cpu)
    server = Server(server_argv)
    try:
        result = run_worker("soak", f"http://127.0.0.1:{server.address}", args.soak_concurrency,
                            args.soak_n, args.warmup, server.pid, client_cpu)
    finally:
        server.stop()
    growth = result["rss_end_mb"] - result["rss_start_mb"]
    open_conns = result["established"]
    ok_rss = growth < 5.0
    ok_conns = open_conns <= result["pool_size"]
    info = machine()
    when = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    print("\n".join([
        f"Soak {when}: {result['n']} updates through `scope.update(user)` at concurrency "
        f"{args.soak_concurrency} ({info['cpu']}; {info['python']}; backendless_aio "
        f"{args.library})",
        "",
        "| updates | conc. | CPU µs/call | calls/s | RSS start MB | RSS end MB | growth MB "
        "| open connections (pool size) | after aclose |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {result['n']} | {args.soak_concurrency} | {result['cpu_us']:.1f} "
        f"| {result['calls_s']:.0f} | {result['rss_start_mb']:.1f} | {result['rss_end_mb']:.1f} "
        f"| {growth:+.2f} ({'ok' if ok_rss else '**over 5 MB**'}) "
        f"| {open_conns} ESTABLISHED; pool {result['pool_idle']} idle + "
        f"{result['pool_acquired']} in use ({result['pool_size']}; "
        f"{'ok' if ok_conns else '**over**'}) | {result['sockets_after_close']} |",
        "",
        f"RSS after each tenth (MB): {', '.join(f'{x:.1f}' for x in result['rss_trace_mb'])}",
    ]))
    return 0 if ok_rss and ok_conns else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Benchmark backendless_aio's update against raw aiohttp and requests.")
    parser.add_argument("--quick", action="store_true", help="a smoke run: small N, one repeat")
    parser.add_argument("--n", type=int, default=None, help="measured calls per async row")
    parser.add_argument("--sync-n", type=int, default=None,
                        help="measured calls per blocking/requests row (default: N / 4)")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up calls per row")
    parser.add_argument("--repeat", type=int, default=None, help="runs per row (median taken)")
    parser.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")],
                        default=[1, 16, 128], help="comma-separated (default 1,16,128)")
    parser.add_argument("--variants", type=lambda s: s.split(","), default=None,
                        help="comma-separated subset of the rows (default: all)")
    parser.add_argument("--no-uvloop-rows", dest="uvloop_rows", action="store_false",
                        help="skip the @uvloop rows")
    parser.add_argument("--no-emulator", dest="emulator", action="store_false",
                        help="skip the emulator throughput row")
    parser.add_argument("--emulator-n", type=int, default=None, help="updates per emulator run")
    parser.add_argument("--emulator-repeat", type=int, default=None)
    parser.add_argument("--soak", action="store_true",
                        help="run the soak instead: --soak-n updates at --soak-concurrency")
    parser.add_argument("--soak-n", type=int, default=None)
    parser.add_argument("--soak-concurrency", type=int, default=64)
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    parser.add_argument("--json-out", metavar="FILE", help="also write every run's numbers")
    parser.add_argument("--library-tree", action="store_true",
                        help="measure the working tree's backendless_aio, not a snapshot of HEAD")
    parser.add_argument("--gc-threshold", type=int, default=None, metavar="N",
                        help="in the client workers, gc.set_threshold(N) (the first threshold): "
                             "what an application with many requests in flight may choose")
    parser.add_argument("--what-if", metavar="NAMES", default="",
                        help="apply whatif.py's prototypes to the library rows ('all' or names)")
    # internal roles
    parser.add_argument("--worker", dest="variant", help=argparse.SUPPRESS)
    parser.add_argument("--serve-emulator", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--worker-concurrency", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--server-pid", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.serve_emulator:
        return serve_emulator(args)
    if args.variant:
        args.concurrency = args.worker_concurrency
        return worker_main(args)

    # --quick: smaller defaults for a smoke run; numbers given explicitly still win
    defaults = QUICK if args.quick else FULL
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.sync_n is None:
        args.sync_n = max(1, args.n // 4)
    two_cores = hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) >= 2
    cpus = (CLIENT_CPU, SERVER_CPU) if two_cores and not args.no_pin else (None, None)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if load > 0.5:
        print(f"warning: load average {load:.2f}: other work may skew the numbers",
              file=sys.stderr)
    if others_busy():
        print("warning: pytest is running: other work may skew the numbers", file=sys.stderr)
    if args.gc_threshold is not None:
        os.environ["BENCH_GC_THRESHOLD"] = str(args.gc_threshold)  # read by the workers
    else:
        os.environ.pop("BENCH_GC_THRESHOLD", None)
    if args.what_if:
        os.environ["BENCH_WHAT_IF"] = args.what_if  # read by the workers
    else:
        os.environ.pop("BENCH_WHAT_IF", None)
    directory, args.library = snapshot_library(args.library_tree)
    if directory is not None:
        os.environ["BENCH_LIBRARY"] = directory
        os.environ["PYTHONPATH"] = os.pathsep.join(
            [directory, *filter(None, [os.environ.get("PYTHONPATH")])])
    print(f"measuring backendless_aio: {args.library}", file=sys.stderr)
    try:
        if args.soak:
            return soak(args, cpus)
        bench_table(args, cpus)
    finally:
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
