"""Link options of the two long-running programs, kc-server and kc-gateway.

DESIGN §6 budgets 10 MiB of resident memory for both together, idle. Most
of what they hold is pages of code and read-only data mapped from their
files and the tables the dynamic linker rewrites at every start, so how
they are linked matters:

  - GNU ld (bfd) instead of the toolchain's gold, which cannot pack
    relocations; Bazel's --start-lib/--end-lib (a gold feature) is turned
    off for these two links, so their libraries come as archives instead.
  - -z pack-relative-relocs: the relative relocations of a position-
    independent executable (every pointer in vtables, method tables and
    descriptors; 24,500 of them in kc-server) packed as DT_RELR bitmaps,
    7 kB instead of 0.6 MB of .rela.dyn that the loader reads at every
    start. Needs glibc 2.36 (Debian bookworm) at run time.

kc-gateway is moreover a static PIE (DAEMON_STATIC_LINKOPTS): C libraries
only, no dlopen() of its own, numeric addresses only, so it needs neither
libc.so nor the dynamic linker, and takes from each archive only what it
calls. Still position-independent, so ASLR holds. glibc warns at link time
that getaddrinfo(), getservbyname() and dlopen() would need its shared NSS
modules at run time: libevent's and OpenSSL's address helpers and engine
loader reach them, the gateway calls none of those. Sanitizer builds
(//bazel:sanitized) link it dynamically.
"""

DAEMON_FEATURES = ["-supports_start_end_lib"]

DAEMON_LINKOPTS = [
    "-fuse-ld=bfd",
    "-Wl,-z,pack-relative-relocs",
]

DAEMON_STATIC_LINKOPTS = DAEMON_LINKOPTS + select({
    "//bazel:sanitized": [],
    "//conditions:default": ["-static-pie"],
})
