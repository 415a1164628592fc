#!/usr/bin/env bash
# Browser test of `serve`: trains a small CNN on an MNIST slice, serves it on a free port, draws
# digits on its page in headless Chromium (draw.mjs), then stops it with SIGTERM.
# Args: DIGITLAB_BIN SOURCE_DIR.
set -euo pipefail
bin=$1; src=$2
here="$src/tests/browser"
if [ ! -d "$here/node_modules/playwright-core" ]; then
  echo "skip: $here/node_modules/playwright-core missing (run scripts/setup)"; exit 77
fi
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
"$bin" train --arch C16-P-C32-P-64-10 --train-limit 20000 --val-split 1000 --epochs 2 \
  --lr-schedule onecycle --lr 0.003 --threads 2 --tensorboard false --out "$work/run" >/dev/null
"$bin" serve --model "$work/run" --port 0 >"$work/serve.log" 2>&1 &
pid=$!
port=""
for _ in $(seq 1 300); do
  port=$(sed -n 's|^serving on http://127.0.0.1:\([0-9]*\).*|\1|p' "$work/serve.log")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "FAIL serve did not start"; cat "$work/serve.log"; exit 1; }
shots=${DIGITLAB_BROWSER_SHOTS:-$work}
node "$here/draw.mjs" "http://127.0.0.1:$port/" "$shots"
kill -TERM "$pid"
code=0
wait "$pid" || code=$?
pid=""
grep -q '^stopped' "$work/serve.log" || { echo "FAIL serve did not report stopping"; exit 1; }
exit $code
