"""conf/grafana-dashboard.json and conf/prometheus-alerts.yml (issue 18).

Every metric name either file uses is one a live proxy exports: a proxy
with two workers, metrics_listen and some traffic (a refused command, a
hot key) is scraped, and the names of the scrape (its families and their
samples) must hold every `shardproxy_*` name of both files. The alert
rules pass `promtool check rules` (Debian's prometheus package), and so do
the dashboard's queries, written as recording rules with Grafana's
variables given values. The dashboard has the panels and the rules the
alerts the issue asks for.

Run standalone:
    SHARDPROXY_BIN=build/shardproxy SP_SOURCE_DIR=. \\
        /usr/bin/python3 tests/integration/test_dashboards.py
"""

import json
import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import yaml

import sptest

SOURCE = Path(os.environ.get("SP_SOURCE_DIR", sptest.REPO_ROOT))
DASHBOARD = SOURCE / "conf/grafana-dashboard.json"
ALERTS = SOURCE / "conf/prometheus-alerts.yml"
NAME = re.compile(r"\bshardproxy_[a-z0-9_]+")


def scrape(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\n\r\n")
        data = sptest.recv_all(s)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    return body.decode()


def exported_names(body):
    """Every name the scrape shows: families (# TYPE) and samples."""
    names = set(re.findall(r"(?m)^# TYPE (\S+) ", body))
    names |= set(re.findall(r"(?m)^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", body))
    return names


def dashboard_exprs(dash):
    """Every PromQL text of the dashboard: targets and template queries."""
    exprs = []

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "expr" and isinstance(value, str):
                    exprs.append(value)
                elif key == "query" and isinstance(value, str):
                    exprs.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)
    walk(dash)
    return exprs


def promtool():
    path = shutil.which("promtool")
    if path is None:
        raise AssertionError("promtool missing (Debian package prometheus; "
                             "make test installs it)")
    return path


