#include "sampling.h"

#include <algorithm>
#include <cmath>

namespace genius {

uint64_t Rng::next() {
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

double Rng::uniform() { return (next() >> 11) * (1.0 / 9007199254740992.0); }

static float max_logit(const float* l, int32_t n) {
  float m = l[0];
  for (int32_t i = 1; i < n; ++i) m = std::max(m, l[i]);
  return m;
}

// log sum exp((l - m) * scale), accumulated in double so that 128k-token vocabularies stay exact.
static double log_sum_exp(const float* l, int32_t n, float m, float scale) {
  double s = 0;
  for (int32_t i = 0; i < n; ++i) s += std::exp(static_cast<double>((l[i] - m) * scale));
  return std::log(s);
}

float raw_logprob(const float* logits, int32_t n_vocab, llama_token token) {
  const float m = max_logit(logits, n_vocab);
  return static_cast<float>(logits[token] - m - log_sum_exp(logits, n_vocab, m, 1.0f));
}

Sampled Sampler::sample(const float* l, int32_t n, const SamplingParams& p, Rng& rng) {
  const float m = max_logit(l, n);
  const double lse_raw = log_sum_exp(l, n, m, 1.0f);
  auto raw = [&](llama_token t) { return static_cast<float>(l[t] - m - lse_raw); };

  if (p.temperature <= 0.0f) {
    llama_token best = 0;
    for (int32_t i = 1; i < n; ++i)
      if (l[i] > l[best]) best = i;
    return {best, raw(best), 0.0f};
  }
  const float inv_t = 1.0f / p.temperature;
  const bool use_top_k = p.top_k > 0 && p.top_k < n;
  const bool use_top_p = p.top_p < 1.0f;

  if (!use_top_k && !use_top_p) {
    // Plain temperature sampling: one pass for Z, one inverse-CDF pass.
    const double lse = log_sum_exp(l, n, m, inv_t);
    const double u = rng.uniform();
    double cum = 0;
    llama_token pick = n - 1;
    for (int32_t i = 0; i < n; ++i) {
      cum += std::exp(static_cast<double>((l[i] - m) * inv_t) - lse);
      if (u < cum) {
        pick = i;
        break;
      }
    }
    return {pick, raw(pick), static_cast<float>((l[pick] - m) * inv_t - lse)};
  }

  cands_.resize(n);
  for (int32_t i = 0; i < n; ++i) cands_[i] = {l[i], i};
  auto by_logit = [](const Cand& a, const Cand& b) { return a.logit > b.logit || (a.logit == b.logit && a.id < b.id); };
  int32_t keep = n;
  if (use_top_k) {
    std::partial_sort(cands_.begin(), cands_.begin() + p.top_k, cands_.end(), by_logit);
    keep = p.top_k;
  }
  // Probabilities over the kept set (top-p is measured after top-k, as llama.cpp's chain does).
  double z = 0;
  for (int32_t i = 0; i < keep; ++i) z += std::exp(static_cast<double>((cands_[i].logit - m) * inv_t));
  if (use_top_p) {
    // Sort only as far as needed: grow the sorted prefix until it holds top_p of the mass.
    int32_t sorted = use_top_k ? keep : 0;
    int32_t want = std::min<int32_t>(keep, 64);
    double cum = 0;
    int32_t cut = keep;
    for (int32_t i = 0; i < keep; ++i) {
      if (i >= sorted) {
        want = std::min<int32_t>(keep, std::max<int32_t>(want * 8, i + 1));
        std::partial_sort(cands_.begin() + i, cands_.begin() + want, cands_.begin() + keep, by_logit);
        sorted = want;
      }
      cum += std::exp(static_cast<double>((cands_[i].logit - m) * inv_t)) / z;
      if (cum >= p.top_p) {
        cut = i + 1;
        break;
      }
    }
    keep = cut;
    z = 0;
    for (int32_t i = 0; i < keep; ++i) z += std::exp(static_cast<double>((cands_[i].logit - m) * inv_t));
  }
  const double u = rng.uniform() * z;
  double cum = 0;
  int32_t pick = keep - 1;
  for (int32_t i = 0; i < keep; ++i) {
    cum += std::exp(static_cast<double>((cands_[i].logit - m) * inv_t));
    if (u < cum) {
      pick = i;
      break;
    }
  }
  const llama_token t = cands_[pick].id;
  return {t, raw(t), static_cast<float>((l[t] - m) * inv_t - std::log(z))};
}

}  // namespace genius
