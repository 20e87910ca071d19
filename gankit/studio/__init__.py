"""``gankit studio``: explore, edit and use trained runs in the browser.

One local web page over the runs named at start: generate (the same pixels as ``gankit
sample``), walk the latent space (slerp, SeFa sliders), project a real image and edit it,
inpaint a region drawn with the mouse, translate, and the run's curves and grids (what
``gankit report`` shows). The page is three static files of this package (HTML, CSS,
JavaScript; no build step, nothing from a CDN); the server is a Starlette app
(:mod:`gankit.studio.app`) run by uvicorn (:mod:`gankit.studio.server`), over the same
functions as the commands (:mod:`gankit.apps`). Why Starlette and not Gradio:
``docs/studio.md``.

The module is callable, so both of these work::

    gankit.studio(["runs/default"], port=7860)            # serve, until Ctrl-C
    app = gankit.studio.create_app(["runs/default"])     # the ASGI app (tests, other servers)

Importing it imports neither torch nor Starlette; they come with the first call. Its
pieces: :mod:`~gankit.studio.runs` (the served runs and their panels, from the kinds
registry), :mod:`~gankit.studio.uploads` (byte and pixel caps),
:mod:`~gankit.studio.fields` (checked request fields), :mod:`~gankit.studio.generation`,
:mod:`~gankit.studio.search` and :mod:`~gankit.studio.history` (the panels).
"""

from __future__ import annotations

import sys
import types


def serve(runs, host: str = "127.0.0.1", port: int = 7860, **options) -> None:
    """Serve the studio over ``runs`` at http://HOST:PORT/ until interrupted (see
    :func:`gankit.studio.server.serve` for the options)."""
    from gankit.studio.server import serve as _serve

    _serve(runs, host, port, **options)


studio = serve  # gankit.studio.studio(...), the same as gankit.studio(...)


def create_app(runs, **options):
    """The studio's ASGI app (Starlette) over ``runs``; see
    :func:`gankit.studio.app.create_app`."""
    from gankit.studio.server import missing_extra
    from gankit.errors import UserError

    message = missing_extra()
    if message:
        raise UserError(message)
    from gankit.studio.app import create_app as _create_app

    return _create_app(runs, **options)


class _CallableModule(types.ModuleType):
    """``gankit.studio(runs, ...)`` serves: the package is also the API's function (a
    submodule import binds ``gankit.studio`` to the package, so the function could not
    keep that name otherwise)."""

    def __call__(self, runs, host: str = "127.0.0.1", port: int = 7860, **options) -> None:
        serve(runs, host, port, **options)


sys.modules[__name__].__class__ = _CallableModule

__all__ = ["serve", "studio", "create_app"]
