#!/usr/bin/env python3
"""Checks a Grafana dashboard JSON file and extracts its PromQL expressions.

    check-dashboard.py DASHBOARD.json                  parse and check; exit 1 on any problem
    check-dashboard.py DASHBOARD.json --rules OUT.yml  also write every expression into a
                                                       Prometheus rules file, for promtool
    check-dashboard.py DASHBOARD.json --exprs OUT.json also write the expressions as JSON, for
                                                       the end-to-end run against Prometheus

The dashboard is parsed with grafana-foundation-sdk, Grafana's own typed models: each panel
must be a known panel type, each query a Prometheus query, and a parse-and-serialise round trip
must keep every key of the file (a key the models drop is one Grafana does not know either, such
as a misspelled option). On top of that: unique panel IDs, panels inside the 24-column grid,
every query on the `${datasource}` variable, the variables job, account, region_id, instance_id
and task_type, that every query honours every variable (see `honours_variables`), and that
the poll lag is drawn with the DbsExporterPollingBehind threshold as a line (`poll_lag_threshold`).

Dashboard variables are replaced by values that select everything ($region_id -> .*), so the
expressions are plain PromQL; label_values() variable queries contribute their series selector.
"""

import argparse
import json
import pathlib
import re
import sys

from grafana_foundation_sdk.cog import plugins
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog import runtime
from grafana_foundation_sdk.models import dashboard as dashboard_model
from grafana_foundation_sdk.models import prometheus

REQUIRED_VARIABLES = {"datasource", "job", "account", "region_id", "instance_id", "task_type"}
SUBSTITUTIONS = {
    "job": "dbs-exporter",
    "account": ".*",
    "region_id": ".*",
    "instance_id": ".*",
    "task_type": ".*",
    "__rate_interval": "5m",
    "__interval": "1m",
    "__range": "1h",
}


