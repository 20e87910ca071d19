"""Where ``gankit data prepare`` reads image files from: a folder, a zip or a tar archive.

Each source lists its image files once, in one stable order (by path parts, the order in
which :func:`~gankit.data.folder.image_files` lists a folder), gives their classes (the
first sub-folder, when every image lies in one, as for folders) and hands out their
contents as decoding jobs ``(index, payload, name)``: file paths for a folder (the decoding
processes read the files themselves), the members' bytes for an archive, read straight
from it (nothing is extracted to disk). A tar archive is read in its own order, so that a
compressed one is decompressed once from start to end; each job carries its index in the
stable order, so the result does not depend on the order of reading.
"""

from __future__ import annotations

import os
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterator

import numpy as np

from gankit.data.folder import IMAGE_SUFFIXES, classes_of, image_files
from gankit.errors import UserError

# (index in the source's order, the file's path or bytes (None: unreadable), its name)
Job = tuple[int, "str | bytes | None", str]


def _parts(name: str) -> tuple[str, ...]:
    """The parts of a '/'-separated name (``PurePosixPath(name).parts`` without the root
    and dots, several times faster for 100,000 names)."""
    return tuple(p for p in name.split("/") if p not in ("", "."))


def _is_image_member(name: str) -> bool:
    """An image file of an archive, not one of the hidden files some archivers add
    (``__MACOSX/``, ``._name``)."""
    parts = _parts(name)
    return bool(parts) and PurePosixPath(parts[-1]).suffix.lower() in IMAGE_SUFFIXES and \
        not any(p.startswith(".") or p == "__MACOSX" for p in parts)


@dataclass
class ImageSource:
    """The image files of one folder or archive.

    names: the files' paths relative to the source (for an archive of one folder: to that
    folder), in the set's order; members: what the source calls each (a path for a folder,
    the member name for an archive).
    """

    location: Path
    kind: str  # "folder", "zip" or "tar"
    names: list[str]
    members: list[str] = field(repr=False)

    def __len__(self) -> int:
        return len(self.names)

    def classes(self) -> tuple[list[str], np.ndarray | None]:
        """(class names, labels int64 (N,) or None), from the first sub-folder."""
        return classes_of([_parts(n) for n in self.names])

    def describe(self) -> dict[str, str]:
        """The source as the manifest records it."""
        return {"kind": self.kind, "path": str(self.location.resolve())}

    def jobs(self) -> Iterator[Job]:
        """One decoding job per image file; an unreadable archive member comes with payload
        None and the reason as its name's suffix (the decoder reports it)."""
        if self.kind == "folder":
            yield from ((i, member, self.names[i]) for i, member in enumerate(self.members))
        elif self.kind == "zip":
            yield from self._zip_jobs()
        else:
            yield from self._tar_jobs()

    def _zip_jobs(self) -> Iterator[Job]:
        with zipfile.ZipFile(self.location) as archive:
            for index, member in enumerate(self.members):
                try:
                    payload: bytes | None = archive.read(member)
                except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
                    yield index, None, f"{self.names[index]}: {exc}"
                    continue
                yield index, payload, self.names[index]

    def _tar_jobs(self) -> Iterator[Job]:
        index = {member: i for i, member in enumerate(self.members)}
        found: set[int] = set()
        try:
            with tarfile.open(self.location, "r:*") as archive:
                for member in archive:
                    if member.name in index and member.isfile():
                        handle = archive.extractfile(member)
                        i = index[member.name]
                        found.add(i)
                        yield i, handle.read() if handle else None, self.names[i]
        except (tarfile.TarError, OSError, EOFError) as exc:
            missing = sorted(set(range(len(self.members))) - found)
            for i in missing:  # a damaged archive: what could not be reached is unreadable
                yield i, None, f"{self.names[i]}: {exc}"


def _archive_names(members: list[str], location: Path) -> tuple[list[str], list[str]]:
    """(names, members) in the set's order; an archive that holds one folder is read as
    that folder (its name is not a class)."""
    members = [m for m in members if _is_image_member(m)]
    if not members:
        raise UserError(f"no images (.png, .jpg, ...) found in {location}")
    parts = [_parts(m) for m in members]
    tops = {p[0] for p in parts}
    if len(tops) == 1 and all(len(p) > 1 for p in parts):
        parts = [p[1:] for p in parts]
    order = sorted(range(len(members)), key=lambda i: parts[i])
    return ["/".join(parts[i]) for i in order], [members[i] for i in order]


def open_source(location: str | Path) -> ImageSource:
    """The folder, ``.zip`` or tar archive (``.tar``, ``.tar.gz``, ``.tgz``, ...) at
    ``location``; anything else is a UserError."""
    path = Path(location).expanduser()
    if path.is_dir():
        names = ["/".join(parts) for parts in image_files(path)]
        base = os.path.join(path, "")  # the folder with its separator: one concatenation each
        return ImageSource(path, "folder", names, [base + name for name in names])
    if not path.is_file():
        raise UserError(f"{path} is not a folder, an archive or a data set name")
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                listed = [i.filename for i in archive.infolist() if not i.is_dir()]
            return ImageSource(path, "zip", *_archive_names(listed, path))
        if tarfile.is_tarfile(path):
            with tarfile.open(path, "r:*") as archive:
                listed = [m.name for m in archive.getmembers() if m.isfile()]
            return ImageSource(path, "tar", *_archive_names(listed, path))
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as exc:
        raise UserError(f"cannot read the archive {path}: {exc}") from None
    raise UserError(f"{path} is neither a folder nor a .zip or tar archive")
