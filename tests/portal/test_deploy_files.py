"""The deployment examples agree with the code and with each other: the stop timeouts
outlast the drain window, the probes ask the right endpoints (no docker or kubectl here:
the files are read as YAML)."""
import re
from urllib.parse import urlsplit

import yaml

from tests.live import REPO


class ComposeLoader(yaml.SafeLoader):
    """YAML with Compose's merge tags (`!reset`, `!override`), kept as markers."""


ComposeLoader.add_constructor("!reset", lambda loader, node: ("!reset", loader.construct_sequence(node)))
ComposeLoader.add_constructor("!override", lambda loader, node: ("!override", loader.construct_sequence(node)))


def compose(name: str) -> dict:
    return yaml.load((REPO / name).read_text(), Loader=ComposeLoader)


def seconds(value: str) -> float:
    number, unit = re.fullmatch(r"(\d+)(s|m)", value).groups()
    return float(number) * (60 if unit == "m" else 1)


def default_of(expression: str) -> str:
    """`${NAME:-default}` → default."""
    return re.fullmatch(r"\$\{\w+:-([^}]*)\}", expression).group(1)


def test_compose_gives_web_more_time_to_stop_than_it_drains():
    web = compose("docker-compose.yml")["services"]["web"]
    drain = float(default_of(web["environment"]["CSMS_DRAIN_SECONDS"]))
    assert seconds(web["stop_grace_period"]) >= drain + 10


def test_the_scale_override_puts_a_load_balancer_on_webs_port():
    base, scale = compose("docker-compose.yml"), compose("compose.scale.yml")
    assert scale["services"]["web"]["ports"] == ("!reset", [])  # replicas publish nothing
    assert [p.split(":", 1)[1] for p in scale["services"]["lb"]["ports"]] == \
        [p.split(":", 1)[1] for p in base["services"]["web"]["ports"]]
    for volume in scale["services"]["lb"]["volumes"]:
        assert (REPO / volume.split(":")[0]).is_file(), volume


def kubernetes() -> dict[tuple[str, str], dict]:
    docs = yaml.safe_load_all((REPO / "deploy" / "kubernetes.yaml").read_text())
    return {(d["kind"], d["metadata"]["name"]): d for d in docs if d}


def test_kubernetes_web_probes_and_stop_timing_fit_the_drain():
    objects = kubernetes()
    config = objects["ConfigMap", "chargegate-config"]["data"]
    web = objects["Deployment", "chargegate-web"]
    pod = web["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    host = urlsplit(config["PUBLIC_URL"]).netloc
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["httpHeaders"] == [{"name": "Host", "value": host}]
    pause = float(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert pod["terminationGracePeriodSeconds"] >= pause + float(config["CSMS_DRAIN_SECONDS"]) + 10
    assert config["WEB_CONCURRENCY"] == "1"
    assert web["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_kubernetes_objects_select_what_they_mean():
    objects = kubernetes()
    web_labels = objects["Deployment", "chargegate-web"]["spec"]["template"]["metadata"]["labels"]
    assert objects["PodDisruptionBudget", "chargegate-web"]["spec"]["selector"]["matchLabels"] == web_labels
    assert objects["Service", "chargegate-web"]["spec"]["selector"] == web_labels
    (rule,) = objects["Ingress", "chargegate"]["spec"]["rules"]
    assert rule["http"]["paths"][0]["backend"]["service"]["name"] == "chargegate-web"
    beat = objects["Deployment", "chargegate-beat"]["spec"]
    assert beat["replicas"] == 1 and beat["strategy"]["type"] == "Recreate"
    assert objects["Job", "chargegate-migrate"]["spec"]["template"]["spec"]["containers"][0]["command"] == \
        ["python", "manage.py", "migrate", "--noinput"]


def test_the_image_keeps_the_deployment_examples_out():
    ignored = (REPO / ".dockerignore").read_text().split()
    assert "deploy" in ignored and "compose*.yml" in ignored
