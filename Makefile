# Korum's build, run and test entry points. `make test` is what CI runs.
GO          ?= go
BIN         := bin/korum
# Tools are pinned by module versions the Go proxy serves (the 2026.x
# release tags are not) and installed into bin/tools, so a fresh clone
# always builds the pinned version instead of trusting whatever is on PATH.
STATICCHECK_VERSION := 0.8.2
TOOLS       := $(CURDIR)/bin/tools

.PHONY: docker-engine build run test lint test-go test-sdk sdk-deps fuzz bench clean image local-images jepsen jepsen-long jepsen-deps jepsen-broken jepsen-selftest compose-smoke test-dashboard dashboard-deps test-es test-sdk-es test-integration-es jepsen-es

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/node

# One node with embedded storage in ./data, API on :7512.
run: build
	./$(BIN) --data-dir ./data --api-addr :7512

test: build lint test-go test-sdk test-dashboard

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@$(TOOLS)/staticcheck -version 2>/dev/null | grep -q '($(STATICCHECK_VERSION))' || \
		GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@v$(STATICCHECK_VERSION)
	$(TOOLS)/staticcheck ./...
	@# bench/peers is its own module (the etcd client stays out of go.mod).
	cd bench/peers && $(GO) vet ./... && $(TOOLS)/staticcheck ./...

test-go: build
	KORUM_BIN=$(CURDIR)/$(BIN) $(GO) test -race -count=1 ./...

# The Elasticsearch engine's tests against a real Elasticsearch 7.17 started
# by the shared tool (ES_TOOL) on 127.0.0.1:9200 and stopped afterwards,
# unless one was already running (then it is left as found).
ES_TOOL ?= $(CURDIR)/../shared/tools/search-engine
test-es: build
	@started=0; if ! curl -sf http://127.0.0.1:9200 >/dev/null; then $(ES_TOOL)/start.sh && started=1; fi; \
	KORUM_BIN=$(CURDIR)/$(BIN) ELASTICSEARCH_URL=http://127.0.0.1:9200 $(GO) test -race -count=1 \
		./storage/elasticsearch/ ./storage/ ./fsm/ ./node/ && \
	KORUM_BIN=$(CURDIR)/$(BIN) ELASTICSEARCH_URL=http://127.0.0.1:9200 $(GO) test -count=1 -run 'TestElasticsearch' ./tests/integration/; \
	rc=$$?; if [ $$started = 1 ]; then $(ES_TOOL)/stop.sh; fi; exit $$rc

# The SDK suite and the integration tests with every node in elasticsearch
# mode, against the Elasticsearch on 127.0.0.1:9200 (ELASTICSEARCH_URL),
# which they wipe of Kuzzle's public indexes (&*) as they go: give them an
# Elasticsearch of their own. Left out of the integration run: tests of the
# embedded engine's own disk, apply path and mapping-limit emulation; the
# backup tests, which compare documents (a backup holds no documents in
# elasticsearch mode: README, "Backup and restore"); the rolling upgrade,
# whose downgrade check reads the embedded store's format mark.
ES_URL ?= http://127.0.0.1:9200
ES_SKIP_INTEGRATION ?= TestDiskFullOnALoneNode|TestFailedApplyStopsTheNodeAndItConvergesOnRestart|TestWriteLimits|TestSnapshotSaveAndRestoreAnIdleCluster|TestSnapshotUnderWriteLoad|TestRollingUpgrade
test-sdk-es: build sdk-deps
	cd tests/sdk && KORUM_TEST_STORAGE=elasticsearch ELASTICSEARCH_URL=$(ES_URL) KORUM_BIN=$(CURDIR)/$(BIN) node --test --test-concurrency=1 .

test-integration-es: build
	KORUM_TEST_STORAGE=elasticsearch ELASTICSEARCH_URL=$(ES_URL) KORUM_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 30m \
		-skip '$(ES_SKIP_INTEGRATION)' ./tests/integration/

sdk-deps:
	cd tests/sdk && npm ci --no-audit --no-fund

test-sdk: build sdk-deps
	cd tests/sdk && KORUM_BIN=$(CURDIR)/$(BIN) node --test --test-concurrency=1 .

# /_dashboard in Debian's headless Chromium (.ci/run installs chromium)
# against three real nodes; screenshots go to DASHBOARD_SHOTS.
DASHBOARD_SHOTS ?= $(CURDIR)/results/dashboard
dashboard-deps:
	cd tests/dashboard && npm ci --no-audit --no-fund

test-dashboard: build dashboard-deps
	cd tests/dashboard && KORUM_BIN=$(CURDIR)/$(BIN) KORUM_DASHBOARD_SCREENSHOTS=$(DASHBOARD_SHOTS) node --test --test-concurrency=1 .

