"""Finding video files on disk and identifying them cheaply (fingerprint, quick content hash)."""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import stat
from collections.abc import Iterable, Iterator

from vsearch.errors import MediaError, UnreadableFileError

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS: frozenset[str] = frozenset(
    {
        ".3g2", ".3gp", ".amv", ".asf", ".avi", ".divx", ".dv", ".f4v", ".flv", ".h264",
        ".h265", ".hevc", ".ivf", ".m2t", ".m2ts", ".m2v", ".m4v", ".mj2", ".mjpeg", ".mjpg",
        ".mk3d", ".mkv", ".mov", ".mp4", ".mpe", ".mpeg", ".mpg", ".mts", ".mxf", ".nut",
        ".ogm", ".ogv", ".qt", ".rm", ".rmvb", ".ts", ".vob", ".webm", ".wmv", ".y4m",
    }
)  # fmt: skip

HASH_CHUNK = 4 * 1024 * 1024


def is_video_path(path: str | os.PathLike[str]) -> bool:
    """True when the file name ends with a known video extension (case-insensitive)."""
    return os.path.splitext(os.fspath(path))[1].lower() in VIDEO_EXTENSIONS


def describe_os_error(exc: OSError) -> str:
    """A short cause for an OSError, without the file name (the error carries it)."""
    causes = {
        errno.ENOENT: "no such file or directory",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.ELOOP: "symlink loop",
        errno.EISDIR: "is a directory",
        errno.ENOTDIR: "not a directory",
        errno.ENAMETOOLONG: "file name too long",
    }
    return causes.get(exc.errno or 0, exc.strerror or str(exc))


def special_file_cause(st: os.stat_result) -> str:
    """Why a file that is not a regular file is refused (read at once, not after a hang)."""
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        return "is a directory"
    kind = (
        "a FIFO (named pipe)"
        if stat.S_ISFIFO(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "a character device"
        if stat.S_ISCHR(mode)
        else "a block device"
        if stat.S_ISBLK(mode)
        else "not a regular file"
    )
    return f"{kind}, not a regular file"


def walk_videos(
    paths: Iterable[str | os.PathLike[str]], recursive: bool = True
) -> Iterator[tuple[str, MediaError | None]]:
    """Yield ``(absolute_path, None)`` for each video file, ``(path, error)`` for each problem.

    Folders are walked in sorted name order (deterministic) and only files with a video
    extension are kept; a file named explicitly is yielded whatever its extension. Paths are
    made absolute with ``os.path.abspath`` (symlinks are not resolved). Symlinked folders are
    followed once: a folder already visited (same device and inode) is skipped, so a link to an
    ancestor cannot loop. Missing paths, broken or looping symlinks and folders that cannot be
    listed are yielded as ``UnreadableFileError`` and the walk goes on.
    """
    visited: set[tuple[int, int]] = set()
    seen: set[str] = set()
    for given in paths:
        path = os.path.abspath(os.fspath(given))
        try:
            st = os.stat(path)
        except OSError as exc:
            yield path, UnreadableFileError(path, describe_os_error(exc))
            continue
        if stat.S_ISDIR(st.st_mode):
            walker = _walk_dir(path, st, recursive, visited)
        elif not stat.S_ISREG(st.st_mode):
            walker = iter([(path, UnreadableFileError(path, special_file_cause(st)))])
        else:
            walker = iter([(path, None)])
        for found, error in walker:
            if error is not None or found not in seen:
                seen.add(found)
                yield found, error


def _walk_dir(
    path: str, st: os.stat_result, recursive: bool, visited: set[tuple[int, int]]
) -> Iterator[tuple[str, MediaError | None]]:
    key = (st.st_dev, st.st_ino)
    if key in visited:
        log.debug("skipping %s: folder already visited (symlink loop or repeated path)", path)
        return
    visited.add(key)
    try:
        with os.scandir(path) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        yield path, UnreadableFileError(path, f"cannot list folder: {describe_os_error(exc)}")
        return
    for entry in entries:
        full = os.path.join(path, entry.name)
        try:
            entry_st = entry.stat()  # follows symlinks
        except OSError as exc:
            if entry.is_symlink() and (is_video_path(entry.name) or exc.errno == errno.ELOOP):
                cause = "broken symlink" if exc.errno == errno.ENOENT else describe_os_error(exc)
                yield full, UnreadableFileError(full, cause)
            elif exc.errno != errno.ENOENT:  # ENOENT: vanished since listed
                yield full, UnreadableFileError(full, describe_os_error(exc))
            continue
        if stat.S_ISDIR(entry_st.st_mode):
            if recursive:
                yield from _walk_dir(full, entry_st, recursive, visited)
        elif is_video_path(entry.name):
            if stat.S_ISREG(entry_st.st_mode):
                yield full, None
            else:  # a FIFO or device would block a reader forever
                yield full, UnreadableFileError(full, special_file_cause(entry_st))


def file_fingerprint(path: str | os.PathLike[str]) -> tuple[int, float]:
    """``(size in bytes, mtime in seconds)`` of a file: the cheap "has it changed?" test."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise UnreadableFileError(os.fspath(path), describe_os_error(exc)) from exc
    if stat.S_ISDIR(st.st_mode):
        raise UnreadableFileError(os.fspath(path), "is a directory")
    if not stat.S_ISREG(st.st_mode):
        raise UnreadableFileError(os.fspath(path), special_file_cause(st))
    return st.st_size, st.st_mtime


def content_hash(path: str | os.PathLike[str]) -> str:
    """A quick content hash, ``"q1:" + sha256 hex``, that reads at most 12 MiB of a file.

    The digest covers the size as decimal ASCII followed by a newline, then: the whole file when
    it is at most 12 MiB, else the first 4 MiB, the 4 MiB starting at ``size // 2 - 2 MiB`` and
    the last 4 MiB. Two files with equal hashes are the same video for all practical purposes
    (renames, copies); a change that leaves size and all three windows intact goes unseen.
    """
    name = os.fspath(path)
    digest = hashlib.sha256()
    try:
        with open(name, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            digest.update(f"{size}\n".encode())
            if size <= 3 * HASH_CHUNK:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
            else:
                for offset in (0, size // 2 - HASH_CHUNK // 2, size - HASH_CHUNK):
                    fh.seek(offset)
                    digest.update(fh.read(HASH_CHUNK))
    except OSError as exc:
        raise UnreadableFileError(name, describe_os_error(exc)) from exc
    return "q1:" + digest.hexdigest()
