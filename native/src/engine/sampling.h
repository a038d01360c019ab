// Token sampling with the two log-probs Genius needs: under the raw model distribution
// (log-softmax of unmodified logits, temperature 1) and under the distribution actually sampled
// from (temperature, top-k, top-p applied and renormalised).
#pragma once
#include <cstdint>
#include <vector>

#include "llama.h"

namespace genius {

struct SamplingParams {
  float temperature = 1.0f;  // <= 0: greedy
  int32_t top_k = 0;         // 0: off
  float top_p = 1.0f;        // >= 1: off
  uint64_t seed = 0;
};

// splitmix64: per-request stream, so a request's samples do not depend on what else is batched.
class Rng {
 public:
  explicit Rng(uint64_t seed = 0) : state_(seed) {}
  uint64_t next();
  double uniform();  // [0, 1)
 private:
  uint64_t state_;
};

struct Sampled {
  llama_token token;
  float raw_logprob;
  float sample_logprob;
};

// log p(token) under softmax(logits): the raw, temperature-1 log-probability.
float raw_logprob(const float* logits, int32_t n_vocab, llama_token token);

class Sampler {
 public:
  Sampled sample(const float* logits, int32_t n_vocab, const SamplingParams& p, Rng& rng);

 private:
  struct Cand {
    float logit;
    llama_token id;
  };
  std::vector<Cand> cands_;
  std::vector<float> probs_;
};

}  // namespace genius
