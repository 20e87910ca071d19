"""The studio's ASGI app: one static page and a JSON API over the served runs.

``create_app(runs)`` loads the runs once and returns a Starlette app; ``gankit studio``
(:func:`gankit.studio.serve`) runs it with uvicorn. The routes:

====================  ======  ==============================================================
``/``                 GET     the page (``static/index.html``; its script and style beside)
``/api/runs``         GET     the runs, their panels, classes, sliders and the upload caps
``/api/generate``     POST    JSON: run, seed, grid, truncation, class -> a sample grid
``/api/walk``         POST    JSON: run, seed_a, seed_b, frames, frame, truncation, class,
                              amounts -> one frame of a latent walk
``/api/edit``         POST    JSON: run, z, label, class, amounts -> an edited projection
``/api/project``      POST    form: run, image, restarts, steps, seed -> the projection
``/api/inpaint``      POST    form: run, image, mask or box, restarts, steps, seed -> filled
``/api/translate``    POST    form: run, image, direction -> the translation
``/api/history``      GET     ?run=N -> the run panel: curves, scores, grids, warnings
====================  ======  ==============================================================

Every mistake is answered with ``{"error": "one sentence"}`` and HTTP 400 (413 for an
upload over the byte or pixel cap, 403 for a request that is not from the page). Requests
pick runs by index and carry numbers and images only; the static files are three fixed
names read from the package when the app is made. The work of a request runs in a worker
thread, at most ``workers`` at a time, so the server keeps answering while it computes.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Callable

from gankit.errors import UserError
from gankit.studio import generation, history, search
from gankit.studio.fields import integer, parse_json, shown
from gankit.studio.runs import PANEL_COMMANDS, Options, StudioRun, load_runs
from gankit.studio.uploads import MIB, BodyLimit, Refused

PAGE_HEADER = "x-gankit-studio"  # every API POST carries it: a cross-site form cannot
STATIC = {"/": ("index.html", "text/html; charset=utf-8"),
          "/studio.js": ("studio.js", "text/javascript; charset=utf-8"),
          "/studio.css": ("studio.css", "text/css; charset=utf-8")}
# the page may load nothing from anywhere but this server (and its own data: images)
CSP = ("default-src 'self'; img-src 'self' data: blob:; script-src 'self'; style-src 'self'; "
       "connect-src 'self'; font-src 'self'; form-action 'none'; frame-ancestors 'none'; "
       "base-uri 'none'")
LOOPBACK = ("127.0.0.1", "localhost", "::1")
JSON_HANDLERS = {"generate": generation.generate, "walk": generation.walk,
                 "edit": generation.edit}
FORM_HANDLERS = {"project": search.project, "inpaint": search.inpaint,
                 "translate": search.translate}
PANEL_OF = {"generate": "generate", "walk": "walk", "edit": "project", "project": "project",
            "inpaint": "inpaint", "translate": "translate", "history": "run"}


class Guard:
    """ASGI middleware: security headers on every answer; API POSTs must carry the page's
    header (a cross-site form or script cannot add it without a CORS preflight, which this
    server never grants); with ``hosts``, the Host header must name one of them (a DNS
    rebinding page cannot reach a server bound to 127.0.0.1)."""

    def __init__(self, app, hosts: tuple[str, ...] | None):
        self.app, self.hosts = app, hosts

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            from starlette.responses import JSONResponse

            response = JSONResponse({"error": refusal[1]}, status_code=refusal[0])
            return await response(scope, receive, self._with_headers(send))
        return await self.app(scope, receive, self._with_headers(send))

    def _refusal(self, scope, headers: dict) -> tuple[int, str] | None:
        host = headers.get(b"host", b"").decode("latin-1")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if self.hosts is not None and name.strip("[]") not in self.hosts:
            return 400, (f"this studio answers requests for {', '.join(self.hosts)} only, "
                         f"not for host {host[:60]!r}")
        if scope["method"] == "POST" and scope["path"].startswith("/api/") \
                and headers.get(PAGE_HEADER.encode()) != b"1":
            return 403, (f"API requests must come from the studio's page (header "
                         f"{PAGE_HEADER}: 1)")
        return None

    @staticmethod
    def _with_headers(send):
        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"), (b"cache-control", b"no-store")]
            await send(message)
        return send_with_headers


class Studio:
    """The served runs, the options and the worker limit; its methods are the endpoints."""

    def __init__(self, runs: list[StudioRun], options: Options, max_bytes: int, workers: int):
        self.runs, self.options, self.max_bytes = runs, options, max_bytes
        self.workers, self._limiter = workers, None
        self.pages = {path: (resources.files("gankit.studio").joinpath("static", name)
                             .read_bytes(), kind) for path, (name, kind) in STATIC.items()}

    def pick(self, fields: dict, panel: str) -> StudioRun:
        """The run a request names by index, which must offer ``panel``."""
        from gankit.config.kinds import require

        last = len(self.runs) - 1
        value = fields.get("run", 0)
        index = integer(value)
        if index is None or not 0 <= index <= last:
            raise Refused(f"there is no run {shown(value)}: runs are picked by index, and "
                          f"this studio serves run{' 0' if not last else f's 0 to {last}'}")
        chosen = self.runs[index]
        if panel not in chosen.panels:
            note = chosen.notes.get(panel)
            if note:
                raise Refused(f"run {index} ({chosen.name}) has no {panel} panel: {note}")
            require(chosen.run.kind, PANEL_COMMANDS[panel], subject=f"run {index} "
                    f"({chosen.name})")
            raise Refused(f"run {index} ({chosen.name}) has no {panel} panel")
        return chosen

    async def compute(self, fn: Callable, *args):
        """``fn(*args)`` in a worker thread, at most ``workers`` at once."""
        import anyio

        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.workers)
        return await anyio.to_thread.run_sync(lambda: fn(*args), limiter=self._limiter)

    async def static(self, request):
        from starlette.responses import Response

        body, kind = self.pages[request.url.path]
        return Response(body, media_type=kind)

    async def runs_list(self, request):
        from starlette.responses import JSONResponse

        return JSONResponse({"runs": [r.info() for r in self.runs],
                             "limits": {"max_upload_bytes": self.max_bytes,
                                        "max_pixels": self.options.max_pixels},
                             "search": {"project": search.PROJECT_SEARCH,
                                        "inpaint": search.INPAINT_SEARCH}})

    def json_endpoint(self, name: str):
        async def endpoint(request):
            from starlette.responses import JSONResponse

            fields = parse_json(await request.body())
            chosen = self.pick(fields, PANEL_OF[name])
            result = await self.compute(JSON_HANDLERS[name], chosen, fields, self.options)
            return JSONResponse(result)
        return endpoint

    def form_endpoint(self, name: str):
        async def endpoint(request):
            from starlette.responses import JSONResponse

            fields, files = await _read_form(request)
            chosen = self.pick(fields, PANEL_OF[name])
            result = await self.compute(FORM_HANDLERS[name], chosen, fields, files,
                                        self.options)
            return JSONResponse(result)
        return endpoint

    async def history(self, request):
        from starlette.responses import JSONResponse

        chosen = self.pick(dict(request.query_params), "run")
        return JSONResponse(await self.compute(history.history, chosen))


async def _read_form(request) -> tuple[dict, dict]:
    """(text fields, {name: bytes} of the files) of a multipart form: at most 2 files and
    16 fields, text fields of at most 64 kB."""
    async with request.form(max_files=2, max_fields=16, max_part_size=64 * 1024) as form:
        fields, files = {}, {}
        for key, value in form.multi_items():
            if isinstance(value, str):
                fields[key] = value
            else:
                files[key] = await value.read()
    return fields, files


def _error(status: int, message: str):
    from starlette.responses import JSONResponse

    return JSONResponse({"error": message}, status_code=status)


def _handlers() -> dict:
    from starlette.exceptions import HTTPException

    async def refused(request, exc: Refused):
        return _error(exc.status, str(exc))

    async def user_error(request, exc: UserError):
        return _error(400, str(exc))

    async def http_error(request, exc: HTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else "bad request"
        text = {404: f"no such page or API: {request.url.path[:80]}",
                405: f"{request.method} is not allowed on {request.url.path[:80]}"}
        return _error(exc.status_code, text.get(exc.status_code, detail))

    async def bug(request, exc: Exception):
        return _error(500, f"internal error in gankit studio ({type(exc).__name__}); the "
                           f"server is still up")

    return {Refused: refused, UserError: user_error, HTTPException: http_error,
            Exception: bug}


def create_app(runs, *, device: str = "cpu", ema: bool = True, max_upload_mb: float = 8,
               max_pixels: int = 4096 * 4096, workers: int = 2,
               allowed_hosts: tuple[str, ...] | None = None):
    """The studio's Starlette app over ``runs`` (run directories or checkpoint files, or
    one of them), loaded once onto ``device``. ``max_upload_mb``: the largest request body
    (MB = 2**20 bytes); ``max_pixels``: the largest upload, width x height;
    ``workers``: requests computed at once; ``allowed_hosts``: the Host names it answers
    (None: any; :func:`gankit.studio.serve` gives the loopback names when it binds one).
    """
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.routing import Route

    if max_upload_mb <= 0 or max_pixels <= 0 or workers < 1:
        raise UserError("max_upload_mb and max_pixels must be > 0 and workers >= 1")
    run_dirs = [runs] if isinstance(runs, (str, Path)) else list(runs)
    studio = Studio(load_runs(run_dirs, device, ema), Options(ema, int(max_pixels)),
                    int(max_upload_mb * MIB), workers)
    routes = [Route(path, studio.static, methods=["GET"]) for path in STATIC]
    routes += [Route("/api/runs", studio.runs_list, methods=["GET"]),
               Route("/api/history", studio.history, methods=["GET"])]
    routes += [Route(f"/api/{name}", studio.json_endpoint(name), methods=["POST"])
               for name in JSON_HANDLERS]
    routes += [Route(f"/api/{name}", studio.form_endpoint(name), methods=["POST"])
               for name in FORM_HANDLERS]
    app = Starlette(routes=routes, exception_handlers=_handlers(),
                    middleware=[Middleware(Guard, hosts=allowed_hosts),
                                Middleware(BodyLimit, max_bytes=studio.max_bytes)])
    app.state.studio = studio
    return app
