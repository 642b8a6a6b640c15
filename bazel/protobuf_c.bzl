"""protoc-c and protoc run as genrules: the offline build has no rules_proto.

Both tools come from Debian (protobuf-c-compiler, protobuf-compiler); the
well-known .proto files they need are in /usr/include.
"""

_SYSTEM_PROTO_ROOT = "/usr/include"

def _stem(path):
    return path[:-len(".proto")]

def _exec_paths(srcs):
    # Genrules run in the exec root, where this package's files are found
    # under the package's own path.
    pkg = native.package_name()
    return [(pkg + "/" + s) if pkg else s for s in srcs]

def protobuf_c_library(name, srcs, system_protos = [], deps = [], visibility = None):
    """A cc_library of the protobuf-c code for `srcs` and `system_protos`.

    Args:
      name: the cc_library's name.
      srcs: .proto files in this package, named relative to it; their import
        paths are those names.
      system_protos: well-known protos under /usr/include to compile too,
        such as "google/protobuf/wrappers.proto".
      deps: further cc deps.
      visibility: as usual.
    """
    outs = []
    for p in srcs + system_protos:
        outs.append(_stem(p) + ".pb-c.c")
        outs.append(_stem(p) + ".pb-c.h")

    # protoc-c writes under --c_out by import path; $(RULEDIR) is this
    # package's output directory, so the files land where `outs` says.
    native.genrule(
        name = name + "_gen",
        srcs = srcs,
        outs = outs,
        cmd = " ".join([
            "protoc-c",
            # Sources are named relative to this package, which is their
            # import root; the exec root is the working directory.
            "--proto_path=" + (native.package_name() or "."),
            "--proto_path=" + _SYSTEM_PROTO_ROOT,
            "--c_out=$(RULEDIR)",
        ] + _exec_paths(srcs) + system_protos),
    )
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".c")],
        hdrs = [o for o in outs if o.endswith(".h")],
        # Generated code is not ours to keep warning-free: -isystem.
        includes = ["."],
        deps = deps + ["//third_party/system:protobuf_c"],
        visibility = visibility,
    )

def proto_descriptor_set(name, srcs, deps = [], visibility = None):
    """A FileDescriptorSet (`<name>.pb`) of `srcs` with imports and comments.

    Args:
      name: the target; its output is `<name>.pb`.
      srcs: .proto files in this package to describe.
      deps: .proto files in this package they import.
      visibility: as usual.
    """
    native.genrule(
        name = name,
        srcs = srcs + deps,
        outs = [name + ".pb"],
        cmd = " ".join([
            "protoc",
            # Sources are named relative to this package, which is their
            # import root; the exec root is the working directory.
            "--proto_path=" + (native.package_name() or "."),
            "--proto_path=" + _SYSTEM_PROTO_ROOT,
            "--include_imports",
            "--include_source_info",
            "--descriptor_set_out=$@",
        ] + _exec_paths(srcs)),
        visibility = visibility,
    )
