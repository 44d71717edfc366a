# package.mk — the per-package dev loop, shared by every chart directory.
#
# A chart's Makefile is three lines (NAME and NAMESPACE name its HelmRelease):
#
#   NAME=cilium
#   NAMESPACE=cozy-cilium
#   include ../../package.mk
#
# Each target runs `go run mage.go pkg:<verb>` of this repository with the chart directory,
# NAME and NAMESPACE in the environment (COZYLAB_CHART_DIR, NAME, NAMESPACE). The cluster is
# $KUBECONFIG, else ~/.kube/config. No helm, kubectl or cozyhr binary is needed. `make image`
# needs no cluster: it pushes to REGISTRY (host:port, from the environment or the command line,
# `make image REGISTRY=127.0.0.1:5000`), else to the registry of the lab that is up.
#
# In another tree, whose chart Makefiles include its own package.mk, run the loop with
# `make -f <cozylab>/packages/package.mk show` in the chart directory: NAME and NAMESPACE are
# then read from that chart's Makefile (`export NAME=cilium`, `NAMESPACE=cozy-$(NAME)`).

# The repository root, from this file's own path (evaluated now, before anything else is included).
COZYLAB_ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)

# Mage runs from the repository root (go run needs its go.mod), so the chart directory may be
# anywhere: in this tree or in another Cozystack-style tree (`make -f <cozylab>/packages/package.mk`).
PKG_MAGE = cd '$(COZYLAB_ROOT)' && COZYLAB_CHART_DIR='$(CURDIR)' NAME='$(NAME)' NAMESPACE='$(NAMESPACE)' \
	go run mage.go

.DEFAULT_GOAL := help
.PHONY: help show diff apply suspend resume delete image

help: ## List the targets.
	@echo 'Package $(NAMESPACE)/$(NAME) (HelmRelease), chart $(CURDIR):'
	@grep -hE '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z]+):.*## /  \1\t/' | expand -t 12

show: ## Print the chart rendered as Flux would install it (values from the live HelmRelease).
	@$(PKG_MAGE) pkg:show

diff: ## Show what apply would change in the live objects; exit 1 when anything would.
	@$(PKG_MAGE) pkg:diff

apply: ## Suspend the HelmRelease, then install or upgrade the release from this directory.
	@$(PKG_MAGE) pkg:apply

suspend: ## Stop Flux from reconciling the HelmRelease.
	@$(PKG_MAGE) pkg:suspend

resume: ## Hand the HelmRelease back to Flux and request a reconcile.
	@$(PKG_MAGE) pkg:resume

delete: ## Suspend the HelmRelease, then uninstall its release.
	@$(PKG_MAGE) pkg:delete

image: ## Build images/<name>/ (Go mains), push them to the lab registry (or REGISTRY), write tag and digest into values.yaml.
	@$(PKG_MAGE) pkg:image
