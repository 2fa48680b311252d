// One dispatch table entry per type: the reference kernels.
#include "quants.h"

#include "floats.h"
#include "kquants.h"
#include "legacy.h"

namespace {

const kiln_type_traits TRAITS[] = {
    {"F32", 1, 4, kiln_to_float_f32, kiln_from_float_f32, kiln_vec_dot_f32_f32, KILN_TYPE_F32},
    {"F16", 1, 2, kiln_to_float_f16, kiln_from_float_f16, kiln_vec_dot_f16_f32, KILN_TYPE_F32},
    {"Q4_0", 32, 18, kiln_dequantize_row_q4_0, kiln_quantize_row_q4_0_ref, kiln_vec_dot_q4_0_q8_0, KILN_TYPE_Q8_0},
    {"Q4_1", 32, 20, kiln_dequantize_row_q4_1, kiln_quantize_row_q4_1_ref, kiln_vec_dot_q4_1_q8_0, KILN_TYPE_Q8_0},
    {nullptr, 0, 0, nullptr, nullptr, nullptr, KILN_TYPE_F32}, // 4, 5: retired Q4_2 / Q4_3
    {nullptr, 0, 0, nullptr, nullptr, nullptr, KILN_TYPE_F32},
    {"Q5_0", 32, 22, kiln_dequantize_row_q5_0, kiln_quantize_row_q5_0_ref, kiln_vec_dot_q5_0_q8_0, KILN_TYPE_Q8_0},
    {"Q5_1", 32, 24, kiln_dequantize_row_q5_1, kiln_quantize_row_q5_1_ref, kiln_vec_dot_q5_1_q8_0, KILN_TYPE_Q8_0},
    {"Q8_0", 32, 34, kiln_dequantize_row_q8_0, kiln_quantize_row_q8_0_ref, kiln_vec_dot_q8_0_q8_0, KILN_TYPE_Q8_0},
    {"Q8_1", 32, 36, kiln_dequantize_row_q8_1, kiln_quantize_row_q8_1_ref, nullptr, KILN_TYPE_Q8_1},
    {"Q2_K", 256, 84, kiln_dequantize_row_q2_K, kiln_quantize_row_q2_K_ref, kiln_vec_dot_q2_K_q8_K, KILN_TYPE_Q8_K},
    {"Q3_K", 256, 110, kiln_dequantize_row_q3_K, kiln_quantize_row_q3_K_ref, kiln_vec_dot_q3_K_q8_K, KILN_TYPE_Q8_K},
    {"Q4_K", 256, 144, kiln_dequantize_row_q4_K, kiln_quantize_row_q4_K_ref, kiln_vec_dot_q4_K_q8_K, KILN_TYPE_Q8_K},
    {"Q5_K", 256, 176, kiln_dequantize_row_q5_K, kiln_quantize_row_q5_K_ref, kiln_vec_dot_q5_K_q8_K, KILN_TYPE_Q8_K},
    {"Q6_K", 256, 210, kiln_dequantize_row_q6_K, kiln_quantize_row_q6_K_ref, kiln_vec_dot_q6_K_q8_K, KILN_TYPE_Q8_K},
    {"Q8_K", 256, 292, kiln_dequantize_row_q8_K, kiln_quantize_row_q8_K_ref, nullptr, KILN_TYPE_Q8_K},
};

const kiln_type_traits BF16 = {"BF16", 1, 2, kiln_to_float_bf16, kiln_from_float_bf16, kiln_vec_dot_bf16_f32, KILN_TYPE_F32};

} // namespace

extern "C" const kiln_type_traits *kiln_type_traits_of(int type) {
  if (type == KILN_TYPE_BF16) return &BF16;
  if (type < 0 || type >= static_cast<int>(sizeof TRAITS / sizeof TRAITS[0])) return nullptr;
  return TRAITS[type].name != nullptr ? &TRAITS[type] : nullptr;
}

extern "C" size_t kiln_row_size(int type, int64_t n) {
  const kiln_type_traits *t = kiln_type_traits_of(type);
  return t == nullptr ? 0 : static_cast<size_t>(n / t->block_size) * t->type_size;
}

extern "C" kiln_weighted_fn kiln_weighted_quantizer(int type) {
  switch (type) {
  case KILN_TYPE_Q4_0: return kiln_quantize_row_q4_0_w;
  case KILN_TYPE_Q4_1: return kiln_quantize_row_q4_1_w;
  case KILN_TYPE_Q5_0: return kiln_quantize_row_q5_0_w;
  case KILN_TYPE_Q5_1: return kiln_quantize_row_q5_1_w;
  case KILN_TYPE_Q8_0: return kiln_quantize_row_q8_0_w;
  case KILN_TYPE_Q2_K: return kiln_quantize_row_q2_K_w;
  case KILN_TYPE_Q3_K: return kiln_quantize_row_q3_K_w;
  case KILN_TYPE_Q4_K: return kiln_quantize_row_q4_K_w;
  case KILN_TYPE_Q5_K: return kiln_quantize_row_q5_K_w;
  case KILN_TYPE_Q6_K: return kiln_quantize_row_q6_K_w;
  default: return nullptr;
  }
}
