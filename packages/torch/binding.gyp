{
  "targets": [
    {
      "target_name": "diffuse_torch",
      "dependencies": ["diffuse_distributed"],
      "sources": [
        "native/addon.cc",
        "native/handles.cc",
        "native/ops.cc",
        "native/checks.cc",
        "native/tensor.cc",
        "native/autograd.cc",
        "native/runtime.cc",
        "native/fused_attention.cc",
        "native/profiler.cc",
        "native/layout_cast.cc",
        "native/fused_norm.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node scripts/find-libtorch.cjs --include)"
      ],
      "libraries": [
        "-L<!(node scripts/find-libtorch.cjs --libdir)",
        "-Wl,-rpath,<!(node scripts/find-libtorch.cjs --libdir)",
        "-Wl,--no-as-needed",
        "<!@(node scripts/find-libtorch.cjs --libs)",
        "-Wl,--as-needed",
        "-fopenmp"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_CPP_EXCEPTIONS_ALL", "_GLIBCXX_USE_CXX11_ABI=1"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti", "-O2", "-fopenmp", "-fno-trapping-math", "-Wno-unused-parameter", "-Wno-deprecated-declarations"]
    },
    {
      "target_name": "diffuse_distributed",
      "type": "static_library",
      "sources": ["native/distributed.cc"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native/shim",
        "<!@(node scripts/find-libtorch.cjs --include)"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_CPP_EXCEPTIONS_ALL", "_GLIBCXX_USE_CXX11_ABI=1", "USE_C10D_GLOO"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti", "-O2", "-fPIC", "-Wno-unused-parameter", "-Wno-deprecated-declarations"]
    }
  ]
}
