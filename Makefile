# amberfs build. `make` builds the core library and the programs into build/.
#   make test     unit tests, then mount-level tests; ends with "N passed, N failed"
#   make check    unit tests and a daemon mount stress under ASan+UBSan and under TSan
#   make torture  crash-torture cycles (CYCLES=N)
#   make headers-check  each public header compiles alone (test and check run it)
#   make bench    benchmarks (prints tables with ratios measured in the same run)
#   make fuzz     libFuzzer targets for every parser of outside input (FUZZ_SECONDS each)
#   make install  honours PREFIX and DESTDIR
# Sources are found by wildcard: src/<layer>/*.cc is the core (see
# docs/DESIGN.md), tools/*.cc one program each, test/unit/<layer>/*_test.cc the
# unit tests (one doctest binary), test/support/*.cc test programs.

CXX      ?= g++
BUILD    ?= build
OPT      ?= -O2
# Debug info: full for the release build (gdb); the sanitizer and fuzz trees
# take line tables only (-g1), which is all a sanitizer report prints and
# compiles about a third faster (CI builds those trees from scratch).
DEBUG    ?= -g
SANITIZE ?=
PREFIX   ?= /usr/local
DESTDIR  ?=

PKGS      := fuse3 liburing libcrypto libcurl libxxhash libzstd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CXXFLAGS ?=
CXXFLAGS += -std=c++20 $(OPT) $(DEBUG) -Wall -Wextra -Wno-missing-field-initializers \
            -D_FILE_OFFSET_BITS=64 -Iinclude -Isrc -Itest $(PKG_CFLAGS) $(SANITIZE) -MMD -MP
LDFLAGS  += $(SANITIZE)
LDLIBS   += $(PKG_LIBS) -lpthread

