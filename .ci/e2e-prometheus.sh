#!/usr/bin/env bash
# End to end with a real Prometheus: `dbs-exporter demo` (simulated DBS over real HTTPS under a CA
# the demo makes at start and trusts through `tls.ca_file`, real signatures) scraped every 2s by a Prometheus server on loopback that loads
# deploy/prometheus/dbs-exporter.rules.yml. Asserts through Prometheus' HTTP API that
#   1. the target is up and aliyun_dbs_download_tasks has every expected series,
#   2. every rule evaluates without error and every recording rule has data (but
#      aliyun_dbs:download_running_eta_seconds, which may be empty on the demo and must then
#      never be negative, infinite or NaN),
#   3. every PromQL expression of the Grafana dashboard returns data (but the panel of that
#      estimate), with every variable on All and with one account, region, instance and task
#      type picked (and then only that one's series come back),
#   4. no alert is pending or firing on the healthy demo, but for DbsDownloadTaskFailed, which
#      may fire for the tasks the demo fails on purpose and then only with state="failed",
#   5. and, as a control that the alerts are wired to live data, that DbsExporterDown turns
#      pending once the exporter is stopped.
#
# Why "no alert" means something here: all alerts but DbsDownloadTaskFailed have a `for:` (5-15
# min, to ride out a failed scrape or poll) and so would show up as *pending* within seconds if
# their expression matched the demo's series (a wrong unit, label or job name); the test fails
# on pending as well as firing. The demo fails about 12% of its tasks on purpose, and
# DbsDownloadTaskFailed fires as soon as the exporter sees a task enter `failed`, which may or
# may not happen within this short run: its logic is covered by promtool's unit tests
# (deploy/prometheus/tests); here it must evaluate without error like every other rule.
#
# Usage: .ci/e2e-prometheus.sh [path/to/dbs-exporter]   (default target/release/dbs-exporter)
# Waits by polling the APIs (at most ~90s for the assertions, ~30s for the control).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN=${1:-target/release/dbs-exporter}
[ -x "$BIN" ] || { echo "e2e: $BIN is not an executable (build it first)"; exit 1; }

if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
echo "prometheus: $(prometheus --version 2>&1 | head -1)"

mkdir -p "$ROOT/.ci-work"
WORK=$(mktemp -d "$ROOT/.ci-work/e2e.XXXXXX")
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
EXPORTER_PORT=$(free_port)
PROM_PORT=$(free_port)
while [ "$PROM_PORT" = "$EXPORTER_PORT" ]; do PROM_PORT=$(free_port); done

EXPORTER_PID=""
PROM_PID=""
cleanup() {
  local status=$?
  for pid in $EXPORTER_PID $PROM_PID; do kill "$pid" 2>/dev/null || true; done
  for pid in $EXPORTER_PID $PROM_PID; do wait "$pid" 2>/dev/null || true; done
  if [ $status -ne 0 ]; then
    echo "--- exporter log (last 40 lines) ---"; tail -n 40 "$WORK/exporter.log" 2>/dev/null || true
    echo "--- prometheus log (last 40 lines) ---"; tail -n 40 "$WORK/prometheus.log" 2>/dev/null || true
  fi
  rm -rf "$WORK"
  exit $status
}
trap cleanup EXIT INT TERM

cat >"$WORK/prometheus.yml" <<EOF
global:
  scrape_interval: 2s
  scrape_timeout: 1s
  evaluation_interval: 2s
rule_files:
  - $ROOT/deploy/prometheus/dbs-exporter.rules.yml
scrape_configs:
  - job_name: dbs-exporter
    static_configs:
      - targets: ["127.0.0.1:$EXPORTER_PORT"]
EOF
promtool check config "$WORK/prometheus.yml"

"$BIN" demo --web.listen-address "127.0.0.1:$EXPORTER_PORT" >"$WORK/exporter.log" 2>&1 &
EXPORTER_PID=$!
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/data" \
  --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn >"$WORK/prometheus.log" 2>&1 &
PROM_PID=$!
echo "exporter demo on 127.0.0.1:$EXPORTER_PORT (pid $EXPORTER_PID), prometheus on 127.0.0.1:$PROM_PORT (pid $PROM_PID)"

