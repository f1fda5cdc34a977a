"""The operating files parse and agree with the code: the compose file runs every Procfile
process (and a standby matcher), Prometheus loads the alert rules, and every exchange_* metric
that an alert or a dashboard panel names is one the code exports."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import yaml

from bench.harness.procs import ROOT

DOCKER = ROOT / "docker"
# Where our metrics are defined: every Python file outside the virtualenv and the tests.
SOURCES = [
    p for p in ROOT.rglob("*.py")
    if ".venv" not in p.parts and "tests" not in p.parts and "bench" not in p.parts
]  # fmt: skip
# A Procfile process -> what its command runs (the compose service must run the same).
PROGRAMS = {
    "web": ("daphne", "exchange_site.asgi:application"),
    "worker": ("celery", "worker"),
    "beat": ("celery", "beat"),
    "matcher": ("run_matcher",),
}


def _procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def _compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DOCKER / "compose.yaml").read_text()))


def _command(service: dict[str, Any]) -> str:
    command = service["command"]
    return " ".join(command) if isinstance(command, list) else str(command)


def test_compose_runs_every_procfile_process() -> None:
    procfile = _procfile()
    services = _compose()["services"]
    assert set(procfile) == set(PROGRAMS), "a new Procfile process needs a compose service"
    for name, line in procfile.items():
        words = shlex.split(line)
        assert all(w in " ".join(words) for w in PROGRAMS[name]), (name, line)
        assert name in services, f"compose.yaml has no service {name!r}"
        assert all(w in _command(services[name]) for w in PROGRAMS[name]), name


def test_compose_runs_a_standby_matcher_of_the_same_shard() -> None:
    services = _compose()["services"]
    matchers = [s for s in services.values() if "command" in s and "run_matcher" in _command(s)]
    assert len(matchers) == 2
    assert _command(matchers[0]) == _command(matchers[1])
    prometheus = yaml.safe_load((DOCKER / "prometheus.yml").read_text())
    job = next(j for j in prometheus["scrape_configs"] if j["job_name"] == "matcher")
    assert job["static_configs"][0]["targets"] == ["matcher:9100", "matcher-standby:9100"]


def test_every_compose_app_service_has_a_healthcheck_or_says_why_not() -> None:
    services = _compose()["services"]
    web = services["web"]["healthcheck"]["test"]
    assert any("/healthz" in part for part in web)
    for name in ("matcher", "matcher-standby", "worker"):
        assert "test" in services[name]["healthcheck"], name


def _defined_metrics() -> set[str]:
    text = "\n".join(p.read_text() for p in SOURCES)
    return set(re.findall(r'"(exchange_[a-z_]+)"', text))


def _used_metrics(expr: str) -> set[str]:
    names = set(re.findall(r"\b(exchange_[a-z_]+)", expr))
    # Histogram series carry suffixes that the definition does not.
    return {re.sub(r"_(bucket|sum|count)$", "", n) for n in names}


def test_alert_rules_parse_are_wired_and_name_exported_metrics() -> None:
    prometheus = yaml.safe_load((DOCKER / "prometheus.yml").read_text())
    assert prometheus["rule_files"] == ["/etc/prometheus/alerts.yml"]
    mounts = _compose()["services"]["prometheus"]["volumes"]
    assert "./alerts.yml:/etc/prometheus/alerts.yml:ro" in mounts
    rules = yaml.safe_load((DOCKER / "alerts.yml").read_text())["groups"][0]["rules"]
    names = {rule["alert"] for rule in rules}
    for required in ("ReconcileBroken", "SettlementLag", "MatcherDown", "WithdrawalStuck"):
        assert required in names
    defined = _defined_metrics()
    for rule in rules:
        assert rule["expr"].strip() and rule["annotations"]["summary"]
        missing = _used_metrics(rule["expr"]) - defined
        assert not missing, (rule["alert"], missing)


def test_dashboard_covers_the_operating_signals_with_exported_metrics() -> None:
    path = DOCKER / "grafana" / "provisioning" / "dashboards" / "exchange.json"
    dashboard = json.loads(path.read_text())
    exprs = {
        panel["title"]: " ".join(t["expr"] for t in panel.get("targets", []))
        for panel in dashboard["panels"]
    }
    wanted = {
        "order rate": "exchange_api_requests_total",
        "match latency": "exchange_matcher_match_seconds",
        "stream lag": "exchange_matcher_stream_lag_seconds",
        "settlement lag": "exchange_settlement_oldest_unsettled_seconds",
        "sockets": "exchange_websocket_connections_open",
        "errors": 'status=~"5.."',
    }
    every = " ".join(exprs.values())
    for signal, needle in wanted.items():
        assert needle in every, signal
    defined = _defined_metrics()
    for title, expr in exprs.items():
        missing = _used_metrics(expr) - defined
        assert not missing, (title, missing)
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_sources_found() -> None:
    assert any(p == ROOT / "matching" / "worker.py" for p in SOURCES)
    assert Path(ROOT / "Procfile").exists()
