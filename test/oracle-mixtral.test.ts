/**
 * A random-weight mixtral against llama.cpp: `general.architecture` llama
 * with `llama.expert_count` 8 and 2 experts per token (softmax router, the
 * two weights renormalized, each expert `feed_forward_length` 512 wide), 8
 * query heads over 2 KV heads of 32 on a 256-wide model, 3 layers. The same
 * shape quantized by llama.cpp's own quantizer: test/oracle-mixtral-llamaq.test.ts.
 */
import { archOracle } from './helpers/arch-oracle.js';
import { mixtralSpec } from './helpers/moe-specs.js';

// The router is an F32 matrix at every type (llama.cpp multiplies it with its llamafile gemm in a
// batch, its vec_dot for one token) and the experts go one token at a time through the dot kernels
// (its MUL_MAT_ID): the teacher-forced probabilities agree to a few 1e-6.
archOracle('mixtral', (nVocab) => mixtralSpec(nVocab), { probabilities: { types: ['f32', 'q8_0', 'q4_K_M'], tol: 1e-4 } });
