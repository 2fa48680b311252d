// Module entry: each glue file registers its functions on exports.
#include "napi_util.h"

namespace {

napi_value init(napi_env env, napi_value exports) {
  kiln_register_cpu(env, exports);
  kiln_register_mmap(env, exports);
  kiln_register_quant(env, exports);
  kiln_register_llama(env, exports);
  kiln_register_ops(env, exports);
  kiln_register_flock(env, exports);
  kiln_register_bert(env, exports);
  kiln_register_vulkan(env, exports);
  return exports;
}

} // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
