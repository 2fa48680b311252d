// Shared by the matmul shaders: reading bytes and binary16 values out of the
// 32-bit words of the weight buffer `w`, and dequantizing element i of the row
// starting at byte `base` for the ggml type TYPE (a specialization constant).
uint rb(uint i) { return (w[i >> 2] >> ((i & 3u) * 8u)) & 0xFFu; }
float rh(uint i) { uint v = w[i >> 2]; return unpackHalf2x16((i & 2u) != 0u ? v >> 16 : v & 0xFFFFu).x; }
int rs8(uint i) { int v = int(rb(i)); return v >= 128 ? v - 256 : v; }

// The 6-bit scale (.x) and min (.y) of sub-block j of a Q4_K/Q5_K super-block whose 12 scale bytes start at s.
uvec2 scale_min(uint s, uint j) {
  if (j < 4u) return uvec2(rb(s + j) & 63u, rb(s + j + 4u) & 63u);
  return uvec2((rb(s + j + 4u) & 15u) | ((rb(s + j - 4u) >> 6) << 4), (rb(s + j + 4u) >> 4) | ((rb(s + j) >> 6) << 4));
}

float deq(uint base, uint i) {
  if (TYPE == 0u) return uintBitsToFloat(w[(base >> 2) + i]);
  if (TYPE == 1u) return rh(base + 2u * i);
  if (TYPE == 2u) { // Q4_0: 18-byte blocks of 32
    uint b = base + (i >> 5) * 18u, j = i & 31u;
    uint q = j < 16u ? rb(b + 2u + j) & 15u : rb(b + 2u + j - 16u) >> 4;
    return rh(b) * (float(q) - 8.0);
  }
  if (TYPE == 3u) { // Q4_1: 20-byte blocks of 32, d * q + m
    uint b = base + (i >> 5) * 20u, j = i & 31u;
    uint q = j < 16u ? rb(b + 4u + j) & 15u : rb(b + 4u + j - 16u) >> 4;
    return rh(b) * float(q) + rh(b + 2u);
  }
  if (TYPE == 6u || TYPE == 7u) { // Q5_0 (22 bytes, d * (q - 16)) / Q5_1 (24 bytes, d * q + m): bit 4 of value j is bit j of qh
    uint sz = TYPE == 6u ? 22u : 24u, h = TYPE == 6u ? 2u : 4u;
    uint b = base + (i >> 5) * sz, j = i & 31u;
    uint qs = b + h + 4u;
    uint q = j < 16u ? rb(qs + j) & 15u : rb(qs + j - 16u) >> 4;
    q |= ((rb(b + h + (j >> 3)) >> (j & 7u)) & 1u) << 4;
    return TYPE == 6u ? rh(b) * (float(q) - 16.0) : rh(b) * float(q) + rh(b + 2u);
  }
  if (TYPE == 8u) { // Q8_0: 34-byte blocks of 32
    uint b = base + (i >> 5) * 34u;
    return rh(b) * float(rs8(b + 2u + (i & 31u)));
  }
  if (TYPE == 12u || TYPE == 13u) { // Q4_K (144 bytes) / Q5_K (176 bytes) super-blocks of 256
    uint sz = TYPE == 12u ? 144u : 176u;
    uint b = base + (i >> 8) * sz, e = i & 255u;
    uint sub = e >> 5, l = e & 31u, c = e >> 6;
    uvec2 sm = scale_min(b + 4u, sub);
    uint qs = TYPE == 12u ? b + 16u : b + 48u;
    uint q = (rb(qs + 32u * c + l) >> (4u * (sub & 1u))) & 15u;
    if (TYPE == 13u) q |= ((rb(b + 16u + l) >> sub) & 1u) << 4;
    return rh(b) * float(sm.x) * float(q) - rh(b + 2u) * float(sm.y);
  }
  if (TYPE == 14u) { // Q6_K: 210-byte super-blocks of 256
    uint b = base + (i >> 8) * 210u, e = i & 255u;
    uint h = e >> 7, r = e & 127u;
    uint lo = (rb(b + 64u * h + (r & 63u)) >> (4u * (r >> 6))) & 15u;
    uint hi = (rb(b + 128u + 32u * h + (r & 31u)) >> (2u * (r >> 5))) & 3u;
    return rh(b + 208u) * float(rs8(b + 192u + (e >> 4))) * (float(lo | (hi << 4)) - 32.0);
  }
  return 0.0;
}