CORE_SRCS  := $(wildcard src/*/*.cc)
TOOL_SRCS  := $(wildcard tools/*.cc)
TEST_SRCS  := $(wildcard test/unit/*/*_test.cc) test/support/unit_main.cc
BENCH_SRCS := $(wildcard bench/*.cc)
TESTTOOL_SRCS := $(filter-out test/support/unit_main.cc,$(wildcard test/support/*.cc))

CORE_OBJS  := $(CORE_SRCS:%.cc=$(BUILD)/obj/%.o)
TEST_OBJS  := $(TEST_SRCS:%.cc=$(BUILD)/obj/%.o)
TOOLS      := $(TOOL_SRCS:tools/%.cc=$(BUILD)/%)
BENCHES    := $(BENCH_SRCS:bench/%.cc=$(BUILD)/bench/%)
TESTTOOLS  := $(TESTTOOL_SRCS:test/support/%.cc=$(BUILD)/test-tools/%)
LIB        := $(BUILD)/libamberfs.a

.PHONY: all test unit check bench torture install clean
all: $(LIB) $(TOOLS) $(BUILD)/unit_tests $(TESTTOOLS)

# Public headers stand alone: each compiles with only -Iinclude (no -Isrc),
# so none may include an internal header.
PUBLIC_HEADERS := $(wildcard include/amberfs/*.h)
.PHONY: headers-check
headers-check:
	@for h in $(PUBLIC_HEADERS); do \
	  echo "#include \"$${h#include/}\"" | $(CXX) -std=c++20 -fsyntax-only -Wall -Wextra -Iinclude -x c++ - \
	    || { echo "headers-check: $$h does not compile on its own"; exit 1; }; \
	done
	@echo "headers-check: $(words $(PUBLIC_HEADERS)) public headers compile with only -Iinclude"

# The commit for the build-info metric: a stamp rewritten only when HEAD moves,
# so only build_info.o is rebuilt then.
BUILD_COMMIT := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
.PHONY: FORCE
$(BUILD)/commit.stamp: FORCE
	@mkdir -p $(dir $@)
	@echo '$(BUILD_COMMIT)' | cmp -s - $@ || echo '$(BUILD_COMMIT)' >$@
$(BUILD)/obj/src/base/build_info.o: $(BUILD)/commit.stamp
$(BUILD)/obj/src/base/build_info.o: CXXFLAGS += -DAMBERFS_COMMIT='"$(BUILD_COMMIT)"'

$(BUILD)/obj/%.o: %.cc
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

$(LIB): $(CORE_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/%: $(BUILD)/obj/tools/%.o $(LIB)
	$(CXX) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/test-tools/%: $(BUILD)/obj/test/support/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/unit_tests: $(TEST_OBJS) $(LIB)
	$(CXX) $(LDFLAGS) $^ -o $@ $(LDLIBS)

# Unit tests, then mount-level tests (test/mount/*.sh), one closing line.
test: all headers-check
	bash test/run_tests.sh $(BUILD)

unit: $(BUILD)/unit_tests
	$(BUILD)/unit_tests

# Sanitizer builds live in their own trees so they never mix with the release objects.
# Each sanitizer also runs the daemon itself under a mount stress
# (test/mount/fuse_stress.sh): any report in the daemon's log fails it.
SANITIZED := unit_tests amberfs mkfs.amberfs fsck.amberfs test-tools/fuse_stress
CHECK_STRESS := STRESS_CYCLES=1000 STRESS_SECONDS=40 STRESS_SNAPSHOTS=100
check: headers-check
	$(MAKE) BUILD=build/asan OPT=-O1 DEBUG=-g1 SANITIZE="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" $(SANITIZED:%=build/asan/%)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 build/asan/unit_tests
	AMBERFS_BUILD=$(CURDIR)/build/asan $(CHECK_STRESS) bash test/mount/fuse_stress.sh
	AMBERFS_BUILD=$(CURDIR)/build/asan bash test/mount/clone.sh
	$(MAKE) BUILD=build/tsan OPT=-O1 DEBUG=-g1 SANITIZE="-fsanitize=thread" $(SANITIZED:%=build/tsan/%)
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" build/tsan/unit_tests
	AMBERFS_BUILD=$(CURDIR)/build/tsan $(CHECK_STRESS) bash test/mount/fuse_stress.sh
	AMBERFS_BUILD=$(CURDIR)/build/tsan bash test/mount/clone.sh

# Crash torture (test/torture/run.sh): CYCLES kill -9 cycles (default 20).
CYCLES ?= 20
torture: all
	AMBERFS_BUILD=$(CURDIR)/$(BUILD) CYCLES=$(CYCLES) bash test/torture/run.sh

# Helper servers of the benchmark scripts (bench/servers/*.cc, standalone
# libfuse programs), kept out of build/bench/ so run_bench.sh does not run them.
BENCH_SERVERS := $(patsubst bench/servers/%.cc,$(BUILD)/bench-servers/%,$(wildcard bench/servers/*.cc))
$(BUILD)/bench-servers/%: $(BUILD)/obj/bench/servers/%.o
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) $^ -o $@ $(LDLIBS)

bench: all $(BENCHES) $(BENCH_SERVERS)
	bash bench/run_bench.sh $(BUILD)

# Fuzzing (test/fuzz/README.md): one libFuzzer binary per parser of outside
# input, test/fuzz/<name>_fuzz.cc, built by clang under ASan+UBSan with the
# core in build/fuzz (its own tree, never mixed with the gcc objects).
#   make fuzz                    every target for FUZZ_SECONDS (default 600) each
#   make fuzz FUZZ_SECONDS=5 FUZZ_PARALLEL=2  the short CI run
#   make fuzz FUZZ_TARGETS=ctl_command  only the named targets
#   make fuzz-seeds              rewrite the encoder-made seeds in test/fuzz/corpus
FUZZ_CXX      ?= clang++
FUZZ_SECONDS  ?= 600
FUZZ_PARALLEL ?= 1
FUZZ_BUILD    := build/fuzz
FUZZ_SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CXXFLAGS := -std=c++20 -gline-tables-only -O1 -Wall -Wextra -Wno-missing-field-initializers -D_FILE_OFFSET_BITS=64 \
                 -Iinclude -Isrc -Itest $(PKG_CFLAGS) $(FUZZ_SANITIZE) -MMD -MP
FUZZ_ALL      := $(patsubst test/fuzz/%_fuzz.cc,%,$(wildcard test/fuzz/*_fuzz.cc))
FUZZ_TARGETS  ?= $(FUZZ_ALL)
FUZZ_BINS     := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/%_fuzz)
FUZZ_LIB      := $(FUZZ_BUILD)/libamberfs.a

$(FUZZ_BUILD)/obj/src/%.o: src/%.cc
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_BUILD)/obj/test/fuzz/%.o: test/fuzz/%.cc
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_LIB): $(CORE_SRCS:%.cc=$(FUZZ_BUILD)/obj/%.o)
	rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/%_fuzz: $(FUZZ_BUILD)/obj/test/fuzz/%_fuzz.o $(FUZZ_LIB)
	$(FUZZ_CXX) $(FUZZ_SANITIZE) -fsanitize=fuzzer $^ -o $@ $(PKG_LIBS) -lpthread

$(FUZZ_BUILD)/gen_seeds: $(FUZZ_BUILD)/obj/test/fuzz/gen_seeds.o $(FUZZ_LIB)
	$(FUZZ_CXX) $(FUZZ_SANITIZE) $^ -o $@ $(PKG_LIBS) -lpthread

.PHONY: fuzz fuzz-build fuzz-seeds
fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	FUZZ_PARALLEL=$(FUZZ_PARALLEL) bash test/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-seeds: $(FUZZ_BUILD)/gen_seeds
	$(FUZZ_BUILD)/gen_seeds test/fuzz/corpus

# Install: the programs stripped into $(SBINDIR); mount.amberfs where mount(8)
# looks for helpers (/sbin, whatever the PREFIX); the systemd template unit,
# the bash completion, the man pages and examples (an fstab line, a .mount
# unit, a NAME.conf for amberfs@NAME.service). Paths written into the unit and
# the mount helper are the installed ones (without DESTDIR).
SBINDIR       ?= $(PREFIX)/sbin
MOUNTHELPERDIR ?= /sbin
SYSCONFDIR    ?= /etc
UNITDIR       ?= $(PREFIX)/lib/systemd/system
COMPLETIONDIR ?= $(PREFIX)/share/bash-completion/completions
MANDIR        ?= $(PREFIX)/share/man
EXAMPLEDIR    ?= $(PREFIX)/share/doc/amberfs/examples
SUBST = sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g'
install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MOUNTHELPERDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(COMPLETIONDIR) \
	  $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(EXAMPLEDIR)
	for t in $(TOOLS); do install -s -m 0755 $$t $(DESTDIR)$(SBINDIR)/ || exit 1; done
	$(SUBST) tools/mount.amberfs >$(BUILD)/mount.amberfs
	install -m 0755 $(BUILD)/mount.amberfs $(DESTDIR)$(MOUNTHELPERDIR)/mount.amberfs
	$(SUBST) dist/systemd/amberfs@.service >$(BUILD)/amberfs@.service
	install -m 0644 $(BUILD)/amberfs@.service $(DESTDIR)$(UNITDIR)/amberfs@.service
	install -m 0644 dist/bash-completion/amberfs $(DESTDIR)$(COMPLETIONDIR)/amberfs
	for c in mkfs.amberfs fsck.amberfs amberctl; do ln -sf amberfs $(DESTDIR)$(COMPLETIONDIR)/$$c || exit 1; done
	for e in dist/examples/*; do $(SUBST) $$e >$(DESTDIR)$(EXAMPLEDIR)/$${e##*/} || exit 1; done
	for m in $(wildcard man/*.5); do install -m 0644 $$m $(DESTDIR)$(MANDIR)/man5/ || exit 1; done
	for m in $(wildcard man/*.8); do install -m 0644 $$m $(DESTDIR)$(MANDIR)/man8/ || exit 1; done

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
-include $(shell find $(FUZZ_BUILD)/obj -name '*.d' 2>/dev/null)
