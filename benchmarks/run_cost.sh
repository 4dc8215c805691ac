#!/usr/bin/env bash
# The cost of a run beyond its training: one cold-cache `reln run contexts-diff` (3 seeds, all its
# models, PNG figures) timed as a whole, against the sum of its models' wall seconds (each model's
# whole fit, its gate schedule and compilation included), the ratio printed. Repeat it and quote
# the median: the machine is shared.
#
#     benchmarks/run_cost.sh .venv/bin/reln [png,pdf]
set -e
out=$(mktemp -d)/run
export RELN_CACHE_DIR=$(mktemp -d)
start=$(date +%s.%N)
"$1" run contexts-diff --out "$out" --quiet ${2:+--formats $2}
end=$(date +%s.%N)
python3 - "$out/metrics.json" "$start" "$end" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
models = {k: v["wall_seconds"] for k, v in m.items() if isinstance(v, dict) and "wall_seconds" in v}
total = float(sys.argv[3]) - float(sys.argv[2])
print(f"run {total:.1f} s; models {sum(models.values()):.1f} s ({', '.join(f'{k} {v:.1f}' for k, v in models.items())}); ratio {total / sum(models.values()):.2f}")
PY
