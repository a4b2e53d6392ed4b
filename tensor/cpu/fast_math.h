// Float32 erf, normal CDF and exp(-t) for the GELU kernels, written so that
// GCC vectorises the loops that call them (-O3, AVX2): no branches, no libm
// calls. std::erf is scalar and costs ~20x the rest of a GELU; these are
// within ~1.5e-7 (absolute) of the exact erf (tests/tensor/test_elementwise.cpp
// measures the error on a dense grid). Float64 keeps std::erf: gradchecks
// run in float64 and want the exact function.
//
// Why the odd-looking pieces:
//  * Clamps and branch selects compare the IEEE bit patterns as integers. A
//    float comparison whose result feeds later float arithmetic stops GCC's
//    if-conversion (the comparison may trap under -ftrapping-math), and the
//    loop stays scalar; integer compares do not. For non-negative floats the
//    bit patterns order exactly as the values do.
//  * erf is split at |x| = 0.8: below, x·S(x²) (values < 0.75); above,
//    erfc(x) = exp(-x²)·R(x), so that values near 1 come from 1 - (a small
//    term), and the float rounding stays at about one ulp of 1. A single
//    rational x·P(x²)/Q(x²) over the whole range rounds to ~4e-7 near 1.
//  * The coefficients are a minimax-style (Lawson-weighted least squares)
//    fit of ours: S to erf(x)/x on [0, 0.8] (max error 2.5e-9), R to
//    erfcx(x) = exp(x²)·erfc(x) on [0.8, 3.92] (relative error 5e-8).
//    Past 3.92, erf(x) rounds to 1 in float.
#pragma once
#include <cstdint>
#include <cstring>

namespace moco::cpu::fast {

inline int32_t bits_of(float v) {
  int32_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}
inline float float_of(int32_t b) {
  float v;
  std::memcpy(&v, &b, sizeof v);
  return v;
}

// c ? x : y by bit masks: a plain ?: lets GCC sink the arms' arithmetic into
// branches, which it then cannot if-convert (see above).
inline float select(bool c, float x, float y) {
  const int32_t m = -static_cast<int32_t>(c);
  return float_of((bits_of(x) & m) | (bits_of(y) & ~m));
}

// min(v, c) for v >= 0 (or NaN, which gives c) and c > 0.
inline float min_nonneg(float v, float c) {
  const int32_t bv = bits_of(v), bc = bits_of(c);
  return float_of(bv < bc ? bv : bc);
}

// exp(-t) for t >= -88, relative error < 1e-7; 0 for t > 87 (past the float
// normal range), NaN for NaN.
inline float exp_neg(float t) {
  const float tc = min_nonneg(t, 87.0f);
  // -tc = n·ln2 + r with |r| <= ln2/2; n by round-to-nearest with the 1.5·2^23 trick.
  const float kShift = 12582912.0f;
  const float shifted = tc * -1.44269504088896341f + kShift;  // n sits in the low mantissa bits
  const float n = shifted - kShift;
  float r = n * -0.693145751953125f - tc;  // ln2 split in a part exact in float and the rest
  r = n * -1.42860682030941723212e-6f + r;
  // Taylor series of e^r to r^7: truncation error < 6e-9 relative on |r| <= ln2/2.
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  // 2^n from the bits (unsigned arithmetic: a NaN t gives garbage here, not
  // undefined behaviour, and is replaced below).
  const uint32_t nb = static_cast<uint32_t>(bits_of(shifted)) - static_cast<uint32_t>(bits_of(kShift));
  const float e = p * float_of(static_cast<int32_t>((nb + 127u) << 23));
  const int32_t bt = bits_of(t);
  return select(bt > 0x7f800000, t, select(bt > bits_of(87.0f), 0.0f, e));  // NaN; past 87
}

// The two halves of erf(a) for a = |x| >= 0 (t = a²): a·S(t) on [0, 0.8),
// erfc(a) = e·R(a) with e = exp(-t) on [0.8, inf).
inline float erf_small(float a, float t) {
  float s = -0.000654959755364927f;
  s = s * t + 0.005087440044434843f;
  s = s * t + -0.026822108672282394f;
  s = s * t + 0.11283142837601176f;
  s = s * t + -0.37612603821070834f;
  s = s * t + 1.1283791640184107f;
  return a * s;
}
inline float erfc_tail(float a, float e) {
  const float ac = min_nonneg(a, 3.92f);
  float num = -8.409043259249849e-05f;
  num = num * ac + 0.23283566921670315f;
  num = num * ac + 0.7328096998677535f;
  num = num * ac + 1.0008750367615291f;
  float den = 0.40988204257909233f;
  den = den * ac + 1.3221885684854302f;
  den = den * ac + 1.8668812718917682f;
  den = den * ac + 1.0f;
  return e * (num / den);
}
inline bool below_split(float a) { return bits_of(a) < bits_of(0.8f); }

inline float erf(float x) {
  const float a = float_of(bits_of(x) & 0x7fffffff);
  const float t = a * a;
  const float small = erf_small(a, t);
  const float large = 1.0f - erfc_tail(a, exp_neg(t));
  const float r = select(below_split(a), small, large);
  return float_of(bits_of(r) | (bits_of(x) & int32_t(0x80000000u)));  // erf is odd
}

// Phi(x) = (1 + erf(x/√2))/2, the standard normal CDF, and e = exp(-x²/2)
// (the GELU gradient needs both). Left of 0 it is erfc(|u|)/2 directly, not
// 1 + erf(u) with its cancellation, so it keeps relative accuracy far out.
inline float normal_cdf(float x, float& e) {
  const float u = x * 0.70710678118654752f;
  const float a = float_of(bits_of(u) & 0x7fffffff);
  const float t = a * a;
  e = exp_neg(t);
  const float half_erfc = select(below_split(a), 0.5f - 0.5f * erf_small(a, t), 0.5f * erfc_tail(a, e));
  return select(bits_of(u) < 0, half_erfc, 1.0f - half_erfc);
}

// gelu(x) = x·Phi(x) and its derivative Phi(x) + x·phi(x).
inline float gelu(float x) {
  float e;
  return x * normal_cdf(x, e);
}
inline float gelu_grad(float x) {
  float e;
  const float cdf = normal_cdf(x, e);
  return cdf + x * (e * 0.39894228040143268f);  // phi(x) = exp(-x²/2)/√(2π)
}

}  // namespace moco::cpu::fast