# Short fuzzing of every parser; FUZZTIME=5m for a longer run. `go test -list`
# prints a package's targets before its ok line, hence the buffering in awk.
FUZZTIME ?= 20s
fuzz:
	@for t in $$($(GO) test -list 'Fuzz.*' ./... | grep -E '^(Fuzz|ok)' | awk '/^Fuzz/{names=names" "$$1} /^ok/{n=split(names,f," "); for(i=1;i<=n;i++) print $$2":"f[i]; names=""}'); do \
		pkg=$${t%%:*}; fn=$${t##*:}; echo "== $$pkg $$fn"; \
		$(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; done

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin

# Container image FROM scratch with the static binary: korum:latest and korum:$(VERSION).
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
IMAGE   ?= korum
image: build
	rm -rf bin/image && mkdir -p bin/image/tmp bin/image/data && chmod 1777 bin/image/tmp
	cp $(BIN) bin/image/korum
	docker build -q -f deploy/Dockerfile -t $(IMAGE):latest -t $(IMAGE):$(VERSION) bin/image

# redis:7 and nginx:stable built from Debian packages where no registry is reachable.
local-images:
	deploy/local-images.sh

# Partition tests in Docker (root; jepsen/docker-up.sh makes an engine available).
# `jepsen` is the CI run (every nemesis once, short faults); `jepsen-long` a soak.
# JEPSEN_ARGS adds flags, e.g. JEPSEN_ARGS='-seed 42 -nemeses kill,pause'.
JEPSEN_ARGS ?=
# An engine first (installs and starts one where none runs), then the images.
docker-engine:
	jepsen/docker-up.sh

jepsen-deps: docker-engine image
	deploy/local-images.sh
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/korum-jepsen ./jepsen/cmd/korum-jepsen

# The ms-registers and security workloads (issues #11, #12) run once more,
# together, under a subset of the nemeses (~2 min): leader cut off, minority
# split, paused node, killed node, everything restarted.
JEPSEN_MORE_NEMESES ?= isolate-leader,majority-split,pause,kill,full-restart
JEPSEN_MORE_WORKLOADS ?= ms-registers,security
jepsen: jepsen-deps jepsen-selftest
	bin/korum-jepsen -warmup 3s -fault 8s -cycles 1 -quorum-contact-timeout 5s $(JEPSEN_ARGS)
	bin/korum-jepsen -warmup 3s -fault 8s -cycles 1 -quorum-contact-timeout 5s -workloads $(JEPSEN_MORE_WORKLOADS) -nemeses $(JEPSEN_MORE_NEMESES) $(JEPSEN_ARGS)

# The register and subscription workloads with the nodes in elasticsearch
# mode, through the Elasticsearch on this host (ES_ADDR, the shared tool's),
# under the nemeses that cut, stop and restart Korum nodes.
ES_ADDR ?= 127.0.0.1:9200
JEPSEN_ES_NEMESES ?= none,isolate-leader,majority-split,kill,pause,full-restart
jepsen-es: jepsen-deps
	bin/korum-jepsen -elasticsearch $(ES_ADDR) -nemeses $(JEPSEN_ES_NEMESES) -warmup 3s -fault 8s -cycles 1 -quorum-contact-timeout 5s $(JEPSEN_ARGS)

# The checkers bite end to end: a deployment that loses acknowledged writes
# on restart (data on a tmpfs) must be reported.
jepsen-selftest: jepsen-deps
	KORUM_JEPSEN_DOCKER=1 $(GO) test -count=1 -run TestBrokenDeploymentIsCaught ./jepsen/

jepsen-long: jepsen-deps
	bin/korum-jepsen -warmup 10s -fault 30s -cycles 5 -register-clients 10 -subscribers 10 -writers 4 -quorum-contact-timeout 5s $(JEPSEN_ARGS)

# The checkers must bite: a build that acknowledges writes before they are
# committed (build tag jepsen_broken_ack: documents and memory storage
# keys) must make the suite fail. Exits 0 only if an anomaly is found.
jepsen-broken: jepsen-deps
	rm -rf bin/image-broken && mkdir -p bin/image-broken/tmp bin/image-broken/data && chmod 1777 bin/image-broken/tmp
	CGO_ENABLED=0 $(GO) build -trimpath -tags jepsen_broken_ack -o bin/image-broken/korum ./cmd/node
	docker build -q -f deploy/Dockerfile -t $(IMAGE):broken bin/image-broken
	bin/korum-jepsen -image $(IMAGE):broken -expect-anomaly -nemeses full-restart,isolate-leader,kill -workloads registers,subscriptions,ms-registers $(JEPSEN_ARGS)

# docker-compose.yml end to end: up, smoke through the balancer, stop a node,
# smoke again, down. KORUM_PORT is the balancer's published port.
KORUM_PORT ?= 17512
compose-smoke: docker-engine image
	deploy/local-images.sh
	$(GO) build -o bin/korum-smoke ./jepsen/cmd/korum-smoke
	export KORUM_PORT=$(KORUM_PORT); docker-compose down -v >/dev/null 2>&1; docker-compose up -d && \
	bin/korum-smoke -addr localhost:$(KORUM_PORT) && docker-compose stop korum2 && \
	bin/korum-smoke -addr localhost:$(KORUM_PORT) -wait 10s; rc=$$?; docker-compose down -v; exit $$rc