class DashboardTest(sptest.HarnessTestCase):

    @classmethod
    def setUpHarness(cls):
        h = cls.harness
        redis = [h.start_redis() for _ in range(2)]
        cls.port, cls.metrics_port = sptest.free_port(), sptest.free_port()
        cls.proxy = h.start_shardproxy(
            f"global:\n  worker_processes: 2\n"
            f"  metrics_listen: 127.0.0.1:{cls.metrics_port}\n"
            + sptest.pool_yaml("alpha", cls.port,
                               [(r.port, 1, f"s{i}") for i, r in enumerate(redis)],
                               redis="true"))
        # traffic: requests on both servers, a hot key, a refused command
        payload = b"".join(sptest.resp("SET", f"k{i}", "v") for i in range(200))
        payload += b"".join(sptest.resp("GET", "hot") for _ in range(2000))
        payload += sptest.resp("WAIT", "0", "0")
        requests = payload.count(b"\r\n*") + 1
        data, _ = sptest.exchange(cls.port, payload,      # a line per reply
                                  lambda d: d.count(b"\r\n") >= requests)
        assert data.endswith(b"(it waits on one server connection's "
                             b"replicas)\r\n"), data[-200:]
        cls.body = scrape(cls.metrics_port)
        cls.names = exported_names(cls.body)

    def test_dashboard_uses_only_exported_names(self):
        text = DASHBOARD.read_text()
        used = set(NAME.findall(text))
        self.assertGreaterEqual(len(used), 25, used)
        # the scrape itself: worker and refusal families are there
        self.assertIn("shardproxy_worker_requests_total", self.names)
        self.assertIn("shardproxy_refused_command_total", self.names)
        self.assertEqual(sorted(used - self.names), [],
                         "dashboard names no live /metrics shows")

    def test_alerts_use_only_exported_names(self):
        used = set(NAME.findall(ALERTS.read_text()))
        self.assertGreaterEqual(len(used), 8, used)
        self.assertEqual(sorted(used - self.names), [],
                         "alert rules name metrics no live /metrics shows")

    def test_promtool_checks_the_alerts(self):
        r = subprocess.run([promtool(), "check", "rules", str(ALERTS)],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("SUCCESS: 6 rules found", r.stdout)

    def test_alerts_cover_the_issue(self):
        rules = yaml.safe_load(ALERTS.read_text())
        alerts = {rule["alert"]: rule["expr"] for group in rules["groups"]
                  for rule in group["rules"]}
        for name, metric in (
                ("ShardproxyServerEjected", "shardproxy_pool_server_ejects_total"),
                ("ShardproxyErrorRate", "shardproxy_server_server_err_total"),
                ("ShardproxyWorkerRespawnLoop", "shardproxy_respawns_total"),
                ("ShardproxyMemoryNearBudget",
                 "shardproxy_worker_memory_budget_bytes")):
            self.assertIn(name, alerts)
            self.assertIn(metric, alerts[name])

    def test_alerts_fire(self):
        """promtool's rule tests: each alert fires on the series it is for,
        and not on a quiet proxy."""
        labels = 'instance="sp:22223", job="shardproxy"'
        tests = {"rule_files": [str(ALERTS)], "evaluation_interval": "1m",
                 "tests": [{"interval": "1m", "input_series": [
                     {"series": f'shardproxy_pool_server_ejects_total{{{labels}, pool="a"}}',
                      "values": "0x5 1 2x10"},
                     {"series": f'shardproxy_respawns_total{{{labels}}}',
                      "values": "0+1x15"},
                     {"series": f'shardproxy_worker_memory_used_bytes{{{labels}, worker="0"}}',
                      "values": "95x15"},
                     {"series": f'shardproxy_worker_memory_budget_bytes{{{labels}, worker="0"}}',
                      "values": "100x15"},
                     {"series": f'shardproxy_worker_memory_used_bytes{{{labels}, worker="1"}}',
                      "values": "10x15"},
                     {"series": f'shardproxy_worker_memory_budget_bytes{{{labels}, worker="1"}}',
                      "values": "100x15"},
                     {"series": f'shardproxy_server_requests_total{{{labels}, pool="a", server="s"}}',
                      "values": "0+1000x15"},
                     {"series": f'shardproxy_server_server_err_total{{{labels}, pool="a", server="s"}}',
                      "values": "0+50x15"},
                     {"series": f'shardproxy_server_server_timedout_total{{{labels}, pool="a", server="s"}}',
                      "values": "0x15"},
                     {"series": f'shardproxy_pool_forward_error_total{{{labels}, pool="a"}}',
                      "values": "0x15"}],
                   "alert_rule_test": [
                     {"eval_time": "3m", "alertname": "ShardproxyServerEjected",
                      "exp_alerts": []},
                     {"eval_time": "8m", "alertname": "ShardproxyServerEjected",
                      "exp_alerts": [{"exp_labels": {"instance": "sp:22223", "pool": "a",
                                                     "severity": "warning"}}]},
                     {"eval_time": "12m", "alertname": "ShardproxyWorkerRespawnLoop",
                      "exp_alerts": [{"exp_labels": {"instance": "sp:22223", "job": "shardproxy",
                                                     "severity": "critical"}}]},
                     {"eval_time": "12m", "alertname": "ShardproxyMemoryNearBudget",
                      "exp_alerts": [{"exp_labels": {"instance": "sp:22223", "job": "shardproxy",
                                                     "worker": "0", "severity": "warning"}}]},
                     {"eval_time": "12m", "alertname": "ShardproxyErrorRate",
                      "exp_alerts": [{"exp_labels": {"instance": "sp:22223", "pool": "a",
                                                     "severity": "warning"}}]},
                     {"eval_time": "12m", "alertname": "ShardproxyReloadFailed",
                      "exp_alerts": []}]}]}
        # what each firing alert says: the rule's texts, with its labels and
        # the value it fired at
        rules = {rule["alert"]: rule for group in
                 yaml.safe_load(ALERTS.read_text())["groups"]
                 for rule in group["rules"]}
        values = {"ShardproxyServerEjected": "2",
                  "ShardproxyWorkerRespawnLoop": "10",
                  "ShardproxyMemoryNearBudget": "95%",
                  "ShardproxyErrorRate": "5%"}
        for case in tests["tests"][0]["alert_rule_test"]:
            for alert in case["exp_alerts"]:
                labels = alert["exp_labels"]
                alert["exp_annotations"] = {
                    key: re.sub(r"\{\{\s*\$value[^}]*\}\}", values[case["alertname"]],
                                re.sub(r"\{\{\s*\$labels\.(\w+)\s*\}\}",
                                       lambda m: labels[m.group(1)], text))
                    for key, text in rules[case["alertname"]]["annotations"].items()}
        self.assertEqual(  # the values above are what the summaries show
            tests["tests"][0]["alert_rule_test"][2]["exp_alerts"][0]
            ["exp_annotations"]["summary"],
            "shardproxy sp:22223: workers keep dying (10 respawns in 10 minutes)")
        path = self.harness.tmp.file("alerts-test.yml", yaml.safe_dump(tests))
        r = subprocess.run([promtool(), "test", "rules", str(path)],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("SUCCESS", r.stdout)

    def test_dashboard_queries_parse(self):
        dash = json.loads(DASHBOARD.read_text())
        exprs = dashboard_exprs(dash)
        self.assertGreaterEqual(len(exprs), 30)
        rules = []
        for i, expr in enumerate(exprs):
            if expr.startswith("label_values("):
                # a Grafana template query: its selector must parse
                inner = re.match(r"label_values\((.*),\s*\w+\)$", expr).group(1)
                expr = inner
            expr = (expr.replace("$__rate_interval", "5m")
                        .replace("$instance", ".*").replace("$pool", ".*"))
            rules.append({"record": f"dashboard:query_{i}", "expr": expr})
        path = self.harness.tmp.file("dashboard-rules.yml", yaml.safe_dump(
            {"groups": [{"name": "dashboard", "rules": rules}]}))
        r = subprocess.run([promtool(), "check", "rules", str(path)],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_dashboard_covers_the_issue(self):
        dash = json.loads(DASHBOARD.read_text())
        self.assertEqual(dash["__inputs"][0]["pluginId"], "prometheus")
        titles = " | ".join(p["title"] for p in dash["panels"]).lower()
        for want in ("requests per second", "errors per second", "latency",
                     "latency histogram", "hot keys", "ejection", "reloads",
                     "respawns", "memory"):
            self.assertIn(want, titles)
        kinds = {p["type"] for p in dash["panels"]}
        self.assertTrue({"timeseries", "heatmap", "table", "row"} <= kinds, kinds)
        # panels do not overlap on the grid
        cells = set()
        for p in dash["panels"]:
            g = p["gridPos"]
            mine = {(x, y) for x in range(g["x"], g["x"] + g["w"])
                    for y in range(g["y"], g["y"] + g["h"])}
            self.assertFalse(cells & mine, p["title"])
            cells |= mine


if __name__ == "__main__":
    sptest.main()
