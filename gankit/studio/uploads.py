"""What comes in: request bodies capped in bytes while they are read, images whose size is
read from their header and capped in pixels before anything is decoded, and one clear
sentence for everything refused.

- :class:`BodyLimit` (ASGI middleware) refuses a body whose ``Content-Length`` is over the
  cap at once, and counts the bytes of every other body as they arrive: past the cap the
  read stops with :class:`TooLarge` (HTTP 413), before any of it is parsed or decoded.
- :func:`decode_image` opens the bytes with Pillow, which reads only the header; the
  width and height are checked against the pixel cap before ``load()`` decodes a pixel,
  so a 50,000 x 50,000 px header is refused without allocating it. Only PNG, JPEG, BMP,
  GIF and WebP are opened (none of Pillow's other readers), and only 8-bit gray or colour
  images (with or without alpha or a palette): a 16-bit, CMYK or floating-point image is
  refused by name. A truncated file is refused when it is decoded.
"""

from __future__ import annotations

import io
import re

import numpy as np

from gankit.data.folder import flatten_alpha

FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP")
MODES = {"1": "L", "L": "L", "LA": "L", "P": None, "PA": None, "RGB": "RGB", "RGBA": "RGB"}
MIB = 1024 * 1024


class Refused(Exception):
    """A request the studio refuses, with the sentence the page shows and the HTTP status."""

    status = 400

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        if status is not None:
            self.status = status


class TooLarge(Refused):
    """A body or an image over the studio's caps (HTTP 413)."""

    status = 413


def size_text(count: int) -> str:
    """``8 MB``, ``512 kB``, ``300 bytes`` (MB = 2**20 bytes, as --max-upload-mb counts)."""
    if count >= MIB:
        return f"{count / MIB:g} MB"
    return f"{count / 1024:g} kB" if count >= 1024 else f"{count} bytes"


def body_refusal(max_bytes: int) -> str:
    return (f"the request is larger than this studio's limit of {size_text(max_bytes)} "
            f"(gankit studio --max-upload-mb)")


class BodyLimit:
    """ASGI middleware: at most ``max_bytes`` of request body per HTTP request."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, int(max_bytes)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            from starlette.responses import JSONResponse

            response = JSONResponse({"error": body_refusal(self.max_bytes)}, status_code=413)
            return await response(scope, receive, send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise TooLarge(body_refusal(self.max_bytes))
            return message

        return await self.app(scope, counted, send)


def _opened(data: bytes, what: str, max_pixels: int):
    """The Pillow image of ``data`` with only its header read."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise Refused(f"the {what} is empty (0 bytes)")
    try:
        return Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError as exc:  # past Pillow's own cap, far past ours
        found = re.search(r"\((\d+) pixels\)", str(exc))
        count = f"{int(found[1]):,} pixels" if found else "more pixels than Pillow opens"
        raise TooLarge(f"the {what} is too large: its header declares {count}, more than "
                       f"this studio's limit of {max_pixels:,} pixels") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise Refused(f"the {what} is not an image this studio reads (PNG, JPEG, BMP, GIF "
                      f"or WebP)") from None


def decode_image(data: bytes, max_pixels: int, *, channels: int | None = None,
                 what: str = "upload") -> np.ndarray:
    """uint8 (H, W) or (H, W, 3) pixels of an uploaded image.

    ``channels``: 1 gives gray (colour as luminance), 3 gives RGB (gray repeated), None the
    image's own (gray or RGB); transparency is composited onto white. The header's size is checked against ``max_pixels`` before
    any pixel is decoded; anything refused is a :class:`Refused` with one sentence.
    """
    image = _opened(data, what, max_pixels)
    width, height = image.size
    if width * height > max_pixels:
        raise TooLarge(f"the {what} is {width:,} x {height:,} pixels, more than this "
                       f"studio's limit of {max_pixels:,} pixels")
    if image.mode not in MODES:
        raise Refused(f"the {what} has Pillow mode {image.mode} ({_mode_words(image.mode)}); "
                      f"the studio takes 8-bit gray or RGB images, with or without alpha")
    try:
        image.load()
        own = MODES[image.mode] or ("RGB" if "RGB" in image.palette.mode else "L")
        target = own if channels is None else ("L" if channels == 1 else "RGB")
        # transparent pixels onto white, as gankit translate and the folder reader do
        array = np.array(flatten_alpha(image).convert(target), dtype=np.uint8)  # writable
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise Refused(f"the {what} could not be decoded ({_reason(exc)}): is it complete?"
                      ) from None
    finally:
        image.close()
    return array


def _mode_words(mode: str) -> str:
    words = {"CMYK": "4 channels of ink", "I;16": "16-bit gray", "I": "32-bit integers",
             "F": "floating-point pixels", "YCbCr": "YCbCr channels", "LAB": "Lab channels",
             "HSV": "HSV channels"}
    return words.get(mode, "a pixel format the studio does not take")


def _reason(exc: BaseException) -> str:
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return text[:120]


def to_chw(array: np.ndarray):
    """uint8 (H, W) or (H, W, C) pixels as a uint8 torch tensor (C, H, W)."""
    import torch

    tensor = torch.from_numpy(np.ascontiguousarray(array))
    return tensor[None] if tensor.dim() == 2 else tensor.permute(2, 0, 1).contiguous()


def check_size(array: np.ndarray, shape: tuple[int, int, int], what: str = "upload") -> None:
    """A :class:`Refused` unless the pixels are ``shape``'s height and width."""
    _, height, width = shape
    if array.shape[:2] != (height, width):
        raise Refused(f"the {what} is {array.shape[1]}x{array.shape[0]} pixels but this run "
                      f"makes {width}x{height} images; resize it first")
