#version 450
// Causal attention of n tokens over one layer's f16 KV cache: one workgroup
// per (query head, token). Token t sits at position tok[2t] of the sequence
// whose cache rows start at row tok[2t + 1], and sees that sequence's rows only. softcap (0: off) caps the
// scaled scores as cap * tanh(s / cap); window (0: none) limits a query at
// position P to positions (P - window, P]. Positions are taken in chunks
// whose scores sit in shared memory, with a running max and sum (online
// softmax), so any context length fits any shared-memory limit.
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Qb { float q[]; };
layout(std430, binding = 1) readonly buffer KCb { uint kc[]; };
layout(std430, binding = 2) readonly buffer VCb { uint vc[]; };
layout(std430, binding = 3) writeonly buffer Ob { float o[]; };
layout(std430, binding = 4) readonly buffer Tb { uint tok[]; };
layout(push_constant) uniform P { uint n, n_head, head_dim, group, kvdim; float scale, softcap; uint window; } p;

const uint CH = 256u;
shared float sc[CH];
shared float red[64];

float kh(uint idx) { uint v = kc[idx >> 1]; return unpackHalf2x16((idx & 1u) != 0u ? v >> 16 : v & 0xFFFFu).x; }
float vh(uint idx) { uint v = vc[idx >> 1]; return unpackHalf2x16((idx & 1u) != 0u ? v >> 16 : v & 0xFFFFu).x; }

float reduce_max(float v, uint tid) {
  red[tid] = v;
  barrier();
  for (uint k = 32u; k > 0u; k >>= 1) {
    if (tid < k) red[tid] = max(red[tid], red[tid + k]);
    barrier();
  }
  float r = red[0];
  barrier();
  return r;
}

float reduce_sum(float v, uint tid) {
  red[tid] = v;
  barrier();
  for (uint k = 32u; k > 0u; k >>= 1) {
    if (tid < k) red[tid] += red[tid + k];
    barrier();
  }
  float r = red[0];
  barrier();
  return r;
}

void main() {
  uint h = gl_WorkGroupID.x, t = gl_WorkGroupID.y, tid = gl_LocalInvocationID.x;
  uint nkv = tok[2u * t] + 1u, row0 = tok[2u * t + 1u];
  uint start = p.window > 0u && nkv > p.window ? nkv - p.window : 0u;
  uint kvh = (h / p.group) * p.head_dim;
  uint qb = (t * p.n_head + h) * p.head_dim;
  float m = -1.0 / 0.0, l = 0.0;
  float acc[4] = float[4](0.0, 0.0, 0.0, 0.0);
  for (uint c0 = start; c0 < nkv; c0 += CH) {
    uint cn = min(CH, nkv - c0);
    float mx = -1.0 / 0.0;
    for (uint s = tid; s < cn; s += 64u) {
      uint kb = (row0 + c0 + s) * p.kvdim + kvh;
      float d = 0.0;
      for (uint i = 0u; i < p.head_dim; i++) d += q[qb + i] * kh(kb + i);
      float x = d * p.scale;
      if (p.softcap != 0.0) x = p.softcap * tanh(x / p.softcap);
      sc[s] = x;
      mx = max(mx, sc[s]);
    }
    float mnew = max(m, reduce_max(mx, tid));
    float corr = exp(m - mnew);
    float ps = 0.0;
    for (uint s = tid; s < cn; s += 64u) {
      sc[s] = exp(sc[s] - mnew);
      ps += sc[s];
    }
    l = l * corr + reduce_sum(ps, tid); // reduce_sum's barriers also publish sc
    for (uint k = 0u; k < 4u; k++) {
      uint d = tid + 64u * k;
      if (d >= p.head_dim) break;
      float a = acc[k] * corr;
      for (uint s = 0u; s < cn; s++) a += sc[s] * vh((row0 + c0 + s) * p.kvdim + kvh + d);
      acc[k] = a;
    }
    m = mnew;
    barrier();
  }
  for (uint k = 0u; k < 4u; k++) {
    uint d = tid + 64u * k;
    if (d < p.head_dim) o[qb + d] = acc[k] / l;
  }
}