wait_http() { # URL NAME PID: poll until 200, at most 30s
  local i
  for i in $(seq 1 150); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && { echo "$2 ready after ~$((i / 5))s"; return 0; }
    kill -0 "$3" 2>/dev/null || { echo "e2e: $2 exited"; return 1; }
    sleep 0.2
  done
  echo "e2e: $2 not ready after 30s"
  return 1
}
wait_http "http://127.0.0.1:$EXPORTER_PORT/-/ready" "exporter" "$EXPORTER_PID"
wait_http "http://127.0.0.1:$PROM_PORT/-/ready" "prometheus" "$PROM_PID"

# The demo's API calls went over HTTPS, trusting the simulator's CA through tls.ca_file, and no
# call was refused for its certificate.
grep -q 'simulator=https://127.0.0.1:' "$WORK/exporter.log" \
  || { echo "e2e: the demo's simulator does not serve HTTPS"; exit 1; }
grep -q 'roots="the built-in web PKI roots and .*from tls.ca_file)"' "$WORK/exporter.log" \
  || { echo "e2e: the demo does not trust its simulator's CA through tls.ca_file"; exit 1; }
METRICS=$(curl -fsS "http://127.0.0.1:$EXPORTER_PORT/metrics")
if grep -E '^aliyun_dbs_api_request_errors_total\{code="(certificate|transport)".*\} [1-9]' <<<"$METRICS"; then
  echo "e2e: API calls of the demo failed over HTTPS"; exit 1
fi
echo "demo over HTTPS: simulator and CA file in the log, no certificate or transport error"

export PROM_URL="http://127.0.0.1:$PROM_PORT" EXPORTER_PID DASHBOARD="$ROOT/deploy/grafana/dbs-exporter.json"
python3 - <<'EOF'
import json, os, re, signal, sys, time, urllib.parse, urllib.request

PROM = os.environ["PROM_URL"]
JOB = "dbs-exporter"
DEMO_REGIONS = {"cn-hangzhou", "cn-shanghai", "ap-southeast-1"}
# The demo's two accounts (crates/dbs-sim/src/sample/mod.rs), so that every series per instance carries `account`.
DEMO_ACCOUNTS = {"prod": {"cn-hangzhou", "cn-shanghai"}, "analytics": {"ap-southeast-1"}}
KNOWN_STATES = {"initializing", "queueing", "running", "failed", "finished", "expired"}
TASK_TYPES = {"full", "pitr"}
# What may legitimately have no data on demo data, with the reason; everything else does (the
# demo always has tasks in every state, and the error counters start at 0). The estimated time
# left of running downloads only has a value while an instance's exported-table count rose over
# the window: the demo's tasks run 30 s to 3 min and new ones start every 20-40 s, so the count
# is a sawtooth whose slope over this short run is often negative (a task that finished takes its
# tables out), for some instance and type the whole run.
ETA_EMPTY = "no estimate while the demo's exported-table count falls as tasks finish"
MAY_BE_EMPTY_RECORDING = {"aliyun_dbs:download_running_eta_seconds": ETA_EMPTY}
MAY_BE_EMPTY = {"panel 'Estimated time left of running downloads' A": ETA_EMPTY}
START = time.monotonic()
DEADLINE = START + 90

results = []

def api(path, **params):
    url = f"{PROM}/api/v1/{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.load(response)
    if body.get("status") != "success":
        raise RuntimeError(f"{path}: {body}")
    return body["data"]

def query(expr):
    return api("query", query=expr)["result"]

def eventually(name, probe, deadline=None):
    """Polls probe() until it returns (True, detail) or the deadline passes."""
    deadline = deadline or DEADLINE
    detail = "never evaluated"
    while True:
        try:
            ok, detail = probe()
        except Exception as error:  # Prometheus may still be starting up
            ok, detail = False, f"error: {error}"
        if ok:
            print(f"PASS: {name} ({detail}) after {time.monotonic() - START:.0f}s")
            results.append(True)
            return True
        if time.monotonic() > deadline:
            print(f"FAIL: {name}: {detail}")
            results.append(False)
            return False
        time.sleep(1)

