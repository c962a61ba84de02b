#!/usr/bin/env python3
"""Checks ops/ against the code, so a renamed metric breaks CI instead of an alert going silent.

1. Every tollgate_* metric the alert rules and the dashboard name is a metric label in
   Sources/ (a "tollgate_..." string literal; a histogram's _bucket/_sum/_count series count
   as their histogram).
2. The dashboard is valid JSON, its panel ids are unique, and every query goes through the
   $datasource variable.
3. Every dashboard query parses as PromQL: they are written into a throwaway rules file
   ($__rate_interval and the $instance variable filled in) that `promtool check rules` reads.

Run from the repository root (make ops-test). Standard library only.
"""
import json
import pathlib
import re
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
RULES = ROOT / "ops/prometheus/tollgate-alerts.yml"
DASHBOARD = ROOT / "ops/grafana/tollgate.json"
# A metric name, not part of a recording rule's name (provider:tollgate_x:rate5m).
METRIC = re.compile(r"(?<![:\w])tollgate_[a-z0-9_]+(?![:\w])")
HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")


def defined_metrics():
    names = set()
    for source in (ROOT / "Sources").rglob("*.swift"):
        names.update(re.findall(r'"(tollgate_[a-z0-9_]+)"', source.read_text(encoding="utf-8")))
    return names


def dashboard_panels(dashboard):
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def main():
    problems = []
    defined = defined_metrics()
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queries = []
    ids = set()
    for panel in dashboard_panels(dashboard):
        if panel["id"] in ids:
            problems.append(f"{DASHBOARD.name}: panel id {panel['id']} used twice")
        ids.add(panel["id"])
        for target in panel.get("targets", []):
            if target.get("datasource", {}).get("uid") != "${datasource}":
                problems.append(f"{DASHBOARD.name}: panel '{panel['title']}' query {target['refId']} does not use $datasource")
            queries.append((panel["title"], target["expr"]))
    if not any(v["type"] == "datasource" and v["name"] == "datasource" for v in dashboard["templating"]["list"]):
        problems.append(f"{DASHBOARD.name}: no datasource variable named 'datasource'")

    mentioned = {RULES.name: set(METRIC.findall(RULES.read_text(encoding="utf-8")))}
    mentioned[DASHBOARD.name] = {name for _, expr in queries for name in METRIC.findall(expr)}
    for where, names in mentioned.items():
        for name in sorted(names):
            base = next((name[: -len(s)] for s in HISTOGRAM_SERIES if name.endswith(s) and name[: -len(s)] in defined), name)
            if base not in defined:
                problems.append(f"{where}: {name} is not a metric in Sources/ (renamed or removed?)")

    with tempfile.TemporaryDirectory() as directory:
        rules = pathlib.Path(directory) / "dashboard-queries.yml"
        group = {"groups": [{"name": "dashboard", "rules": [
            {"record": f"dashboard:query_{index}", "expr": expr.replace("$__rate_interval", "5m").replace("$instance", ".*")}
            for index, (_, expr) in enumerate(queries)]}]}
        rules.write_text(json.dumps(group), encoding="utf-8")  # JSON is YAML
        check = subprocess.run(["promtool", "check", "rules", str(rules)], capture_output=True, text=True)
        if check.returncode != 0:
            problems.append(f"{DASHBOARD.name}: a query does not parse:\n{check.stdout}{check.stderr}")

    for problem in problems:
        print(f"ops check: {problem}", file=sys.stderr)
    if problems:
        return 1
    count = len(mentioned[RULES.name] | mentioned[DASHBOARD.name])
    print(f"ops check: {count} metrics named by the rules and the dashboard all exist in Sources/; {len(queries)} dashboard queries parse")
    return 0


if __name__ == "__main__":
    sys.exit(main())
