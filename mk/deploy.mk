# Deploying and operating kube-coder with Helm (included by the Makefile).
#
# One base release per namespace, then one workspace release per user:
#   make deploy-base            charts/base-infrastructure
#   make deploy-<user>          charts/workspace -f deployments/<user>/values.yaml
#                               [-f secrets/<user>/{claude,github-app,oauth2}.yaml]
# Knobs: NAMESPACE (default: the values file's `namespace`, else coder),
# HELM, KUBECTL, HELM_TIMEOUT, REVISION (rollback), CONTAINER (shell/logs),
# TAIL and FOLLOW=1 (logs), IMAGE_PREFIX, IMAGE_TAG and ENGINE (images, push).

KC_TOOLS_DIR ?= /opt/kube-coder-tools
HELM ?= $(if $(wildcard $(KC_TOOLS_DIR)/bin/helm),$(KC_TOOLS_DIR)/bin/helm,helm)
KUBECTL ?= $(if $(wildcard $(KC_TOOLS_DIR)/bin/kubectl),$(KC_TOOLS_DIR)/bin/kubectl,kubectl)
NAMESPACE ?= coder
BASE_RELEASE ?= kube-coder-base
HELM_TIMEOUT ?= 10m
CONTAINER ?= ide
TAIL ?= 200
IMAGE_PREFIX ?= kube-coder/
# docker or podman: both build the Dockerfiles and push the same way.
ENGINE ?= $(if $(shell command -v docker 2>/dev/null),docker,podman)
IMAGE_TAG ?= $(shell sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}/\1/p' charts/workspace/Chart.yaml)
RENDER_DIR ?= .run/rendered

# Helm 3 (3.8 and later) and Helm 4 spell two flags differently: Helm 4
# renamed --atomic to --rollback-on-failure and added --wait's strategies.
# HELM_VERSION is asked of $(HELM) once, and only by targets that use it.
HELM_VERSION = $(eval HELM_VERSION := $(shell $(HELM) version --template '{{.Version}}' 2>/dev/null))$(HELM_VERSION)
helm_major = $(firstword $(subst ., ,$(patsubst v%,%,$(HELM_VERSION))))
helm_minor = $(word 2,$(subst ., ,$(patsubst v%,%,$(HELM_VERSION))))
HELM_ROLLBACK_ON_FAILURE = $(if $(filter 3,$(helm_major)),--atomic,--rollback-on-failure)
HELM_WAIT = $(if $(filter 3,$(helm_major)),--wait,--wait=watcher)
# Refuses a Helm older than 3.8 (no OCI charts, no --wait-for-jobs) before it runs.
kc_need_helm = @case "$(helm_major).$(helm_minor)" in \
	3.[0-7]|[0-2].*) echo "$(HELM) is Helm $(HELM_VERSION); kube-coder needs Helm 3.8 or later (or Helm 4)" >&2; exit 2;; esac

