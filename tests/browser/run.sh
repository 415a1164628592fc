#!/usr/bin/env bash
# Browser test: trains three tiny runs on real MNIST slices, evaluates, reports and compares them,
# then checks the pages in headless Chromium (pages.mjs). Args: DIGITLAB_BIN SOURCE_DIR.
set -euo pipefail
bin=$1; src=$2
here="$src/tests/browser"
if [ ! -d "$here/node_modules/playwright-core" ]; then
  echo "skip: $here/node_modules/playwright-core missing (run scripts/setup)"; exit 77
fi
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
common=(--train-limit 3000 --val-split 500 --epochs 3 --batch-size 64 --threads 2 --seed 1)
"$bin" train "${common[@]}" --model seed001-mlp64 --out "$work/mlp" >/dev/null
"$bin" train "${common[@]}" --model seed001-lenet5 --out "$work/lenet" >/dev/null
"$bin" train "${common[@]}" --arch C8-P-32-10 --out "$work/small" >/dev/null
for r in mlp lenet small; do "$bin" evaluate "$work/$r" >/dev/null; done
"$bin" compare "$work/mlp" "$work/lenet" "$work/small" --out "$work/compare.html" >/dev/null
shots=${DIGITLAB_BROWSER_SHOTS:-$work}
EPOCHS=3 RUNS=3 node "$here/pages.mjs" "$work/lenet/report/index.html" "$work/compare.html" "$shots"
