#!/bin/bash
# q6 through a local Ray cluster (2 CPUs, started first with `ray start`, its start-up timed
# apart) vs `--parallel 2`, same fast engine. Usage: bench/ray_vs_parallel.sh SEEDS EPOCHS
# (full size: 10 10). Run under `flock /tmp/team/heavy.lock` on a shared machine.
set -u
cd "$(dirname "$0")/.."
S=$1; E=$2; D=${SWEEPLAB_DATA:-../shared/data}; T=$(mktemp -d /tmp/swq6-XXXX); P=$((20000 + RANDOM % 20000))
export RAY_USAGE_STATS_ENABLED=0 RAY_AUTH_MODE=disabled
t0=$(date +%s.%N)
.venv/bin/python tests/ray_loopback.py start --head --node-ip-address 127.0.0.1 --port $P --num-cpus 2 --include-dashboard false --temp-dir $T --disable-usage-stats >/dev/null 2>&1
t1=$(date +%s.%N); echo "ray start (head, 2 CPUs): $(echo "$t1 - $t0" | bc) s"
for order in ray par; do
  if [ $order = ray ]; then
    /usr/bin/time -f "ray wall %e s" .venv/bin/sweeplab run q6 --seeds $S --epochs $E --data-dir $D --store $T/ray.db --engine fast --parallel 2 --quiet --ray 127.0.0.1:$P 2>&1 | grep -v WARNING
  else
    /usr/bin/time -f "parallel2 wall %e s" .venv/bin/sweeplab run q6 --seeds $S --epochs $E --data-dir $D --store $T/par.db --engine fast --parallel 2 --quiet 2>&1 | grep -v WARNING
  fi
done
.venv/bin/python - $T <<'PY'
import sqlite3, sys, statistics as st
T = sys.argv[1]
def acc(db):
    c = sqlite3.connect(f"{T}/{db}")
    return {(h, s): a for h, s, a in c.execute("select r.config_hash, r.seed, e.test_acc from runs r join epochs e on e.run_id=r.id where e.epoch=(select max(epoch) from epochs where run_id=r.id)")}
a, b = acc("ray.db"), acc("par.db")
d = [abs(a[k] - b[k]) for k in a if k in b] or [float("nan")]
print(f"runs ray {len(a)} par {len(b)}; max |diff final test acc| {max(d):.6f}; mean ray {st.mean(a.values()):.4f} par {st.mean(b.values()):.4f}")
PY
pids=$(grep -l "$T" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3)
for p in $pids; do kill -9 "$p" 2>/dev/null; done  # this cluster only: its temp dir
sleep 1; rm -rf $T
