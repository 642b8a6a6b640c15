"""Fuzz targets that run in the ordinary test suite and under libFuzzer.

A fuzz target is a C file defining LLVMFuzzerTestOneInput. `kc_fuzz_test`
makes two targets of it:
  <name>            a cc_test linking //tests/fuzz:driver, which replays the
                    seed corpus and then a bounded number of deterministic
                    mutations of it (so `bazel test //...` exercises every
                    parser with hostile input, under ASan with --config=asan);
  <name>_libfuzzer  the same target for coverage-guided fuzzing with clang:
                    bazel build --config=fuzz //pkg:<name>_libfuzzer
                    (tagged manual: it only links with -fsanitize=fuzzer).
"""

def kc_fuzz_test(name, srcs, deps = [], corpus = [], runs = 20000, **kwargs):
    native.cc_test(
        name = name,
        srcs = srcs,
        deps = deps + ["//tests/fuzz:driver", "//tests/fuzz:check"],
        data = corpus,
        args = ["--runs=%d" % runs] + ["$(location %s)" % c for c in corpus],
        size = "small",
        **kwargs
    )
    native.cc_binary(
        name = name + "_libfuzzer",
        srcs = srcs,
        deps = deps + ["//tests/fuzz:check"],
        tags = ["manual"],
        testonly = True,
    )
