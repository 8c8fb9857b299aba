"""Typed errors raised by the vsearch library.

The library never prints or exits: it raises one of these with a message a user can act
on, and the CLI translates them once into a one-line message and an exit code.
"""

from __future__ import annotations


class VsearchError(Exception):
    """Base class of every error vsearch raises on purpose.

    A message names a parameter of the Python API in backquotes (`` `end` must come after
    `start` ``); the CLI shows the flag of that parameter instead (``--end``, ``--start``).
    """

    exit_code = 1


class UsageError(VsearchError):
    """A bad argument or query input (k <= 0, missing query file, absurd time range...)."""

    exit_code = 2


class RegistrationError(VsearchError, ValueError):
    """A name registered twice (without ``replace=True``), or not a valid registry name."""


# --- media ---------------------------------------------------------------------------------


class MediaError(VsearchError):
    """A file could not be read as a video. ``path`` names the file, ``cause`` says why."""

    def __init__(self, path: str, cause: str):
        self.path = str(path)
        self.cause = cause
        super().__init__(f"{self.path}: {cause}")


class UnreadableFileError(MediaError):
    """Missing file, no read permission, a directory, a symlink loop..."""


class NotAVideoError(MediaError):
    """Empty file, random bytes, text, image, audio-only: there is no video stream."""


class DecodeError(MediaError):
    """ffmpeg found a video stream but failed to decode it (corrupt, truncated, odd codec)."""


class PartialDecodeError(DecodeError):
    """Decoding stopped part-way; the frames decoded before the failure were yielded."""

    def __init__(self, path: str, cause: str, frames_decoded: int):
        self.frames_decoded = frames_decoded
        super().__init__(path, f"{cause} (kept the first {frames_decoded} sampled frames)")


class ImageError(MediaError):
    """A query image that cannot be opened (bad query input: exit code 2)."""

    exit_code = 2


class QueryFileError(UsageError):
    """A query video that cannot be read: missing, not a video, undecodable (exit code 2)."""


class FfmpegNotFoundError(VsearchError):
    def __init__(self) -> None:
        super().__init__(
            "ffmpeg/ffprobe not found on PATH: install it (Debian/Ubuntu: apt-get install ffmpeg)"
        )


class FaissNotFoundError(VsearchError):
    def __init__(self) -> None:
        super().__init__(
            "FAISS is not installed: install vsearch with one of its FAISS builds, "
            "pip install 'vsearch-video[cpu]' (or [gpu] on a CUDA machine)"
        )


# --- models --------------------------------------------------------------------------------


class ModelError(VsearchError):
    """A model could not be created or used."""


class UnknownModelError(ModelError):
    """A name asks for an encoder family, pooler, head or index kind that is not registered."""


class WeightsNotFoundError(ModelError):
    """Weights for a model are not available locally (and cannot be downloaded)."""


class NoTextTowerError(ModelError):
    """Text search or zero-shot classification asked of a model without a text encoder."""


# --- library -------------------------------------------------------------------------------


class LibraryError(VsearchError):
    """The library directory, its database or its index is unusable."""


class LibraryNotFoundError(LibraryError):
    pass


class ModelMismatchError(LibraryError):
    """The library holds vectors of another model than the one asked for."""


class LibraryLockedError(LibraryError):
    """Another process is writing to the library."""

    exit_code = 4


class DamagedLibraryError(LibraryError):
    """The library database is damaged (truncated, overwritten, a corrupted page)."""


class SchemaTooNewError(LibraryError):
    """The library was written by a newer vsearch: refuse instead of damaging it."""


class StorageError(LibraryError):
    """Disk full, read-only directory and other write failures."""


class NotInLibraryError(UsageError):
    """A video asked for by id or path that the library does not hold."""


class EmptyLibraryError(LibraryError):
    """A query against a library that has no vectors yet."""


class CheckpointError(ModelError):
    """A trained checkpoint is missing, unreadable or made for another model."""


class InterruptedRun(VsearchError):
    """Raised when a long job stops on Ctrl+C after committing what it had finished."""

    exit_code = 130