# 1. The target is up and scraped repeatedly.
def target_up():
    targets = [t for t in api("targets")["activeTargets"] if t["labels"].get("job") == JOB]
    if len(targets) != 1 or targets[0]["health"] != "up":
        return False, f"targets: {[(t['scrapeUrl'], t['health'], t.get('lastError')) for t in targets]}"
    scrapes = query(f'count_over_time(up{{job="{JOB}"}}[5m])')
    count = int(float(scrapes[0]["value"][1])) if scrapes else 0
    return count >= 8, f"target health up, {count} scrapes"
eventually("target up and scraped", target_up)

# 2. aliyun_dbs_download_tasks: every known state for every instance and task type, all up.
def task_series():
    up = query(f'aliyun_dbs_up{{job="{JOB}"}}')
    instances = {(s["metric"]["region_id"], s["metric"]["instance_id"]) for s in up}
    regions = {r for r, _ in instances}
    if regions != DEMO_REGIONS:
        return False, f"regions {sorted(regions)}"
    accounts = {}
    for s in up:
        accounts.setdefault(s["metric"].get("account"), set()).add(s["metric"]["region_id"])
    if accounts != DEMO_ACCOUNTS:
        return False, f"accounts and their regions {accounts}"
    if any(s["value"][1] != "1" for s in up):
        return False, f"aliyun_dbs_up not 1 for {[s['metric']['instance_id'] for s in up if s['value'][1] != '1']}"
    series = query(f'aliyun_dbs_download_tasks{{job="{JOB}"}}')
    seen = {(s["metric"]["region_id"], s["metric"]["instance_id"], s["metric"]["task_type"], s["metric"]["state"])
            for s in series}
    missing = [(r, i, t, st) for r, i in instances for t in TASK_TYPES for st in KNOWN_STATES
               if (r, i, t, st) not in seen]
    if missing:
        return False, f"{len(missing)} series missing, e.g. {missing[:3]}"
    total = sum(float(s["value"][1]) for s in series)
    targets = query(f'aliyun_dbs_targets{{job="{JOB}"}}')
    target_count = float(targets[0]["value"][1]) if targets else 0
    if target_count != len(instances) * len(TASK_TYPES):
        return False, f"aliyun_dbs_targets={target_count} for {len(instances)} instances"
    if total <= 0:
        return False, "no tasks counted"
    return True, (f"{len(series)} series: {len(instances)} instances in {len(regions)} regions of "
                  f"{len(accounts)} accounts x "
                  f"{len(TASK_TYPES)} task types x {len(KNOWN_STATES)} states, {total:.0f} tasks")
eventually("aliyun_dbs_download_tasks has the expected series", task_series)

# 3. Every rule evaluates; every recording rule has data.
def rules_evaluate():
    groups = api("rules")["groups"]
    rules = [r for g in groups for r in g["rules"]]
    if not rules:
        return False, "no rules loaded"
    bad = [(r["name"], r.get("lastError")) for r in rules if r.get("health") != "ok"]
    if bad:
        return False, f"unhealthy rules: {bad}"
    empty = [r["name"] for r in rules
             if r["type"] == "recording" and r["name"] not in MAY_BE_EMPTY_RECORDING and not query(r["name"])]
    if empty:
        return False, f"recording rules without data: {empty}"
    # Where the estimate has a value, it is a finite number of seconds, never negative (NaN fails
    # both comparisons).
    eta = query("aliyun_dbs:download_running_eta_seconds")
    bad = [(s["metric"]["instance_id"], s["metric"]["task_type"], s["value"][1]) for s in eta
           if not 0 <= float(s["value"][1]) < float("inf")]
    if bad:
        return False, f"aliyun_dbs:download_running_eta_seconds not a finite value >= 0: {bad}"
    recording = sum(r["type"] == "recording" for r in rules)
    return True, (f"{len(rules)} rules healthy, {recording - len(MAY_BE_EMPTY_RECORDING)} recording rules "
                  f"with data, the estimated time left on {len(eta)} instances and types")
eventually("rules evaluate and recording rules have data", rules_evaluate)

# 4. Every dashboard expression returns data.
SUBSTITUTIONS = {"job": JOB, "account": ".*", "region_id": ".*", "instance_id": ".*", "task_type": ".*",
                 "__rate_interval": "5m", "__interval": "1m", "__range": "1h"}
