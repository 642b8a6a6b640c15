#!/usr/bin/env bash
# `make pod`: the workspace chart's pod, played here with podman.
#
#   1. images   scripts/pod/build-images.sh (cached layers; --pull=never)
#   2. render   helm template charts/workspace -f scripts/pod/values.yaml
#               [-f each file of KC_POD_VALUES]
#   3. adapt    scripts/pod/localize.py: cluster-only objects out, probes
#               out, ports on 127.0.0.1, containers whose program the local
#               image lacks out (said on stderr)
#   4. play     podman kube play --replace; the home PVC is a podman volume
#               that outlives the pod (scripts/pod/down.sh keeps it)
#   5. wait     until every probe of the chart passes (scripts/pod/probe.py:
#               exec probes in their container, HTTP and TCP ones through
#               the published ports)
#   6. print    the dashboard URL (token in its fragment) and the API token
#
# Environment: KC_POD_USER (default local), KC_POD_HTTP_PORT (16080),
# KC_POD_GRPC_PORT (16051), KC_POD_VALUES (extra values files),
# KC_POD_SKIP_BUILD=1 (play the images already built), and for tests
# KC_POD_OAUTH_STANDIN=1 (scripts/oauth-standin.py in oauth2-proxy's place)
# and KC_POD_MOUNT=NAME=HOSTDIR:PATH (read-only, in the agents' container).
set -euo pipefail
. "$(dirname "$0")/common.sh"
mkdir -p "$KC_POD_DIR"

[ "${KC_POD_SKIP_BUILD:-0}" = 1 ] || "$kc_root/scripts/pod/build-images.sh"
ws_image=kube-coder/workspace:$KC_IMAGE_TAG

helm=$KC_TOOLS_DIR/bin/helm
[ -x "$helm" ] || kc_die "no $helm: run ./scripts/setup.sh (helm comes from tools/npm)"
values=(-f "$kc_root/scripts/pod/values.yaml" --set "user.name=$KC_POD_USER")
for f in ${KC_POD_VALUES:-}; do values+=(-f "$f"); done
hh=$KC_POD_DIR/helm-home
mkdir -p "$hh"
HOME=$hh HELM_CACHE_HOME=$hh/cache HELM_CONFIG_HOME=$hh/config HELM_DATA_HOME=$hh/data \
	"$helm" template "$KC_POD_USER" "$kc_root/charts/workspace" "${values[@]}" >"$KC_POD_DIR/rendered.yaml"

# A container stays only if its program is in the image built here.
adapt=(--http-port "$KC_POD_HTTP_PORT" --grpc-port "$KC_POD_GRPC_PORT" --files-dir "$KC_POD_DIR/files" --probes-out "$KC_POD_DIR/probes.json")
has() { podman run --rm --pull=never --entrypoint /bin/sh "$ws_image" -c "command -v $1" >/dev/null 2>&1; }
has ttyd || adapt+=(--drop "terminal=ttyd is not in this image: the local build leaves that layer out")
has code-server || adapt+=(--drop "ide=code-server is not in this image: the local build leaves that layer out")
[ "${KC_POD_OAUTH_STANDIN:-0}" != 1 ] || adapt+=(--oauth-standin "$kc_root/scripts/oauth-standin.py")
[ -z "${KC_POD_MOUNT:-}" ] || adapt+=(--mount "$KC_POD_MOUNT")
# The home kept by make pod-down: kube play would refuse to create it again.
! podman volume exists "$KC_POD_NAME-home" || adapt+=(--existing-volume "$KC_POD_NAME-home")
python3 "$kc_root/scripts/pod/localize.py" "${adapt[@]}" <"$KC_POD_DIR/rendered.yaml" >"$KC_POD_DIR/play.yaml"

kc_say "playing $KC_POD_DIR/play.yaml"
podman kube play --replace "$KC_POD_DIR/play.yaml" >"$KC_POD_DIR/play.log"
pod=$(kc_pod)
[ -n "$pod" ] || kc_die "podman kube play made no pod $KC_POD_NAME-pod-*"
server=$pod-kc-server
deadline=$(($(date +%s) + ${KC_POD_WAIT:-120}))
wait_for() { # what command...
	local what=$1
	shift
	until "$@" >/dev/null 2>&1; do
		if [ "$(date +%s)" -ge "$deadline" ]; then
			podman pod ps --filter "name=$pod" >&2 || true
			for c in $(podman pod inspect --format '{{range .Containers}}{{.Name}} {{end}}' "$pod"); do
				echo "--- $c" >&2
				podman logs --tail 20 "$c" >&2 || true
			done
			kc_die "$what not ready after ${KC_POD_WAIT:-120} s"
		fi
		sleep 1
	done
}
wait_for "the chart's probes (scripts/pod/probe.py $KC_POD_DIR/probes.json $pod)" \
	python3 "$kc_root/scripts/pod/probe.py" --quiet "$KC_POD_DIR/probes.json" "$pod"
python3 "$kc_root/scripts/pod/probe.py" "$KC_POD_DIR/probes.json" "$pod" >&2
token=$(podman exec "$server" cat /home/coder/.claude-tasks/.api-token)
kc_say "pod $pod is ready"
tmux_host=$pod-agents
podman container exists "$tmux_host" || tmux_host=$server
cat <<MSG
The workspace pod is running (podman pod $pod; containers: $(podman pod inspect --format '{{range .Containers}}{{.Name}} {{end}}' "$pod"))
  dashboard:  http://127.0.0.1:$KC_POD_HTTP_PORT/#token=$token
  API:        http://127.0.0.1:$KC_POD_HTTP_PORT/api/claude/tasks (Authorization: Bearer <token>)
  gRPC:       127.0.0.1:$KC_POD_GRPC_PORT (bearer token)
  API token:  $token
  home:       podman volume $KC_POD_NAME-home (kept by make pod-down)
  logs:       podman logs -f $server
  tmux:       podman exec -it $tmux_host tmux -S /tmp/kc-tmux/default ls
make pod-down stops it.
MSG
