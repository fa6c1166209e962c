#!/usr/bin/env bash
# Measures what the exporter really holds in memory, to size the manifests' requests and limits.
#
#   deploy/tools/measure-memory.sh [BIN] [INSTANCES ...]
#   (defaults: target/release/dbs-exporter, then 100 1000 10000; build with cargo build --release)
#
# First `BIN demo` (6 instances, the simulator in the same process) for 6 poll cycles. Then, for
# each estate size N: `BIN simulate` serves N instances (10 regions of N/10, live tasks that come
# and go, about 40 per instance at any time) in a process of its own, and the daemon polls them
# (`BIN --config.file`, both task types, poll_interval 60s, the default concurrency, a rate limit
# out of the way) while a gzip scrape, as Prometheus sends, comes every 5 seconds. The daemon's
# VmRSS is sampled from /proc every second from its start through three complete poll cycles;
# VmHWM is the kernel's peak. Prints one Markdown table row per run.
#
# Each estate is measured twice, as SCHEMES says (default "http https"): over plain HTTP, and over
# HTTPS (`simulate --tls`, its CA trusted with `tls.ca_file`), as every real Alibaba endpoint is,
# so that the two rows stand side by side. The demo runs over HTTPS (its own CA) either way.
#
# Everything runs on loopback; a run of all three sizes takes about 10 minutes on 2 cores.
# SIM_BIN=PATH serves the estate with another binary's simulator, so that two daemons (say, before
# and after a change) are measured against the very same tasks.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-target/release/dbs-exporter}
shift || true
SIZES=("$@")
read -r -a SCHEME_LIST <<<"${SCHEMES:-http https}"
[ ${#SIZES[@]} -gt 0 ] || SIZES=(100 1000 10000)
[ -x "$BIN" ] || { echo "measure-memory: $BIN is not an executable (cargo build --release)" >&2; exit 1; }

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
kib() { awk -v k="$1" '/^'"$1"':/ {print $2}' "/proc/$2/status"; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
# What the process allocated (RssAnon) and the pages of its binary and libraries (RssFile).
rss_split() { echo "$(mib "$(kib RssAnon "$1")") / $(mib "$(kib RssFile "$1")") MiB"; }
metric() { # NAME URL: the value of an unlabelled metric
  curl -fsS "$2/metrics" | awk -v n="$1" '$1 == n {print $2}'
}
wait_ready() { # URL PID
  local i
  for i in $(seq 1 900); do
    curl -fsS -o /dev/null "$1/-/ready" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { echo "measure-memory: the exporter exited" >&2; return 1; }
    sleep 0.2
  done
  echo "measure-memory: $1 never became ready" >&2
  return 1
}

# Samples VmRSS of PID every second for SECONDS, scraping URL with gzip every 5 s; prints the
# largest sample and the median of the samples after the first 65 s (the steady state after the
# first cycle), in KiB. One sample at the end swings by a few MiB with where the renders and
# listings are; the median does not.
sample() { # PID URL SECONDS
  local pid=$1 url=$2 seconds=$3 rss i
  : >"$WORK/samples"
  for i in $(seq 1 "$seconds"); do
    rss=$(kib VmRSS "$pid")
    echo "$i $rss" >>"$WORK/samples"
    if [ $((i % 5)) = 0 ]; then curl -fsS -o /dev/null -H 'Accept-Encoding: gzip' "$url/metrics"; fi
    sleep 1
  done
  local max median
  max=$(sort -k2 -n "$WORK/samples" | tail -1 | cut -d' ' -f2)
  median=$(awk '$1 > 65 {print $2}' "$WORK/samples" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
  echo "$max ${median:-$max}"
}

echo "| run | scheme | instances | listings per cycle | series | poll cycle | VmRSS at end | of it RssAnon / RssFile | median VmRSS after the first cycle | largest VmRSS sample | VmHWM (peak) |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"

# --- the demo ---------------------------------------------------------------------------------
port=$(free_port)
"$BIN" demo --web.listen-address "127.0.0.1:$port" >"$WORK/demo.log" 2>&1 &
demo=$!
PIDS+=("$demo")
url="http://127.0.0.1:$port"
wait_ready "$url" "$demo"
read -r largest median < <(sample "$demo" "$url" 30) # 6 cycles of 5 s
series=$(curl -fsS "$url/metrics" | grep -c '^aliyun_dbs_download_tasks{' || true)
echo "| demo | https | 6 | 12 | $series download_tasks | $(metric aliyun_dbs_poll_duration_seconds "$url") s | $(mib "$(kib VmRSS "$demo")") MiB | $(rss_split "$demo") | $(mib "$median") MiB | $(mib "$largest") MiB | $(mib "$(kib VmHWM "$demo")") MiB |"
kill "$demo"
wait "$demo" 2>/dev/null || true

# --- estates of N instances -------------------------------------------------------------------
for n in "${SIZES[@]}"; do
for scheme in "${SCHEME_LIST[@]}"; do
  sim_port=$(free_port)
  port=$(free_port)
  while [ "$port" = "$sim_port" ]; do port=$(free_port); done
  # The simulator reads the estate's instances from the plain file; over HTTPS the exporter
  # reads a copy that points at https:// and trusts the CA the simulator writes at start.
  estate="$WORK/estate-$n.yaml"
  python3 deploy/tools/write-estate.py "$n" "$sim_port" >"$estate"
  config=$estate
  tls_flags=()
  if [ "$scheme" = https ]; then
    tls_flags=(--tls --simulator.ca-file "$WORK/sim-ca-$n.pem")
    config="$WORK/estate-$n-https.yaml"
    { printf 'tls:\n  ca_file: %s\n' "$WORK/sim-ca-$n.pem"; sed 's#endpoint: http://#endpoint: https://#' "$estate"; } >"$config"
  fi
  "${SIM_BIN:-$BIN}" simulate --simulator.listen-address "127.0.0.1:$sim_port" --config.file "$estate" "${tls_flags[@]}" \
    >"$WORK/sim-$n-$scheme.log" 2>&1 &
  sim=$!
  PIDS+=("$sim")
  for _ in $(seq 1 100); do grep -q 'access key secret' "$WORK/sim-$n-$scheme.log" && break; sleep 0.1; done
  key_id=$(awk '/access key id:/ {print $4}' "$WORK/sim-$n-$scheme.log")
  secret=$(awk '/access key secret:/ {print $4}' "$WORK/sim-$n-$scheme.log")
  ALIBABA_CLOUD_ACCESS_KEY_ID=$key_id ALIBABA_CLOUD_ACCESS_KEY_SECRET=$secret ALIBABA_CLOUD_ECS_METADATA_DISABLED=true \
    "$BIN" --config.file "$config" --web.listen-address "127.0.0.1:$port" --log.level warn \
    >"$WORK/exporter-$n-$scheme.log" 2>&1 &
  exporter=$!
  PIDS+=("$exporter")
  url="http://127.0.0.1:$port"
  # The first cycle spreads over one interval; then two more complete cycles.
  read -r largest median < <(sample "$exporter" "$url" 185)
  wait_ready "$url" "$exporter"
  series=$(curl -fsS "$url/metrics" | grep -c '^aliyun_dbs_' || true)
  up=$(curl -fsS "$url/metrics" | grep -c '^aliyun_dbs_up{.*} 1$' || true)
  [ "$up" = "$n" ] || echo "measure-memory: only $up of $n instances up over $scheme; see $WORK/exporter-$n-$scheme.log" >&2
  cpu=$(awk '{printf "%.1f", ($14 + $15) / 100}' "/proc/$exporter/stat")
  echo "| daemon + simulate | $scheme | $n | $((2 * n)) | $series aliyun_dbs_* | $(metric aliyun_dbs_poll_duration_seconds "$url") s | $(mib "$(kib VmRSS "$exporter")") MiB | $(rss_split "$exporter") | $(mib "$median") MiB | $(mib "$largest") MiB | $(mib "$(kib VmHWM "$exporter")") MiB |"
  echo "  ($scheme, $n instances: the exporter used $cpu CPU-s over the run: start, ~3 poll cycles and 37 gzip scrapes)"
  kill "$exporter" "$sim"
  wait "$exporter" "$sim" 2>/dev/null || true
done
done
