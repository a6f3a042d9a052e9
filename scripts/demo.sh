#!/usr/bin/env bash
# The Lisbon demo (ARCHITECTURE.md, scenario 3) on a local 3-node devstack:
# ten years of hourly weather logs behind one CID, each file stored on one node only; the design's
# sed filter runs on the nodes that hold the files, the matches are concatenated by reference into
# one CID and checked against a local run.
set -euo pipefail
cd "$(dirname "$0")/.."
codsh=.venv/bin/codsh
step() { printf '\n\033[1;32m== %s\033[0m\n' "$*" >&2; }

step "devstack: three kubo nodes in a private swarm, a Dask scheduler (TLS), three codsh nodes"
$codsh devstack up --nodes 3
eval "$($codsh devstack env)"

data=.tools/demo-data/weather
if [ ! -d "$data" ]; then
  step "generating the weather-log dataset"
  .venv/bin/python scripts/weather_logs.py "$data"
fi
step "adding it so that each file is stored on one of the three nodes only"
CID=$($codsh devstack add --spread 1 "$data")
echo "dataset: $CID ($(find "$data" -type f | wc -l) files)" >&2
$codsh ls "$CID" >&2

FILTER="sed -n '/38.7[2-4]....,-9.1[3-5]..../p'"
step "codsh job submit -e \"$FILTER\" -c $CID --concat   (on the cluster: where each file is)"
OUT=$($codsh job submit -e "$FILTER" -c "$CID" --concat)
echo "output: $OUT" >&2

step "the first matches (rainfall is the last column)"
$codsh cat "$OUT" | head -5 >&2 || true  # codsh cat exits 141 when head leaves, like cat
matches=$($codsh cat "$OUT" | wc -l)
echo "$matches lines within ~10 km of Lisbon" >&2

step "checking against a local run over the same files"
expected=$(find "$data" -type f -print0 | LC_ALL=C sort -z | xargs -0 sed -n '/38.7[2-4]....,-9.1[3-5]..../p' | sha256sum)
got=$($codsh cat "$OUT" | sha256sum)
if [ "$expected" = "$got" ]; then echo "identical, byte for byte" >&2; else echo "MISMATCH" >&2; exit 1; fi

step "per-file mode: a directory mirroring the input"
PER_FILE=$($codsh run -e "$FILTER" -c "$CID")
$codsh ls "$PER_FILE" >&2
echo "the devstack keeps running; stop it with: $codsh devstack down" >&2
echo "$OUT"
