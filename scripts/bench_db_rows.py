"""Bytes per frame row in the metadata database, SQLite and PostgreSQL, for capacity plans.

    .venv/bin/python scripts/bench_db_rows.py --dim 512 [--db-url postgresql+psycopg://...]

Writes ``--videos`` videos of ``--frames`` frames each (random unit vectors of ``--dim``
float32, one clip per two frames as 4 s windows every 2 s give at 1 frame/s) through the
same query functions the indexer uses, then reports the database's size per frame: the
SQLite file, or PostgreSQL's total relation sizes (tables, TOAST and indexes) after VACUUM.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from sqlalchemy import text

from vsearch.db import queries
from vsearch.db.engine import create_db_engine, create_server_engine, make_session_factory
from vsearch.db.migrate import upgrade_database
from vsearch.types import VideoFacts, VideoStatus


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--videos", type=int, default=40)
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--db-url", default="")
    args = ap.parse_args()

    if args.db_url:
        engine = create_server_engine(args.db_url)
    else:
        path = Path(tempfile.mkdtemp()) / "library.db"
        engine = create_db_engine(path)
    upgrade_database(engine)
    sessions = make_session_factory(engine)
    rng = np.random.default_rng(0)
    for v in range(args.videos):
        vectors = rng.standard_normal((args.frames, args.dim), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        times = np.arange(args.frames, dtype=np.float64)
        informative = np.ones(args.frames, bool)
        n_clips = args.frames // 2
        with sessions() as session, session.begin():
            facts = VideoFacts(
                status=VideoStatus.INDEXED,
                size=10**9,
                mtime=1.0,
                content_hash="x" * 40,
                duration=float(args.frames),
                n_frames=args.frames,
            )
            vid = queries.save_video(f"/archive/videos/{v:06d}.mp4", facts, session=session)
            queries.replace_frames(vid, times, informative, vectors, session=session)
            queries.replace_clips(
                vid,
                times[:n_clips] * 2,
                times[:n_clips] * 2 + 4,
                informative[:n_clips],
                vectors[:n_clips],
                session=session,
            )
    frames = args.videos * args.frames
    if args.db_url:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
            sizes = {
                t: conn.scalar(text(f"SELECT pg_total_relation_size('{t}')"))
                for t in ("videos", "frames", "clips")
            }
        total = sum(sizes.values())
        where = "PostgreSQL " + ", ".join(f"{t} {s / frames:.0f}" for t, s in sizes.items())
    else:
        engine.dispose()
        total = path.stat().st_size
        where = "SQLite file"
    print(
        f"dim {args.dim}: {frames} frames, {frames // 2} clips, {args.videos} videos; "
        f"{total / frames:.0f} bytes per frame in all ({where}); vector alone {4 * args.dim}"
    )


if __name__ == "__main__":
    main()
