"""The Kubernetes manifests (k8s/): what each scraped container binds, read through the CLI's own
parser and settings, is what Prometheus is told to scrape."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest
import yaml

from headwater.cli import build_parser
from headwater.settings import Settings

K8S = Path(__file__).resolve().parent.parent / "k8s"


def _deployments() -> list[dict[str, Any]]:
    found = []
    for path in sorted(K8S.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document and document.get("kind") == "Deployment":
                found.append(document)
    return found


def _metrics_address(container: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> tuple[str, int]:
    """Where the container's /metrics listens: ``serve`` on its HTTP address, ``worker`` on
    HEADWATER_WORKER_METRICS_PORT, both on --host or HEADWATER_HOST."""
    for entry in container.get("env", []):
        monkeypatch.setenv(entry["name"], str(entry["value"]))
    program, *argv = container["args"]
    assert program == "headwater"
    args = build_parser().parse_args(argv)
    settings = Settings()
    host = getattr(args, "host", None) or settings.host
    if args.command == "serve":
        return host, args.port or settings.port
    assert args.command == "worker", args.command
    return host, settings.worker_metrics_port


@pytest.mark.parametrize("deployment", _deployments(), ids=lambda d: d["metadata"]["name"])
def test_every_scraped_container_serves_metrics_where_prometheus_looks(
    deployment: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker bound /metrics to loopback (HEADWATER_HOST's default) while its pod asked to
    be scraped on its own address: Prometheus could never reach it."""
    pod = deployment["spec"]["template"]
    annotations = pod["metadata"].get("annotations", {})
    assert annotations.get("prometheus.io/scrape") == "true"
    # The manifest's values, not this machine's.
    for variable in ("HEADWATER_HOST", "HEADWATER_PORT", "HEADWATER_WORKER_METRICS_PORT"):
        monkeypatch.delenv(variable, raising=False)
    (container,) = pod["spec"]["containers"]
    host, port = _metrics_address(container, monkeypatch)
    assert not ipaddress.ip_address(host).is_loopback, host
    assert port == int(annotations["prometheus.io/port"])
    assert port in {p["containerPort"] for p in container["ports"]}
    assert annotations["prometheus.io/path"] == "/metrics"
