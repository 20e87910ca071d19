"""``gankit studio RUN [RUN ...]``: checks that the studio's extra is installed (before
importing torch), resolves the device and hands off to :func:`gankit.studio.serve`."""

from __future__ import annotations

from gankit.errors import UserError


def cmd_studio(args) -> int:
    from gankit.studio.server import missing_extra

    message = missing_extra()
    if message:
        raise UserError(message)
    from gankit.cli.commands import device_of
    from gankit.studio import serve

    try:
        serve(args.run_dirs, args.host, args.port, device=device_of(args), ema=args.ema,
              max_upload_mb=args.max_upload_mb, workers=args.workers)
    except KeyboardInterrupt:
        print("gankit studio: stopped")
    return 0