KC_USERS := $(sort $(patsubst deployments/%/values.yaml,%,$(wildcard deployments/*/values.yaml)))

# $(call kc_ns,USER): the namespace the user's values file names, else NAMESPACE.
kc_ns = $(or $(shell sed -n 's/^namespace: *"\{0,1\}\([a-z0-9-]*\)"\{0,1\} *$$/\1/p' deployments/$(1)/values.yaml 2>/dev/null),$(NAMESPACE))
# $(call kc_secrets,USER): -f for each secrets file present (gitignored).
kc_secrets = $(strip $(foreach f,claude github-app oauth2,$(if $(wildcard secrets/$(1)/$(f).yaml),-f secrets/$(1)/$(f).yaml)))
# Fails with a clear message when USER has no values file.
kc_need_user = @test -f deployments/$(1)/values.yaml || { \
	echo "no deployments/$(1)/values.yaml; users: $(KC_USERS)" >&2; \
	echo "add one with scripts/provision-user.sh (make provision)" >&2; exit 2; }

.PHONY: deploy-base deploy-all test-all status version lint template users provision test-charts images push

deploy-base: ## Deploy the shared base infrastructure (once per namespace)
	$(kc_need_helm)
	$(HELM) upgrade --install $(BASE_RELEASE) charts/base-infrastructure \
		-n $(NAMESPACE) --create-namespace $(HELM_WAIT) --timeout $(HELM_TIMEOUT)

deploy-all: deploy-base ## Deploy the base and every user in deployments/
	@set -e; for u in $(KC_USERS); do $(MAKE) --no-print-directory deploy-$$u; done

deploy-%: ## Deploy a user's workspace, with secrets/<user>/*.yaml when present (deploy-imran)
	$(call kc_need_user,$*)
	$(kc_need_helm)
	@echo "deploy-$*: namespace $(call kc_ns,$*), secrets files: $(or $(call kc_secrets,$*),none)"
	@test -f secrets/$*/oauth2.yaml || echo "deploy-$*: no secrets/$*/oauth2.yaml; Secret $*-workspace-oauth2 must already exist (charts/README.md)"
	$(HELM) upgrade --install $*-workspace charts/workspace \
		-n $(call kc_ns,$*) --create-namespace \
		-f deployments/$*/values.yaml $(call kc_secrets,$*) \
		$(HELM_ROLLBACK_ON_FAILURE) --timeout $(HELM_TIMEOUT)

status: ## Show releases, pods, services, ingresses and volumes
	$(HELM) list -n $(NAMESPACE)
	$(KUBECTL) -n $(NAMESPACE) get deployments,pods,services,ingresses,pvc \
		-l app.kubernetes.io/part-of=kube-coder -o wide

test-charts: ## Lint, render and check the charts offline (bazel test //tests/charts/...)
	$(BAZEL) test //tests/charts/...

test-%: ## Test a deployed workspace: rollout, helm test (gateway, auth), tmux (test-imran)
	$(call kc_need_user,$*)
	$(KUBECTL) -n $(call kc_ns,$*) rollout status deployment/$*-workspace --timeout=120s
	$(HELM) test $*-workspace -n $(call kc_ns,$*) --logs
	$(KUBECTL) -n $(call kc_ns,$*) exec deployment/$*-workspace -c terminal -- \
		sh -c 'tmux -S /tmp/kc-tmux/default list-sessions 2>/dev/null || echo "no task sessions yet"'

test-all: ## Test every user's deployed workspace (test-<user> for each)
	@set -e; for u in $(KC_USERS); do $(MAKE) --no-print-directory test-$$u; done

shell-%: ## Open a shell in a user's workspace (CONTAINER=ide|terminal|kc-server) (shell-imran)
	$(call kc_need_user,$*)
	$(KUBECTL) -n $(call kc_ns,$*) exec -it deployment/$*-workspace -c $(CONTAINER) -- bash -l

logs-%: ## Show a user's workspace logs, every container (TAIL=200, FOLLOW=1) (logs-imran)
	$(call kc_need_user,$*)
	$(KUBECTL) -n $(call kc_ns,$*) logs deployment/$*-workspace --all-containers --prefix \
		--tail=$(TAIL) $(if $(FOLLOW),-f)

rollback-%: ## Roll a user's workspace back to the previous release, or REVISION=n (rollback-imran)
	$(call kc_need_user,$*)
	$(kc_need_helm)
	$(HELM) history $*-workspace -n $(call kc_ns,$*) --max 5
	$(HELM) rollback $*-workspace $(REVISION) -n $(call kc_ns,$*) $(HELM_WAIT) --timeout $(HELM_TIMEOUT)

version: ## Show tool and chart versions, users and config
	@echo "kube-coder  $$(git describe --always --dirty 2>/dev/null || echo unknown)"
	@echo "helm        $$($(HELM) version --short 2>/dev/null || echo 'not found: run make setup')"
	@echo "kubectl     $$($(KUBECTL) version --client 2>/dev/null | head -n 1 || echo 'not found')"
	@for c in charts/*/Chart.yaml; do \
		printf 'chart       %s %s (app %s)\n' "$$(sed -n 's/^name: //p' $$c)" \
			"$$(sed -n 's/^version: //p' $$c)" "$$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}/\1/p' $$c)"; done
	@echo "namespace   $(NAMESPACE)"
	@echo "users       $(KC_USERS)"
	@echo "images      $(IMAGE_PREFIX)control-plane:$(IMAGE_TAG) $(IMAGE_PREFIX)workspace:$(IMAGE_TAG)"

users: ## List the users in deployments/ and which secrets files each has
	@for u in $(KC_USERS); do printf '%-20s %s\n' "$$u" "$$(ls secrets/$$u 2>/dev/null | tr '\n' ' ')"; done

lint: ## helm lint both charts (the workspace chart with every user's values)
	$(HELM) lint --strict charts/base-infrastructure
	@set -e; for u in $(KC_USERS); do \
		echo "$(HELM) lint --strict charts/workspace -f deployments/$$u/values.yaml"; \
		$(HELM) lint --strict charts/workspace -f deployments/$$u/values.yaml; done

template: ## Render both charts for every user into .run/rendered/ (helm template)
	@mkdir -p $(RENDER_DIR)
	$(HELM) template $(BASE_RELEASE) charts/base-infrastructure -n $(NAMESPACE) > $(RENDER_DIR)/base-infrastructure.yaml
	@set -e; for u in $(KC_USERS); do \
		$(HELM) template $$u-workspace charts/workspace -n $(NAMESPACE) \
			-f deployments/$$u/values.yaml > $(RENDER_DIR)/$$u.yaml; \
		echo "rendered $(RENDER_DIR)/$$u.yaml"; done

provision: ## Add a user: make provision NAME=john GITHUB=john-doe FULLNAME="John Doe" EMAIL=john@x.com DOMAIN=dev.x.com
	./scripts/provision-user.sh "$(NAME)" "$(GITHUB)" "$(FULLNAME)" "$(EMAIL)" "$(DOMAIN)"

images: ## Build the control-plane and workspace images (ENGINE=docker|podman; IMAGE_PREFIX, IMAGE_TAG)
	$(ENGINE) build -f images/control-plane/Dockerfile -t $(IMAGE_PREFIX)control-plane:$(IMAGE_TAG) .
	$(ENGINE) build -f images/workspace/Dockerfile -t $(IMAGE_PREFIX)workspace:$(IMAGE_TAG) images/workspace

push: images ## Build, then push both images to IMAGE_PREFIX (e.g. IMAGE_PREFIX=ghcr.io/acme/kube-coder-)
	$(ENGINE) push $(IMAGE_PREFIX)control-plane:$(IMAGE_TAG)
	$(ENGINE) push $(IMAGE_PREFIX)workspace:$(IMAGE_TAG)
