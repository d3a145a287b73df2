#!/usr/bin/env bash
# Checks the deployment files offline: the Kubernetes manifests against the API schemas
# (kubernetes-validate, strict: unknown fields are errors) as files and as kustomize renders
# them, and the Dockerfile's promises (multi-stage, non-root, health check on /livez, a
# writable cache volume). No cluster and no container daemon needed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
venv=target/deploy-tools
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --disable-pip-version-check --quiet \
    kubernetes-validate==1.37.0 dockerfile-parse==2.0.1
manifests=(deploy/k8s/deployment.yaml deploy/k8s/service.yaml deploy/k8s/hpa.yaml
           deploy/k8s/pdb.yaml deploy/k8s/plugins-pvc.yaml)
"$venv/bin/kubernetes-validate" --strict --quiet "${manifests[@]}"
if command -v kubectl >/dev/null; then
    rendered=$(mktemp --suffix=.yaml)
    trap 'rm -f "$rendered"' EXIT
    kubectl kustomize deploy/k8s >"$rendered"
    "$venv/bin/kubernetes-validate" --strict --quiet "$rendered"
fi
"$venv/bin/python" - <<'PY'
from dockerfile_parse import DockerfileParser

d = DockerfileParser(path="Dockerfile")
stages = [i for i in d.structure if i["instruction"] == "FROM"]
final = [i for i in d.structure if i["startline"] > stages[-1]["startline"]]
def last(instruction):
    found = [i["value"] for i in final if i["instruction"] == instruction]
    assert found, f"the final stage has no {instruction}"
    return found[-1]
assert len(stages) >= 2, "the Dockerfile is multi-stage"
user = last("USER").split(":")[0]
assert user not in ("0", "root"), f"the final stage runs as {user}"
assert "/livez" in last("HEALTHCHECK"), "HEALTHCHECK probes /livez"
assert "serve" in last("ENTRYPOINT"), "the image serves"
env = d.envs
assert env.get("CACHE_DIR") and env["CACHE_DIR"] in last("VOLUME"), "the cache dir is a volume"
print("Dockerfile: multi-stage, user", user, "health check on /livez, cache volume", env["CACHE_DIR"])
PY
echo "deployment files: ok"
