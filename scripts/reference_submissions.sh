#!/usr/bin/env bash
# Regenerate the reference records in submissions/ by running `bench evaluate` on the default
# dataset: every built-in adapter, two pruning levels, fine-tuning and 1-cycle protocols of the same
# budget, 3 seeds, random controls included. Records are never edited by hand. About 5 minutes per
# adapter on 2 CPU cores (slimming first trains its own sparsity-regularized dense baseline).
# Usage: scripts/reference_submissions.sh [OUT_DIR]; ADAPTERS="taylor lamp" limits the adapters.
set -euo pipefail
out=${1:-submissions}  # records land in OUT/<dataset>/<model>/
adapters=${ADAPTERS:-"l1-norm hrankplus global-magnitude taylor fpgm lamp sfp slimming random"}
for adapter in $adapters; do
  for protocol in ft-40 clr-40; do
    for ratio in 0.5 0.8; do
      bench evaluate --adapter "$adapter" --protocol "$protocol" --ratio "$ratio" --seeds 3 --out "$out"
    done
  done
done
