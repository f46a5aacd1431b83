#!/usr/bin/env bash
# Run one `mathverify search` as JOBS processes, one per shard (--shard i/JOBS), and join
# their outputs. The CPU has one core per process this way (each search is single-threaded);
# the shards split the problems by a stable hash of their ids, so a rerun gives the same files.
#
#   shards.sh JOBS OUTPUT TREES -- mathverify search ...
#
# OUTPUT gets the joined search results and TREES (or `-` for none) the joined trees. Each
# shard writes OUTPUT.shard-i (and TREES.shard-i) with --resume, so a killed run continues
# where each shard stopped; the parts are removed only once every shard has succeeded.
set -euo pipefail

if [ "$#" -lt 5 ] || [ "$4" != "--" ]; then
    echo "usage: shards.sh JOBS OUTPUT TREES|- -- COMMAND..." >&2
    exit 2
fi
jobs=$1 output=$2 trees=$3
shift 4

pids=()
for ((i = 0; i < jobs; i++)); do
    tree_args=()
    [ "$trees" != "-" ] && tree_args=(--save-tree "$trees.shard-$i")
    "$@" --shard "$i/$jobs" -o "$output.shard-$i" "${tree_args[@]}" --resume &
    pids+=("$!")
done
failed=0
for pid in "${pids[@]}"; do
    wait "$pid" || failed=1
done
if [ "$failed" -ne 0 ]; then
    echo "shards.sh: a shard failed; run again to resume it" >&2
    exit 1
fi

join() {  # join DEST: concatenate DEST.shard-* in shard order, then remove them
    local dest=$1 parts=()
    for ((i = 0; i < jobs; i++)); do parts+=("$dest.shard-$i"); done
    cat "${parts[@]}" > "$dest.tmp"
    mv "$dest.tmp" "$dest"
    rm -f "${parts[@]}"
}
join "$output"
[ "$trees" != "-" ] && join "$trees"
exit 0