def substitute(expr, picked=None):
    values = {**SUBSTITUTIONS, **(picked or {})}
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: values[m.group(1) or m.group(2)], expr)
board = json.load(open(os.environ["DASHBOARD"]))
exprs = []
for variable in board["templating"]["list"]:
    if variable["type"] == "query":
        q = variable["query"] if isinstance(variable["query"], str) else variable["query"]["query"]
        exprs.append((f"variable ${variable['name']}", re.fullmatch(r"\s*label_values\((.*),\s*\w+\)\s*", q).group(1)))
for panel in board["panels"]:
    for target in panel.get("targets", []):
        exprs.append((f"panel {panel['title']!r} {target['refId']}", target["expr"]))
def dashboard_data():
    empty = []
    for where, expr in exprs:
        if not query(substitute(expr)) and where not in MAY_BE_EMPTY:
            empty.append(where)
    if empty:
        return False, f"no data for {empty}"
    return True, f"{len(exprs)} expressions, {len(exprs) - len(MAY_BE_EMPTY)} required to have data"
eventually("every dashboard expression returns data", dashboard_data)

# 4b. With one value picked for each variable, every expression still returns data, and every
# panel only that selection's: a series that carries one of the variables' labels has the
# picked value.
# One selection per demo account.
def picks():
    up = query(f'aliyun_dbs_up{{job="{JOB}"}}')
    chosen = []
    for account in sorted(DEMO_ACCOUNTS):
        one = next(s["metric"] for s in up if s["metric"].get("account") == account)
        chosen.append({"account": account, "region_id": one["region_id"], "instance_id": one["instance_id"],
                       "task_type": "pitr" if account == "prod" else "full"})
    return chosen
def dashboard_follows_variables():
    problems = []
    for picked in picks():
        for where, expr in exprs:
            result = query(substitute(expr, picked))
            if not result and where not in MAY_BE_EMPTY:
                problems.append(f"{where} with {picked}: no data")
            # A variable's own query lists the values to pick from: it is not narrowed by itself.
            for series in result if where.startswith("panel") else []:
                wrong = {k: v for k, v in series["metric"].items() if k in picked and v != picked[k]}
                if wrong:
                    problems.append(f"{where} with {picked}: returned {wrong}")
    if problems:
        return False, "; ".join(problems[:5]) + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else "")
    return True, f"{len(exprs)} expressions x {len(DEMO_ACCOUNTS)} selections"
eventually("every dashboard expression follows a picked account, region, instance and task type",
           dashboard_follows_variables)

# 5. No alert pending or firing. Let the alerting rules see a stretch of data first: at least
# 20s of evaluations, several demo polls.
while time.monotonic() < START + 20:
    time.sleep(1)
rules = [r for g in api("rules")["groups"] for r in g["rules"] if r["type"] == "alerting"]
alerts = [(a["labels"]["alertname"], a["state"], {k: v for k, v in a["labels"].items() if k != "alertname"})
          for a in api("alerts")["alerts"]]
# The demo fails tasks on purpose: the failed-download alert may fire, for failed tasks only.
alerts = [a for a in alerts if not (a[0] == "DbsDownloadTaskFailed" and a[2].get("state") == "failed")]
if alerts or not rules:
    print(f"FAIL: alerts on healthy demo data: {alerts}" if alerts else "FAIL: no alerting rules loaded")
    results.append(False)
else:
    print(f"PASS: none of {len(rules)} alerting rules pending or firing on healthy demo data")
    results.append(True)

# 6. Control: stop the exporter; DbsExporterDown must turn pending (its `for: 5m` keeps it from
# firing within the test), which shows the alert rules see the live series.
os.kill(int(os.environ["EXPORTER_PID"]), signal.SIGTERM)
def exporter_down_pending():
    states = [(a["labels"]["alertname"], a["state"]) for a in api("alerts")["alerts"]]
    return ("DbsExporterDown", "pending") in states, f"alerts: {states}"
eventually("DbsExporterDown pending after the exporter stops (control)", exporter_down_pending,
           deadline=time.monotonic() + 30)

passed, failed = results.count(True), results.count(False)
print(f"e2e-prometheus: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
EOF
