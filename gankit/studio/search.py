"""The panels that take an uploaded image: project, inpaint, translate.

Each handler gets the run, the form's text fields (a dict) and the uploaded files' bytes
(already capped in bytes by :class:`~gankit.studio.uploads.BodyLimit`), decodes them with
:func:`~gankit.studio.uploads.decode_image` (capped in pixels before decoding) and hands
them to the library: :func:`gankit.project`, :func:`gankit.inpaint_image` and
:func:`gankit.translate`, whose searches draw their starts from a ``torch.Generator``
seeded by the request.

The studio searches with fewer restarts and steps than the commands by default (so that an
answer comes in seconds on a CPU: ``bench/studio.py`` measures it); the page lets a user
raise them, and the same settings on the command line give the same pixels.
"""

from __future__ import annotations

import numpy as np
import torch

from gankit.studio.fields import choice, whole
from gankit.studio.generation import MAX_SEED, png_uri
from gankit.studio.runs import Options, StudioRun
from gankit.studio.uploads import Refused, check_size, decode_image, to_chw

# The studio's search settings (restarts, steps): seconds on a CPU, not the commands' minutes
PROJECT_SEARCH = (1, 100)
INPAINT_SEARCH = (1, 60)
MAX_RESTARTS, MAX_STEPS = 10, 2000


def _search(fields: dict, defaults: tuple[int, int]) -> dict:
    return {"restarts": whole(fields, "restarts", 1, MAX_RESTARTS, defaults[0]),
            "steps": whole(fields, "steps", 1, MAX_STEPS, defaults[1]),
            "seed": whole(fields, "seed", 0, MAX_SEED, 0)}


def _upload(files: dict, name: str = "image") -> bytes:
    if name not in files:
        raise Refused(f"no {name} uploaded: send the file in the form field {name!r}")
    return files[name]


def run_image(sr: StudioRun, data: bytes, max_pixels: int, what: str = "upload"
              ) -> torch.Tensor:
    """An upload as uint8 (C, H, W) with the run's channels; its size must be the run's."""
    shape = sr.image_shape
    array = decode_image(data, max_pixels, channels=shape[0], what=what)
    check_size(array, shape, what)
    return to_chw(array)


def _command(sr: StudioRun, name: str, search: dict, extra: str = "") -> str:
    return (f"gankit {name} {sr.name} --image upload.png{extra} --restarts "
            f"{search['restarts']} --search-steps {search['steps']} --seed {search['seed']}")


def project(sr: StudioRun, fields: dict, files: dict, opts: Options) -> dict:
    """``{"upload", "reconstruction", "fit_mse", "psnr", "label", "z", "command"}``."""
    from gankit.apps.project import project as project_images

    image = run_image(sr, _upload(files), opts.max_pixels)
    search = _search(fields, PROJECT_SEARCH)
    found = project_images(sr.run, image[None], ema=opts.ema, **search)
    label = None if found.labels is None else int(found.labels[0])
    return {"upload": png_uri(image), "reconstruction": png_uri(found.reconstructions[0]),
            "fit_mse": float(found.fit_mse[0]), "psnr": float(found.psnr[0]), "label": label,
            "z": [float(v) for v in found.z[0]],
            "command": _command(sr, "project", search, " --out proj/")}


def _known(sr: StudioRun, fields: dict, files: dict, max_pixels: int) -> torch.Tensor:
    """known (1, H, W) float: 1 on known pixels, from the mask upload (white = missing) or
    the box field (x,y,w,h missing)."""
    from gankit.apps.inpaint import box_mask

    _, height, width = sr.image_shape
    if ("mask" in files) == bool(fields.get("box")):
        raise Refused("give exactly one of a mask (draw it) or a box x,y,w,h")
    if fields.get("box"):
        return box_mask(str(fields["box"])[:60], (height, width))
    array = decode_image(files["mask"], max_pixels, channels=1, what="mask")
    if array.shape != (height, width):
        raise Refused(f"the mask is {array.shape[1]}x{array.shape[0]} pixels but the image "
                      f"is {width}x{height}")
    known = torch.from_numpy((array < 128).astype(np.float32))[None]
    if bool(known.all()):
        raise Refused("the mask marks no pixel as missing: draw over the part to fill")
    if not bool(known.any()):
        raise Refused("the mask marks every pixel as missing; nothing is known to match")
    return known


def inpaint(sr: StudioRun, fields: dict, files: dict, opts: Options) -> dict:
    """``{"filled", "mask", "label", "fit_mse", "missing_pixels", "command"}``."""
    from gankit.apps.inpaint import inpaint_image

    image = run_image(sr, _upload(files), opts.max_pixels)
    known = _known(sr, fields, files, opts.max_pixels)
    search = _search(fields, INPAINT_SEARCH)
    result = inpaint_image(sr.run, image, mask=known, ema=opts.ema, **search)
    mask_u8 = ((1 - known) * 255).to(torch.uint8)
    hole = f" --box {fields['box']}" if fields.get("box") else " --mask mask.png"
    return {"filled": png_uri(result["filled"]), "mask": png_uri(mask_u8),
            "label": result["label"], "fit_mse": result["fit_mse"],
            "missing_pixels": result["missing_pixels"],
            "command": _command(sr, "inpaint", search, hole + " --out filled.png")}


def translate(sr: StudioRun, fields: dict, files: dict, opts: Options) -> dict:
    """``{"input", "output", "direction", "command"}``: the upload brought to the run's
    input size and channels (as ``gankit translate`` does), then translated."""
    from gankit.apps.translate import resize_u8, translate as translate_images

    directions = list(sr.translations)
    direction = choice(fields, "direction", directions, directions[0] if directions else None)
    channels, height, width = sr.translations[direction]
    array = decode_image(_upload(files), opts.max_pixels, channels=channels)
    image = resize_u8(to_chw(array)[None], (height, width))
    out = translate_images(sr.run, image, direction, ema=opts.ema)
    return {"input": png_uri(image[0]), "output": png_uri(out[0]), "direction": direction,
            "command": f"gankit translate {sr.name} --input upload.png --out out.png "
                       f"--direction {direction}" + ("" if opts.ema else " --no-ema")}
