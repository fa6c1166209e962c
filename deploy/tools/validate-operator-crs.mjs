// Validates the Prometheus Operator objects (ServiceMonitor, PrometheusRule) in rendered
// manifests against the operator's schemas from @kubernetes-models/prometheus-operator.
//
//   NODE_MODULES=.ci-work/node/node_modules node deploy/tools/validate-operator-crs.mjs FILE...
//
// Every YAML document whose apiVersion is monitoring.coreos.com/* must be a kind this script
// knows, and must pass the package's validate(); other documents are left to
// kubernetes-validate. Exits 1 on any failure, and when no operator object was found at all.

import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const modules = resolve(process.env.NODE_MODULES ?? "node_modules");
const require = createRequire(join(modules, "noop.js"));
const yaml = require("js-yaml");
const operator = await import(
  pathToFileURL(join(modules, "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/index.js")).href
);
const version = JSON.parse(
  readFileSync(join(modules, "@kubernetes-models/prometheus-operator/package.json"), "utf8"),
).version;

const KINDS = { ServiceMonitor: operator.ServiceMonitor, PrometheusRule: operator.PrometheusRule };

let checked = 0;
let failed = 0;
for (const file of process.argv.slice(2)) {
  for (const doc of yaml.loadAll(readFileSync(file, "utf8"))) {
    if (!doc || !String(doc.apiVersion ?? "").startsWith("monitoring.coreos.com/")) continue;
    const what = `${file}: ${doc.kind}/${doc.metadata?.name}`;
    const Model = doc.apiVersion === "monitoring.coreos.com/v1" ? KINDS[doc.kind] : undefined;
    if (!Model) {
      console.error(`FAIL ${what}: no schema here for ${doc.apiVersion} ${doc.kind}`);
      failed++;
      continue;
    }
    try {
      new Model(doc).validate();
      console.log(`ok   ${what} (prometheus-operator schema, @kubernetes-models/prometheus-operator ${version})`);
      checked++;
    } catch (error) {
      console.error(`FAIL ${what}: ${error.message}`);
      for (const detail of error.errors ?? []) console.error(`     ${detail.instancePath} ${detail.message}`);
      failed++;
    }
  }
}
if (checked + failed === 0) {
  console.error("FAIL no ServiceMonitor or PrometheusRule found");
  process.exit(1);
}
process.exit(failed ? 1 : 0);
