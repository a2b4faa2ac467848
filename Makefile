# shardproxy — the two commands of the README, and their parts.
#   make run    install what is missing, build, start demo backends and the proxy
#   make test   install what is missing, build, run every test (ctest)
#   make install  build and install under PREFIX (/usr/local), into DESTDIR
#               if given: sbin/shardproxy, man pages, default configuration,
#               systemd unit, logrotate file, examples
#   make deb    build shardproxy_<version>_<arch>.deb (prefix /usr) here
# Other targets: deps, build, build-asan, build-clang, unit, clean,
#   make fuzz   the long libFuzzer campaign: every target FUZZ_SECONDS (600)
#               plain, then FUZZ_EXPAND_SECONDS (300) with run expansion, two
#               at a time: about 45 minutes on 2 cores (it says so first), and
#   make bench  shardproxy vs nutcracker side by side -> bench/RESULTS.md
#               (BENCH_ARGS=--quick for a 30-second smoke run; --help lists options)
#   make bench-instructions  instructions and syscalls per request only
#               (callgrind, strace; load-independent; INSTR_ARGS=--cells 'mc-*')

BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_CLANG ?= build-clang
BUILD_DEB  ?= build-deb
DEB_DIR    ?= .
PREFIX     ?= /usr/local
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)

# Debian packages, by name: to build, to test, to run the demo.
BUILD_PKGS = cmake make gcc clang libclang-rt-14-dev pkg-config libyaml-dev libssl-dev \
             libjemalloc-dev check liburing-dev
TEST_PKGS  = redis-server redis-sentinel redis-tools memcached nutcracker python3 openssl \
             python3-redis python3-pymemcache python3-prometheus-client libmemcached-tools \
             php-cli php-redis ruby ruby-redis
RUN_PKGS   = netcat-openbsd
# make deb (dpkg-shlibdeps); the package's checks in make test
DEB_PKGS   = dpkg-dev
TEST_PKGS += $(DEB_PKGS) lintian prometheus logrotate systemd man-db python3-yaml
BENCH_PKGS = linux-perf valgrind strace

.PHONY: all deps build build-asan build-clang unit test fuzz run bench clean \
        install deb bench-instructions

all: build

deps:
	@scripts/install-deps.sh $(BUILD_PKGS) $(TEST_PKGS)
	@scripts/install-node-clients.sh tests/clients/node

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

$(BUILD_ASAN)/CMakeCache.txt:
	cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DSP_SANITIZE=ON

build-asan: $(BUILD_ASAN)/CMakeCache.txt
	cmake --build $(BUILD_ASAN) -j $(JOBS)

# clang compile of everything, warnings as errors (gcc builds the others)
$(BUILD_CLANG)/CMakeCache.txt:
	CC=clang cmake -S . -B $(BUILD_CLANG) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build-clang: $(BUILD_CLANG)/CMakeCache.txt
	cmake --build $(BUILD_CLANG) -j $(JOBS)

unit: build
	$(BUILD)/sp_unit_tests

# The whole suite: unit + integration against real servers (among them a
# ~50 s network fuzz), then the same suite again on the AddressSanitizer +
# UBSan build; clang must compile it all without a warning; every libFuzzer
# target runs FUZZ_TEST_SECONDS (30) with the expanding pass (FUZZ_EXPAND=1:
# inputs may also stand for 64 KiB lines and large payloads), two at a time,
# about 90 s. All of it: under 20 minutes on 2 cores.
FUZZ_TEST_SECONDS   ?= 30
FUZZ_SECONDS        ?= 600
FUZZ_EXPAND_SECONDS ?= 300

test: deps
	$(MAKE) build build-asan build-clang
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	cd $(BUILD_ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    ctest --output-on-failure -j $(JOBS)
	FUZZ_EXPAND=1 FUZZ_JOBS=$(JOBS) tests/fuzz/run.sh build-fuzz $(FUZZ_TEST_SECONDS)

# The long campaign (FUZZ_SECONDS plain, then FUZZ_EXPAND_SECONDS expanding,
# per target; FUZZ_TARGETS to choose; run.sh prints how long it will take).
fuzz: deps
	FUZZ_JOBS=$(JOBS) tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS)
	FUZZ_EXPAND=1 FUZZ_JOBS=$(JOBS) tests/fuzz/run.sh build-fuzz $(FUZZ_EXPAND_SECONDS)

run: deps build
	@scripts/install-deps.sh $(RUN_PKGS)
	scripts/run-demo.sh $(BUILD)/shardproxy conf/shardproxy.yml

# The paths in the systemd unit and logrotate file follow PREFIX, so the
# build is (re)configured with it; DESTDIR stages the install elsewhere.
install:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	      -DCMAKE_INSTALL_PREFIX=$(PREFIX)
	cmake --build $(BUILD) -j $(JOBS)
	DESTDIR=$(DESTDIR) cmake --install $(BUILD)

# A build of its own with prefix /usr, packed by CPack (cmake/sp_install.cmake).
deb:
	@scripts/install-deps.sh $(BUILD_PKGS) $(DEB_PKGS)
	cmake -S . -B $(BUILD_DEB) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	      -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON
	cmake --build $(BUILD_DEB) -j $(JOBS) --target shardproxy sp_docs
	cd $(BUILD_DEB) && rm -f shardproxy_*.deb && cpack -G DEB
	cp $(BUILD_DEB)/shardproxy_*.deb $(DEB_DIR)/
	@ls -l $(DEB_DIR)/shardproxy_*.deb

# The backends and load generators come with the test packages; linux-perf
# counts syscalls (without it they show n/a, with the reason).
bench: deps build
	@scripts/install-deps.sh $(BENCH_PKGS)
	/usr/bin/python3 bench/bench.py $(BENCH_ARGS)

bench-instructions: deps build
	@scripts/install-deps.sh $(BENCH_PKGS)
	/usr/bin/python3 bench/instructions.py --strace $(INSTR_ARGS)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_CLANG) $(BUILD_DEB) build-fuzz
