#!/usr/bin/env bash
# Keeps what the docs, manifests and rules say true where a machine can tell:
#   1. every configuration the repository ships passes `dbs-exporter check-config`: the files in
#      config/, and every config embedded in the manifests and the chart (a config.yaml under
#      deploy/, a ConfigMap's config.yaml, each `config:` of the chart's values files); and
#      each again with poll_interval raised to 10m (so no key is pinned below what a slower
#      poll needs, like a max_staleness shorter than the interval);
#   2. every metric named in the docs (README.md, docs/, deploy/ Markdown, the chart's values
#      and notes, config comments), the rules and their tests, and the dashboard is a family
#      of the golden files under tests/data/: golden-exposition.prom (the task series) and
#      golden-exporter-families.prom (the exporter's own families).
#
# Usage: .ci/check-docs.sh [path/to/dbs-exporter]   (default target/release/dbs-exporter)
# Needs python3 with PyYAML: the venv of .ci/deploy-checks.sh when it exists, else one of its own.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/dbs-exporter}
WORK=.ci-work/check-docs
rm -rf "$WORK" && mkdir -p "$WORK"

[ -x "$BIN" ] || { echo "check-docs: $BIN is not built"; exit 1; }
PY=.ci-work/venv/bin/python
if ! "$PY" -c 'import yaml' 2>/dev/null; then
  PY=.ci-work/venv-docs/bin/python
  if ! "$PY" -c 'import yaml' 2>/dev/null; then
    python3 -m venv .ci-work/venv-docs && .ci-work/venv-docs/bin/pip install -q --disable-pip-version-check pyyaml==6.0.2 \
      || { echo "check-docs: cannot install PyYAML"; exit 1; }
  fi
fi

# config/example-accounts.yaml takes RRSA and an AccessKey from the environment: give it some.
printf 'a-service-account-token' >"$WORK/token"
export ALIBABA_CLOUD_ROLE_ARN=acs:ram::1234567890123456:role/dbs-exporter
export ALIBABA_CLOUD_OIDC_PROVIDER_ARN=acs:ram::1234567890123456:oidc-provider/ci
export ALIBABA_CLOUD_OIDC_TOKEN_FILE=$PWD/$WORK/token
export LEGACY_ACCESS_KEY_ID=LTAI5tCiPlaceholder LEGACY_ACCESS_KEY_SECRET=ci-placeholder-secret

failed=0

# --- 1. configs -----------------------------------------------------------------------------
"$PY" - "$WORK" <<'PYEOF' || failed=1
import pathlib, sys, yaml
work = pathlib.Path(sys.argv[1])
found = []  # (where, text)
for path in sorted(pathlib.Path("config").glob("*.yaml")):
    found.append((str(path), path.read_text()))
for path in sorted(pathlib.Path("deploy").rglob("*.yaml")):
    if path.name == "config.yaml":
        found.append((str(path), path.read_text()))
        continue
    try:
        docs = list(yaml.safe_load_all(path.read_text()))
    except yaml.YAMLError:
        continue  # Helm templates are not YAML; the chart's renders are checked by deploy-checks
    for doc in docs:
        if not isinstance(doc, dict):
            continue
        if doc.get("kind") == "ConfigMap" and "config.yaml" in (doc.get("data") or {}):
            found.append((f"{path} (ConfigMap {doc['metadata']['name']})", doc["data"]["config.yaml"]))
        elif "helm/" in str(path) and isinstance(doc.get("config"), dict) and doc["config"]:
            found.append((f"{path} (config:)", yaml.safe_dump(doc["config"], sort_keys=False)))
lines = []
for i, (where, text) in enumerate(found):
    base = work / f"config-{i}.yaml"
    base.write_text(text)
    slow = yaml.safe_load(text)
    slow["poll_interval"] = "10m"
    (work / f"config-{i}-10m.yaml").write_text(yaml.safe_dump(slow, sort_keys=False))
    lines.append(f"{base}\t{where}")
(work / "configs.tsv").write_text("\n".join(lines) + "\n")
print(f"{len(found)} configurations: " + ", ".join(w for w, _ in found))
PYEOF
while IFS=$'\t' read -r file where; do
  for variant in "$file" "${file%.yaml}-10m.yaml"; do
    label=$where
    [ "$variant" = "$file" ] || label="$where with poll_interval: 10m"
    if out=$("$BIN" check-config --config.file "$variant" 2>&1); then
      echo "ok   check-config: $label"
    else
      echo "FAIL check-config: $label"
      sed 's/^/       /' <<<"$out"
      failed=1
    fi
  done
done <"$WORK/configs.tsv"

# --- 2. metric names ------------------------------------------------------------------------
"$PY" - <<'PYEOF' || failed=1
import pathlib, re, sys
types = {}
for path in ("tests/data/golden-exposition.prom", "tests/data/golden-exporter-families.prom"):
    types.update(re.findall(r"^# TYPE (\S+) (\S+)$", open(path).read(), re.M))
golden = set(types)
histograms = {family for family, kind in types.items() if kind == "histogram"}
sources = [pathlib.Path("README.md"), *sorted(pathlib.Path("docs").glob("*.md")),
           *sorted(pathlib.Path("deploy").rglob("*.md")), *sorted(pathlib.Path("config").glob("*.yaml")),
           *sorted(pathlib.Path("deploy/prometheus").rglob("*.yml")), *sorted(pathlib.Path("deploy/grafana").glob("*.json")),
           pathlib.Path("deploy/helm/dbs-exporter/values.yaml"), pathlib.Path("deploy/helm/dbs-exporter/templates/NOTES.txt")]
# A name, not part of a recorded name (level:metric:operations) and not a prefix pattern (name_*).
name = re.compile(r"(?<![\w:])aliyun_dbs_[a-z0-9_]*[a-z0-9](?![\w:*])")
prefix = re.compile(r"(?<![\w:])(aliyun_dbs_[a-z0-9_]*_)\*")
problems, seen = [], set()
for path in sources:
    text = path.read_text()
    for number, line in enumerate(text.splitlines(), 1):
        for m in name.findall(line):
            family = m
            for suffix in ("_bucket", "_sum", "_count"):
                if m.endswith(suffix) and m[: -len(suffix)] in histograms:
                    family = m[: -len(suffix)]
            seen.add(family)
            if family not in golden:
                problems.append(f"{path}:{number}: {m} is no family of the golden files")
        for p in prefix.findall(line):
            if not any(g.startswith(p) for g in golden):
                problems.append(f"{path}:{number}: no family of the golden files starts with {p}")
for p in problems:
    print(f"FAIL {p}")
print(f"{'FAIL' if problems else 'ok  '} metric names: {len(seen)} families named in {len(sources)} files, "
      f"{len(golden)} in tests/data/golden-*.prom")
sys.exit(1 if problems else 0)
PYEOF

[ $failed = 0 ] && echo "check-docs: all passed" || echo "check-docs: failed"
exit $failed
