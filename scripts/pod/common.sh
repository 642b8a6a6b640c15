# Sourced by scripts/pod/*.sh and tests/pod/*.sh: names and podman settings
# shared by the local pod's scripts.
#
# podman reads the project's containers.conf (runc, cgroupfs, no raised
# ulimits: what works on the project's machines), never the machine's
# /etc/containers/containers.conf edits.
kc_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$kc_root/scripts/fresh-check/containers.conf}

# What `make pod` plays: one user's workspace release, rendered from
# charts/workspace with scripts/pod/values.yaml.
KC_POD_USER=${KC_POD_USER:-local}
KC_POD_NAME=$KC_POD_USER-workspace
KC_POD_HTTP_PORT=${KC_POD_HTTP_PORT:-16080}
KC_POD_GRPC_PORT=${KC_POD_GRPC_PORT:-16051}
KC_POD_DIR=${KC_POD_DIR:-$kc_root/.run/pod}
KC_TOOLS_DIR=${KC_TOOLS_DIR:-/opt/kube-coder-tools}
KC_IMAGE_TAG=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}/\1/p' "$kc_root/charts/workspace/Chart.yaml")

kc_pod_t0=${kc_pod_t0:-$(date +%s)}
kc_say() { echo "${0##*/}: $* ($(($(date +%s) - kc_pod_t0)) s)" >&2; }
kc_die() { echo "${0##*/}: $*" >&2; exit 1; }

# The played pod's name: kube play names a Deployment's pod
# <deployment>-pod-<replica> (podman 4.3) and its containers <pod>-<name>.
kc_pod() {
	podman pod ps --format '{{.Name}}' --filter "name=^$KC_POD_NAME-pod" | head -n 1
}
