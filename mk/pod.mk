# The workspace pod on this machine, with podman (included by the Makefile).
#
#   make pod        build the images (cached), play the workspace chart,
#                   print the dashboard URL and token
#   make pod-down   remove the pod; POD_DOWN_VOLUMES=1 also the home volume
#   make test-pod   tests/pod/run.sh against a freshly played pod
# Knobs: KC_POD_HTTP_PORT (16080), KC_POD_GRPC_PORT (16051), KC_POD_VALUES,
# KC_EXTRA_CA_FILE (CA bundle for npm in the image builds). charts/README.md
# says what the local pod leaves out and why.

.PHONY: pod pod-down test-pod pod-images

pod-images: ## Build the control-plane and workspace images with podman (cached)
	./scripts/pod/build-images.sh

pod: ## Play the workspace chart here with podman; prints the dashboard URL
	./scripts/pod/up.sh

pod-down: ## Remove the local pod (keeps the home volume unless POD_DOWN_VOLUMES=1)
	POD_DOWN_VOLUMES=$(POD_DOWN_VOLUMES) ./scripts/pod/down.sh

test-pod: setup ## Test the played workspace pod: probes, tasks, SSE, kc, dashboard, restarts
	./tests/pod/run.sh
