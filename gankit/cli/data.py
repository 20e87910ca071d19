"""``gankit data prepare|verify``: check the arguments, hand off to :mod:`gankit.apps.prepare`."""

from __future__ import annotations


def cmd_data(args) -> int:
    from gankit.apps.prepare import prepare, verify

    if args.data_command == "prepare":
        prepare(args.source, args.out, image_size=args.image_size, resize=args.resize,
                background=args.background, channels=args.channels, workers=args.workers,
                skip_bad=args.skip_bad, progress=not args.no_progress, root=args.root)
        return 0
    manifest = verify(args.dir)
    count, shape = manifest["count"], "x".join(map(str, manifest["shape"]))
    print(f"{args.dir}: {count:,} images ({shape}), images.npy matches the sha256 of its "
          f"manifest ({manifest['images_sha256'][:16]}...)")
    return 0
