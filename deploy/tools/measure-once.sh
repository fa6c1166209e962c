#!/usr/bin/env bash
# Peak memory and CPU of `dbs-exporter once` on estates of N instances (BENCHMARKS.md, 2e).
#
#   deploy/tools/measure-once.sh [BIN] [INSTANCES ...]
#   (defaults: target/release/dbs-exporter, then 1000 10000; build with cargo build --release)
#
# For each N: `BIN simulate` serves N instances (10 regions, live tasks, as measure-memory.sh
# sets them up) in a process of its own, and `/usr/bin/time -v BIN once` polls them once with
# the exposition going to a file. Prints one line per run: exit code, exposition size, instances
# up, peak RSS (the kernel's maxrss), user and system CPU. Needs /usr/bin/time (apt-get install time).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-target/release/dbs-exporter}
shift || true
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(1000 10000)
[ -x "$BIN" ] || { echo "measure-once: $BIN is not an executable (cargo build --release)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "measure-once: /usr/bin/time is missing (apt-get install time)" >&2; exit 1; }

WORK=$(mktemp -d)
SIM=
cleanup() {
  [ -z "$SIM" ] || { kill "$SIM" 2>/dev/null || true; wait "$SIM" 2>/dev/null || true; }
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

for n in "${SIZES[@]}"; do
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  config="$WORK/estate-$n.yaml"
  python3 deploy/tools/write-estate.py "$n" "$port" >"$config"
  "$BIN" simulate --simulator.listen-address "127.0.0.1:$port" --config.file "$config" >"$WORK/sim.log" 2>&1 &
  SIM=$!
  for _ in $(seq 1 100); do grep -q 'access key secret' "$WORK/sim.log" && break; sleep 0.1; done
  key_id=$(awk '/access key id:/ {print $4}' "$WORK/sim.log")
  secret=$(awk '/access key secret:/ {print $4}' "$WORK/sim.log")
  set +e
  ALIBABA_CLOUD_ACCESS_KEY_ID=$key_id ALIBABA_CLOUD_ACCESS_KEY_SECRET=$secret ALIBABA_CLOUD_ECS_METADATA_DISABLED=true \
    /usr/bin/time -v "$BIN" once --config.file "$config" --log.level warn >"$WORK/out.prom" 2>"$WORK/time.txt"
  rc=$?
  set -e
  peak=$(awk '/Maximum resident/ {printf "%.1f", $6 / 1024}' "$WORK/time.txt")
  user=$(awk -F': ' '/User time/ {print $2}' "$WORK/time.txt")
  sys=$(awk -F': ' '/System time/ {print $2}' "$WORK/time.txt")
  up=$(grep -c '^aliyun_dbs_up{.*} 1$' "$WORK/out.prom" || true)
  echo "once over $n instances: exit $rc, $(wc -c <"$WORK/out.prom") bytes, $up up; peak RSS $peak MiB; CPU user $user s, system $sys s"
  kill "$SIM"
  wait "$SIM" 2>/dev/null || true
  SIM=
done
