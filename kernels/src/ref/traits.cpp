// One dispatch table entry per type: the reference kernels.
#include "quants.h"

#include "floats.h"
#include "iquants.h"
#include "kplain.h"
#include "kquants.h"
#include "legacy.h"

namespace {

const kiln_type_traits TRAITS[] = {
    {"F32", 1, 4, kiln_to_float_f32, kiln_from_float_f32, kiln_vec_dot_f32_f32, KILN_TYPE_F32},
    {"F16", 1, 2, kiln_to_float_f16, kiln_from_float_f16, kiln_vec_dot_f16_f32, KILN_TYPE_F32},
    {"Q4_0", 32, 18, kiln_dequantize_row_q4_0, kiln_quantize_row_q4_0_ref, kiln_vec_dot_q4_0_q8_0, KILN_TYPE_Q8_0},
    {"Q4_1", 32, 20, kiln_dequantize_row_q4_1, kiln_quantize_row_q4_1_ref, kiln_vec_dot_q4_1_q8_1, KILN_TYPE_Q8_1},
    {nullptr, 0, 0, nullptr, nullptr, nullptr, KILN_TYPE_F32}, // 4, 5: retired Q4_2 / Q4_3
    {nullptr, 0, 0, nullptr, nullptr, nullptr, KILN_TYPE_F32},
    {"Q5_0", 32, 22, kiln_dequantize_row_q5_0, kiln_quantize_row_q5_0_ref, kiln_vec_dot_q5_0_q8_0, KILN_TYPE_Q8_0},
    {"Q5_1", 32, 24, kiln_dequantize_row_q5_1, kiln_quantize_row_q5_1_ref, kiln_vec_dot_q5_1_q8_1, KILN_TYPE_Q8_1},
    {"Q8_0", 32, 34, kiln_dequantize_row_q8_0, kiln_quantize_row_q8_0_ref, kiln_vec_dot_q8_0_q8_0, KILN_TYPE_Q8_0},
    {"Q8_1", 32, 36, kiln_dequantize_row_q8_1, kiln_quantize_row_q8_1_ref, nullptr, KILN_TYPE_Q8_1},
    {"Q2_K", 256, 84, kiln_dequantize_row_q2_K, kiln_quantize_row_q2_K_ref, kiln_vec_dot_q2_K_q8_K, KILN_TYPE_Q8_K},
    {"Q3_K", 256, 110, kiln_dequantize_row_q3_K, kiln_quantize_row_q3_K_ref, kiln_vec_dot_q3_K_q8_K, KILN_TYPE_Q8_K},
    {"Q4_K", 256, 144, kiln_dequantize_row_q4_K, kiln_quantize_row_q4_K_ref, kiln_vec_dot_q4_K_q8_K, KILN_TYPE_Q8_K},
    {"Q5_K", 256, 176, kiln_dequantize_row_q5_K, kiln_quantize_row_q5_K_ref, kiln_vec_dot_q5_K_q8_K, KILN_TYPE_Q8_K},
    {"Q6_K", 256, 210, kiln_dequantize_row_q6_K, kiln_quantize_row_q6_K_ref, kiln_vec_dot_q6_K_q8_K, KILN_TYPE_Q8_K},
    {"Q8_K", 256, 292, kiln_dequantize_row_q8_K, kiln_quantize_row_q8_K_ref, nullptr, KILN_TYPE_Q8_K},
    {"IQ2_XXS", 256, 66, kiln_dequantize_row_iq2_xxs, kiln_quantize_row_iq2_xxs_ref, kiln_vec_dot_iq2_xxs_q8_K, KILN_TYPE_Q8_K},
    {"IQ2_XS", 256, 74, kiln_dequantize_row_iq2_xs, kiln_quantize_row_iq2_xs_ref, kiln_vec_dot_iq2_xs_q8_K, KILN_TYPE_Q8_K},
    {"IQ3_XXS", 256, 98, kiln_dequantize_row_iq3_xxs, kiln_quantize_row_iq3_xxs_ref, kiln_vec_dot_iq3_xxs_q8_K, KILN_TYPE_Q8_K},
    {"IQ1_S", 256, 50, kiln_dequantize_row_iq1_s, kiln_quantize_row_iq1_s_ref, kiln_vec_dot_iq1_s_q8_K, KILN_TYPE_Q8_K},
    {"IQ4_NL", 32, 18, kiln_dequantize_row_iq4_nl, kiln_quantize_row_iq4_nl_ref, kiln_vec_dot_iq4_nl_q8_0, KILN_TYPE_Q8_0},
    {"IQ3_S", 256, 110, kiln_dequantize_row_iq3_s, kiln_quantize_row_iq3_s_ref, kiln_vec_dot_iq3_s_q8_K, KILN_TYPE_Q8_K},
    {"IQ2_S", 256, 82, kiln_dequantize_row_iq2_s, kiln_quantize_row_iq2_s_ref, kiln_vec_dot_iq2_s_q8_K, KILN_TYPE_Q8_K},
    {"IQ4_XS", 256, 136, kiln_dequantize_row_iq4_xs, kiln_quantize_row_iq4_xs_ref, kiln_vec_dot_iq4_xs_q8_K, KILN_TYPE_Q8_K},
    {nullptr, 0, 0, nullptr, nullptr, nullptr, KILN_TYPE_F32}, // 24..28: integer and F64 types (no kernels)
    {nullptr, 0, 0, nullptr, nullptr, nullptr, KILN_TYPE_F32},
    {nullptr, 0, 0, nullptr, nullptr, nullptr, KILN_TYPE_F32},
    {nullptr, 0, 0, nullptr, nullptr, nullptr, KILN_TYPE_F32},
    {nullptr, 0, 0, nullptr, nullptr, nullptr, KILN_TYPE_F32},
    {"IQ1_M", 256, 56, kiln_dequantize_row_iq1_m, nullptr, kiln_vec_dot_iq1_m_q8_K, KILN_TYPE_Q8_K},
    {"BF16", 1, 2, kiln_to_float_bf16, kiln_from_float_bf16, kiln_vec_dot_bf16_f32, KILN_TYPE_F32},
    {nullptr, 0, 0, nullptr, nullptr, nullptr, KILN_TYPE_F32}, // 31..33: retired Q4_0_4_4 / Q4_0_4_8 / Q4_0_8_8
    {nullptr, 0, 0, nullptr, nullptr, nullptr, KILN_TYPE_F32},
    {nullptr, 0, 0, nullptr, nullptr, nullptr, KILN_TYPE_F32},
    {"TQ1_0", 256, 54, kiln_dequantize_row_tq1_0, nullptr, kiln_vec_dot_tq1_0_q8_K, KILN_TYPE_Q8_K},
    {"TQ2_0", 256, 66, kiln_dequantize_row_tq2_0, nullptr, kiln_vec_dot_tq2_0_q8_K, KILN_TYPE_Q8_K},
    {nullptr, 0, 0, nullptr, nullptr, nullptr, KILN_TYPE_F32}, // 36..38: retired IQ4_NL_4_4 / _4_8 / _8_8
    {nullptr, 0, 0, nullptr, nullptr, nullptr, KILN_TYPE_F32},
    {nullptr, 0, 0, nullptr, nullptr, nullptr, KILN_TYPE_F32},
    {"MXFP4", 32, 17, kiln_dequantize_row_mxfp4, nullptr, kiln_vec_dot_mxfp4_q8_0, KILN_TYPE_Q8_0},
};
static_assert(sizeof TRAITS / sizeof TRAITS[0] == KILN_TYPE_COUNT, "one row per type id");

} // namespace

extern "C" const kiln_type_traits *kiln_type_traits_of(int type) {
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
  case KILN_TYPE_IQ4_NL: return kiln_quantize_row_iq4_nl_w;
  case KILN_TYPE_IQ4_XS: return kiln_quantize_row_iq4_xs_w;
  case KILN_TYPE_IQ3_XXS: return kiln_quantize_row_iq3_xxs_w;
  case KILN_TYPE_IQ3_S: return kiln_quantize_row_iq3_s_w;
  case KILN_TYPE_IQ2_XXS: return kiln_quantize_row_iq2_xxs_w;
  case KILN_TYPE_IQ2_XS: return kiln_quantize_row_iq2_xs_w;
  case KILN_TYPE_IQ2_S: return kiln_quantize_row_iq2_s_w;
  case KILN_TYPE_IQ1_S: return kiln_quantize_row_iq1_s_w;
  default: return nullptr;
  }
}

extern "C" kiln_from_float_fn kiln_plain_quantizer(int type) {
  switch (type) {
  case KILN_TYPE_Q3_K: return kiln_quantize_row_q3_K_plain;
  case KILN_TYPE_Q4_K: return kiln_quantize_row_q4_K_plain;
  default: return nullptr;
  }
}
