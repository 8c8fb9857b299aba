"""Keeping a FAISS index file in agreement with the vectors stored in the database.

The database is the source of truth (vectors are committed with their video, per video); an
index file is a cache of it that may lag behind after a crash. On open the two are compared
by id and the index is repaired from the stored vectors.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vsearch.atomic import atomic_write
from vsearch.index import IndexFileError, VectorIndex, load_index
from vsearch.index.build import IndexCard, build_index

log = logging.getLogger(__name__)

FetchVectors = Callable[[Iterable[int] | None], Iterator[tuple[np.ndarray, np.ndarray]]]


@dataclass(frozen=True)
class SyncReport:
    name: str
    in_db: int
    in_file: int
    added: int = 0
    removed: int = 0
    rebuilt: bool = False
    reason: str | None = None
    card: IndexCard | None = field(default=None, compare=False)  # set when built anew

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.rebuilt)

    @property
    def agreed(self) -> bool:
        return not self.changed

    def to_dict(self) -> dict[str, object]:
        return {
            "index": self.name,
            "vectors_in_db": self.in_db,
            "vectors_in_file": self.in_file,
            "added": self.added,
            "removed": self.removed,
            "rebuilt": self.rebuilt,
            "reason": self.reason,
        }


def identity_path(path: Path) -> Path:
    """The side record that ties an index file to its library: ``NAME.id.json``."""
    return path.with_name(path.name + ".id.json")


def write_identity(path: Path, identity: dict[str, str], count: int) -> None:
    """Record whose index ``path`` is (after the index file itself was saved)."""
    record = json.dumps({**identity, "count": int(count)}, sort_keys=True).encode()

    def write(tmp: str) -> None:
        Path(tmp).write_bytes(record)

    atomic_write(identity_path(path), write)


def identity_problem(path: Path, identity: dict[str, str] | None) -> str | None:
    """Why the index file at ``path`` cannot be trusted as this library's, or None.

    ``identity`` (library id, index kind, what made the vectors) must equal the side record
    written with the file: an index copied from another library, or one left from before
    the clips were re-pooled, has the same dimension and plausible ids but other vectors.
    """
    if identity is None:
        return None
    try:
        record = json.loads(identity_path(path).read_bytes())
    except FileNotFoundError:
        return "no identity record beside the index file"
    except (OSError, ValueError) as exc:
        return f"unreadable identity record ({exc})"
    if not isinstance(record, dict):
        return "unreadable identity record"
    for key, wanted in identity.items():
        if record.get(key) != wanted:
            return f"index made for {key}={record.get(key)!r}, this library has {wanted!r}"
    return None


def open_synced_index(
    name: str,
    path: Path,
    dim: int,
    db_ids: np.ndarray,
    fetch: FetchVectors,
    kind: str = "faiss",
    identity: dict[str, str] | None = None,
) -> tuple[VectorIndex, SyncReport]:
    """Load ``path`` (or start empty) and make its ids equal ``db_ids``.

    A file of another library (``identity``, see ``identity_problem``) is rebuilt from the
    stored vectors, not trusted.
    """
    index: VectorIndex | None = None
    reason = None
    in_file = 0
    if path.exists():
        try:
            index = load_index(kind, path)
            in_file = index.ntotal
            if index.dim != dim:
                reason = f"index dimension {index.dim} != library dimension {dim}"
                index = None
            elif (problem := identity_problem(path, identity)) is not None:
                reason = problem
                index = None
        except IndexFileError as exc:
            reason = str(exc)
    elif len(db_ids):
        reason = "index file missing"
    if index is None:
        # Built from the stored vectors, streamed: exact, or approximate for a large library.
        index, card = build_index(dim, len(db_ids), lambda: fetch(None))
        if reason:
            legacy = reason.startswith("no identity record")  # once, after an upgrade
            (log.info if legacy else log.warning)(
                "%s index rebuilt from stored vectors: %s", name, reason
            )
        return index, SyncReport(
            name,
            len(db_ids),
            in_file,
            added=index.ntotal,
            rebuilt=bool(reason),
            reason=reason,
            card=card,
        )
    added, removed = reconcile_index(index, db_ids, fetch)
    if removed or added:
        log.info("%s index repaired: %d added, %d removed", name, added, removed)
    return index, SyncReport(name, len(db_ids), in_file, added=added, removed=removed)


def reconcile_index(index: VectorIndex, db_ids: np.ndarray, fetch: FetchVectors) -> tuple[int, int]:
    """Make the ids of ``index`` equal ``db_ids``: add the missing vectors from the database,
    remove the extra ones. Returns (added, removed)."""
    # Both sides as sorted unique ids, made by a sort: numpy's own unique() hashes, which
    # took seconds per million ids.
    file_ids, db_ids = _sorted_unique(index.ids()), _sorted_unique(db_ids)
    extra = np.setdiff1d(file_ids, db_ids, assume_unique=True)
    missing = np.setdiff1d(db_ids, file_ids, assume_unique=True)
    removed = index.remove(extra) if extra.size else 0
    added = _add_from_db(index, fetch, missing.tolist()) if missing.size else 0
    return added, removed


def _sorted_unique(ids: np.ndarray) -> np.ndarray:
    ids = np.sort(np.asarray(ids, dtype=np.int64))
    return ids[np.concatenate(([True], ids[1:] != ids[:-1]))] if ids.size else ids


def _add_from_db(index: VectorIndex, fetch: FetchVectors, ids: list[int] | None) -> int:
    added = 0
    for chunk_ids, vecs in fetch(ids):
        if len(chunk_ids):
            index.add(chunk_ids, vecs)
            added += len(chunk_ids)
    return added