def substitute(expr: str) -> str:
    def one(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        if name not in SUBSTITUTIONS:
            raise ValueError(f"unknown variable ${name} in {expr!r}")
        return SUBSTITUTIONS[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", one, expr)


# What each series carries, and so which variables a selector of it must match on. Per-instance
# series carry account (with several accounts), region_id and instance_id; the task series
# task_type too; the API series only region_id; the exporter's own series none of these.
# A recorded series goes by the level in its name (account_region_id_instance_id_task_type:...);
# aliyun_dbs:download_running_eta_seconds has none in its name and is a task series too.
INSTANCE_LABELS = ("job", "account", "region_id", "instance_id")
TASK_METRICS = re.compile(
    r"^(aliyun_dbs_download_\w+|aliyun_dbs:download_running_eta_seconds|account_region_id_instance_id_task_type\w*:\w+:\w+)$"
)
INSTANCE_METRICS = re.compile(
    r"^(aliyun_dbs_up|aliyun_dbs_last_success_timestamp_seconds|aliyun_dbs_instance_info|account_region_id_instance_id\w*:\w+:\w+)$"
)
REGION_METRICS = re.compile(r"^(aliyun_dbs_api_request\w+|aliyun_dbs_discovery_\w+|region_id\w*:\w+:\w+)$")
SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}")
# Regions and exporters are narrowed to those of the selected instances with
# `and on (...) count by (...) (last_over_time(aliyun_dbs_up{...}[1h]))`.
NARROWED_BY_INSTANCES = re.compile(r"and on \((job, region_id|job, instance)\) count by")


def honours_variables(expr: str) -> list:
    """Why `expr` would ignore a dashboard variable: every selector matches each variable whose
    label its series carry; region-level and exporter-level series are narrowed to the regions
    and exporters of the selected instances, so that job, account, region and instance apply
    to every query. Task type applies where the series carry it (documented on the others)."""
    problems = []
    selectors = SELECTOR.findall(expr)
    if not selectors:
        return [f"no series selector in {expr!r}"]
    for metric, matchers in selectors:
        want = ["job"]
        if TASK_METRICS.match(metric):
            want = [*INSTANCE_LABELS, "task_type"]
        elif INSTANCE_METRICS.match(metric):
            want = list(INSTANCE_LABELS)
        elif REGION_METRICS.match(metric):
            want = ["job", "region_id"]
        for label in want:
            if f'{label}=~"${label}"' not in matchers:
                problems.append(f'{metric}{{...}} lacks {label}=~"${label}"')
    if not all(f'"${v}"' in expr for v in ("job", "account", "region_id", "instance_id")):
        if not NARROWED_BY_INSTANCES.search(expr):
            problems.append("neither matches nor narrows to the selected account, region and instance")
    return problems


def datasource_uid(ref):
    """The uid of a datasource reference, typed or (in some query models) a plain dict."""
    if isinstance(ref, dict):
        return ref.get("uid")
    return getattr(ref, "uid", None)


def dropped_keys(original, roundtrip, path=""):
    """Keys of `original` that the typed models did not carry over."""
    missing = []
    if isinstance(original, dict) and isinstance(roundtrip, dict):
        for key, value in original.items():
            if key not in roundtrip:
                missing.append(f"{path}.{key}")
            else:
                missing += dropped_keys(value, roundtrip[key], f"{path}.{key}")
    elif isinstance(original, list) and isinstance(roundtrip, list):
        for index, (a, b) in enumerate(zip(original, roundtrip)):
            missing += dropped_keys(a, b, f"{path}[{index}]")
    return missing


def poll_lag_threshold(raw: dict) -> list:
    """The poll lag is shown with the interval as a threshold line: a panel that queries
    aliyun_dbs_poll_lag_seconds draws a line at the threshold of the DbsExporterPollingBehind
    rule (the default poll_interval), read from deploy/prometheus/dbs-exporter.rules.yml."""
    rules = pathlib.Path(__file__).resolve().parents[1] / "prometheus/dbs-exporter.rules.yml"
    wanted = re.search(r"aliyun_dbs_poll_lag_seconds\{[^}]*\} > (\d+)", rules.read_text())
    if not wanted:
        return [f"{rules}: no DbsExporterPollingBehind threshold (aliyun_dbs_poll_lag_seconds{{...}} > N)"]
    panels = [p for p in raw.get("panels", [])
              if any("aliyun_dbs_poll_lag_seconds" in t.get("expr", "") for t in p.get("targets", []))]
    if not panels:
        return ["no panel shows aliyun_dbs_poll_lag_seconds"]
    problems = []
    for panel in panels:
        defaults = panel.get("fieldConfig", {}).get("defaults", {})
        steps = [s.get("value") for s in defaults.get("thresholds", {}).get("steps", [])]
        style = defaults.get("custom", {}).get("thresholdsStyle", {}).get("mode", "off")
        if "line" not in style or int(wanted.group(1)) not in steps:
            problems.append(f"panel {panel.get('title')!r}: the poll lag needs a threshold line at "
                            f"{wanted.group(1)} s, the DbsExporterPollingBehind threshold (steps {steps}, style {style})")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dashboard")
    parser.add_argument("--rules", help="write the expressions as recording rules to this file")
    parser.add_argument("--exprs", help="write the expressions as JSON to this file")
    args = parser.parse_args()

    problems = []
    with open(args.dashboard) as f:
        raw = json.load(f)

    plugins.register_default_plugins()
    board = dashboard_model.Dashboard.from_json(raw)
    roundtrip = json.loads(json.dumps(board, cls=JSONEncoder))
    for key in dropped_keys(raw, roundtrip):
        problems.append(f"key not in Grafana's dashboard model: {key}")

    if not board.uid or not board.title:
        problems.append("dashboard needs a uid and a title")

    variables = {v.name: v for v in board.templating.list_val or []}
    for name in sorted(REQUIRED_VARIABLES - variables.keys()):
        problems.append(f"missing variable ${name}")
    if "datasource" in variables and variables["datasource"].type_val != "datasource":
        problems.append("$datasource must be a datasource variable")

    exprs = []  # (where, expression with variables replaced)
    for name, variable in variables.items():
        if variable.type_val != "query":
            continue
        query = variable.query if isinstance(variable.query, str) else (variable.query or {}).get("query", "")
        match = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\)\s*", query)
        if not match:
            problems.append(f"variable ${name}: expected label_values(SELECTOR, LABEL), got {query!r}")
            continue
        exprs.append((f"variable ${name}", match.group(1)))

    seen_ids = set()
    panel_count = 0
    for panel in board.panels or []:
        if isinstance(panel, dashboard_model.RowPanel):
            continue
        panel_count += 1
        where = f"panel {panel.id_val} {panel.title!r}"
        if panel.id_val in seen_ids:
            problems.append(f"{where}: duplicate panel id")
        seen_ids.add(panel.id_val)
        if runtime.panelcfg_config(panel.type_val) is None:
            problems.append(f"{where}: unknown panel type {panel.type_val!r}")
        grid = panel.grid_pos
        if grid is None or grid.x < 0 or grid.w <= 0 or grid.x + grid.w > 24:
            problems.append(f"{where}: gridPos outside the 24 columns")
        if datasource_uid(panel.datasource) != "${datasource}":
            problems.append(f"{where}: datasource must be ${{datasource}}")
        if not panel.targets:
            problems.append(f"{where}: no queries")
        for target in panel.targets or []:
            if not isinstance(target, prometheus.Dataquery):
                problems.append(f"{where}: query {getattr(target, 'ref_id', '?')} is not a Prometheus query")
                continue
            if datasource_uid(target.datasource) != "${datasource}":
                problems.append(f"{where} query {target.ref_id}: datasource must be ${{datasource}}")
            exprs.append((f"{where} query {target.ref_id}", target.expr))
            for problem in honours_variables(target.expr):
                problems.append(f"{where} query {target.ref_id}: {problem}")

    problems.extend(poll_lag_threshold(raw))

    resolved = []
    for where, expr in exprs:
        try:
            resolved.append({"where": where, "expr": substitute(expr)})
        except ValueError as error:
            problems.append(f"{where}: {error}")

    for problem in problems:
        print(f"FAIL {args.dashboard}: {problem}")
    if problems:
        return 1
    print(
        f"ok   {args.dashboard}: {board.title!r} parses with grafana-foundation-sdk; {panel_count} panels, "
        f"{len(variables)} variables, {len(resolved)} PromQL expressions, no unknown keys"
    )

    if args.rules:
        with open(args.rules, "w") as f:
            f.write("# Generated by deploy/tools/check-dashboard.py: the dashboard's expressions, for promtool.\n")
            f.write("groups:\n  - name: dashboard-expressions\n    rules:\n")
            for index, item in enumerate(resolved):
                f.write(f"      # {item['where']}\n")
                f.write(f"      - record: dashboard:expression_{index}:check\n")
                f.write(f"        expr: {json.dumps(item['expr'])}\n")
    if args.exprs:
        with open(args.exprs, "w") as f:
            json.dump(resolved, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
