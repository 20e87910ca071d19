"""``gankit studio``: serve the studio's app with uvicorn, blocking until Ctrl-C.

It binds 127.0.0.1 unless told otherwise; any other address is reachable from elsewhere,
and then every request is computed on this machine's CPU for whoever can reach the port,
which :func:`serve` says in a warning before it starts.
"""

from __future__ import annotations

import sys
from pathlib import Path

from gankit.errors import UserError

EXTRA = "pip install 'gankit[studio]'"
NEEDS = ("starlette", "uvicorn", "multipart")  # multipart: the python-multipart package


def missing_extra() -> str | None:
    """The one line to print when the studio's extra is not installed, else None."""
    import importlib.util

    absent = [name for name in NEEDS if importlib.util.find_spec(name) is None]
    if not absent:
        return None
    names = ["python-multipart" if n == "multipart" else n for n in absent]
    return f"gankit studio needs {', '.join(names)}: {EXTRA}"


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, port: int) -> str | None:
    """The warning printed before serving on ``host``, or None for a loopback address."""
    if is_loopback(host):
        return None
    return (f"gankit studio: warning: serving on {host}:{port}, not 127.0.0.1: anyone who "
            f"can reach this port can use the studio, and with it this machine's CPU (and "
            f"GPU); there is no login")


def bound_socket(host: str, port: int):
    """A TCP socket bound to (host, port) (port 0: any free port); a UserError when the
    address cannot be had (the port taken, an unknown host)."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), int(port)))
    except (OSError, OverflowError) as exc:
        sock.close()
        reason = getattr(exc, "strerror", None) or exc
        raise UserError(f"cannot serve on {host}:{port}: {reason}") from None
    return sock


def serve(runs, host: str = "127.0.0.1", port: int = 7860, *, device: str = "cpu",
          ema: bool = True, max_upload_mb: float = 8, workers: int = 2) -> None:
    """Serve ``runs`` (run directories, or one) at http://HOST:PORT/ until interrupted
    (port 0: any free port, printed); the API's ``gankit.studio(runs, host=..., port=...)``.
    The other options are :func:`gankit.studio.app.create_app`'s."""
    message = missing_extra()
    if message:
        raise UserError(message)
    if not 0 <= int(port) < 65536:
        raise UserError(f"--port must be from 0 to 65535, got {port}")
    import uvicorn

    from gankit.studio.app import LOOPBACK, create_app

    run_dirs = [runs] if isinstance(runs, (str, Path)) else list(runs)
    sock = bound_socket(host, port)  # first: a taken port fails before the runs load
    try:
        app = create_app(run_dirs, device=device, ema=ema, max_upload_mb=max_upload_mb,
                         workers=workers,
                         allowed_hosts=LOOPBACK if is_loopback(host) else None)
    except BaseException:
        sock.close()
        raise
    port = sock.getsockname()[1]
    warning = exposure_warning(host, port)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    shown = f"[{host}]" if ":" in host else host
    print(f"gankit studio: {len(run_dirs)} run(s) at http://{shown}:{port}/ (Ctrl-C stops)",
          flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, server_header=False,
                            lifespan="off")
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
