# kiln's native kernels. The addon itself is compiled without any -m ISA flag so
# it loads on every x86-64 (and arm64) CPU; SIMD code lives in per-ISA static
# libraries compiled with their own flags and is only called after the run-time
# probe (src/cpu.cpp) says the CPU and OS support it.
{
  "target_defaults": {
    "cflags": ["-O3", "-fPIC", "-fno-math-errno", "-ffp-contract=off", "-Wall", "-Wextra", "-Wno-unused-parameter"],
    "cflags_c": ["-std=c11"],
    # exceptions on: the forward pass turns a failed KV-cache allocation into an error, not an abort
    "cflags_cc": ["-std=c++17", "-fexceptions"],
    "cflags_cc!": ["-std=gnu++17", "-fno-exceptions"],
    "include_dirs": ["src"],
    "xcode_settings": {
      "GCC_OPTIMIZATION_LEVEL": "3",
      "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
      "OTHER_CFLAGS": ["-fno-math-errno"]
    }
  },
  "variables": {
    # The Vulkan backend (src/vulkan/) is built when its headers and the GLSL compiler are here
    # (Debian: libvulkan-dev, glslc); the loader itself is opened at run time with dlopen.
    # KILN_VULKAN=0 in the environment builds without it even then.
    "kiln_vulkan%": "<!(sh -c 'test \"$KILN_VULKAN\" != 0 && test -f /usr/include/vulkan/vulkan_core.h && command -v glslc >/dev/null 2>&1 && echo 1 || echo 0')"
  },
  "conditions": [
    ["kiln_vulkan==1", {
      "targets": [
        {
          # GLSL compute shaders -> SPIR-V -> one generated header in the build directory
          "target_name": "kiln_vulkan_shaders",
          "type": "none",
          "actions": [{
            "action_name": "embed_spirv",
            "inputs": ["tools/embed-shaders.mjs", "<!@(sh -c 'ls src/vulkan/shaders/*.comp src/vulkan/shaders/*.glsl')"],
            "outputs": ["<(SHARED_INTERMEDIATE_DIR)/kiln_spirv.h"],
            "action": ["node", "tools/embed-shaders.mjs", "<(SHARED_INTERMEDIATE_DIR)/kiln_spirv.h", "<@(_inputs)"]
          }]
        }
      ]
    }],
    ["target_arch=='x64'", {
      "targets": [
        {
          "target_name": "kiln_x86_avx2",
          "type": "static_library",
          "sources": ["src/x86/avx2.cpp", "src/x86/avx2_ops.cpp", "src/x86/avx2_iq.cpp"],
          "cflags": ["-mavx2", "-mfma", "-mf16c"],
          "xcode_settings": { "OTHER_CFLAGS": ["-mavx2", "-mfma", "-mf16c"] }
        },
        {
          "target_name": "kiln_x86_avx512",
          "type": "static_library",
          "sources": ["src/x86/avx512.cpp", "src/x86/avx512_gemm.cpp", "src/x86/avx512_iq.cpp"],
          # GCC 12's own avx512fintrin.h trips -Wuninitialized at -O3 (GCC bug 105593)
          "cflags": ["-mavx2", "-mfma", "-mf16c", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512vnni",
                     "-Wno-uninitialized", "-Wno-maybe-uninitialized"],
          "xcode_settings": { "OTHER_CFLAGS": ["-mavx2", "-mfma", "-mf16c", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512vnni"] }
        }
      ]
    }]
  ],
  "targets": [
    {
      "target_name": "kiln_kernels",
      "sources": [
        "binding/addon.cc",
        "binding/napi_util.cc",
        "binding/cpu_binding.cc",
        "binding/mmap_binding.cc",
        "binding/quant_binding.cc",
        "binding/llama_binding.cc",
        "binding/ops_binding.cc",
        "binding/flock_binding.cc",
        "binding/bert_binding.cc",
        "binding/weight_desc.cc",
        "binding/vulkan_binding.cc",
        "src/llama/forward.cpp",
        "src/bert/encoder.cpp",
        "src/variant.cpp",
        "src/ops.cpp",
        "src/membw.cpp",
        "src/pool.cpp",
        "src/ref/traits.cpp",
        "src/ref/floats.cpp",
        "src/ref/legacy.cpp",
        "src/ref/kquants.cpp",
        "src/ref/iquants.cpp",
        "src/ref/iq4quant.cpp",
        "src/ref/iqgrid_quant.cpp",
        "src/ref/iq_tables.cpp",
        "src/ref/kdot.cpp",
        "src/ref/fit.cpp",
        "src/ref/kfit.cpp",
        "src/ref/kplain.cpp",
        "src/ref/weights.cpp",
        "src/ref/llama_ops.cpp",
        "src/ref/kv_quant.cpp",
        "src/ref/gelu.cpp",
        "src/cpu.cpp",
        "src/cpu_count.cpp",
        "src/mmap.cpp"
      ],
      "defines": ["NAPI_VERSION=8"],
      "conditions": [
        ["target_arch=='x64'", {
          "dependencies": ["kiln_x86_avx2", "kiln_x86_avx512"],
          "defines": ["KILN_HAVE_X86_VARIANTS=1"]
        }],
        ["kiln_vulkan==1", {
          "dependencies": ["kiln_vulkan_shaders"],
          "defines": ["KILN_HAVE_VULKAN=1"],
          "include_dirs": ["<(SHARED_INTERMEDIATE_DIR)"],
          "sources": ["src/vulkan/device.cpp", "src/vulkan/ops.cpp", "src/vulkan/offload.cpp"],
          "libraries": ["-ldl"]
        }]
      ]
    }
  ]
}
