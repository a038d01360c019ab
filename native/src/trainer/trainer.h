// The trainer: forward + backward of a llama-family model as one ggml graph per micro-batch
// (packed sequences, block-diagonal causal mask, no KV cache), the preference losses in that graph,
// gradient accumulation, clipping and AdamW, run by ggml-backend on the CPU or CUDA.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "ggml-backend.h"
#include "trainer/weights.h"

namespace genius::train {

struct TrainerOptions {
  std::string model;
  bool full = false;  // train every weight; otherwise a LoRA adapter
  LoraOptions lora;
  bool base_f32 = false;        // LoRA: dequantize the frozen base weights to F32 (the reference path)
  std::string backend = "cpu";  // cpu | cuda
  int threads = 0;              // 0: hardware concurrency
  uint64_t seed = 0;
};

// Several sequences packed into one micro-batch. Each sequence is prompt + response; the loss
// sees the response tokens only (positions prompt_lengths[i] .. lengths[i]-1).
struct Batch {
  std::vector<int32_t> tokens;
  std::vector<int32_t> lengths;
  std::vector<int32_t> prompt_lengths;
};

// Sequences 0..P-1 of the batch are the chosen responses, P..2P-1 the rejected ones (SFT: only
// the P chosen). Sequence log-prob = sum over response tokens (SimPO: the mean).
struct LossSpec {
  std::string type = "aco";  // aco | dpo | ipo | simpo | ropo | sft
  float beta = 0.1f;
  float simpo_gamma = 1.0f;
  float ropo_alpha = 0.2f, ropo_gamma = 0.1f;
  std::vector<float> weight;  // per pair: ACO's calibration weight w (DPO: 1)
  std::vector<float> ref_chosen, ref_rejected;
  float scale = 1.0f;            // 1 / pairs per optimizer step (SFT: 1 / response tokens per step)
  float label_smoothing = 0.0f;  // SFT only: the target is (1 - e) one-hot + e / V
};

struct MicroResult {
  double loss = 0.0;                     // this micro-batch's share of the step's loss
  std::vector<double> chosen, rejected;  // policy sequence log-probs (sum; SimPO: mean)
  std::vector<double> pair_loss;         // unscaled loss of each pair
  int64_t tokens = 0;
};

struct AdamW {
  float lr = 5e-7f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weight_decay = 0.0f;
  float max_grad_norm = 1.0f;  // <= 0: no clipping
};

// A tensor as a backend's supports_op sees it (for the op-support test against ggml-cuda).
struct TensorDesc {
  std::string type;  // ggml_type_name: f32, f16, q4_K, i32, ...
  int64_t ne[4] = {0, 0, 0, 0};
  size_t nb[4] = {0, 0, 0, 0};
  size_t type_size = 0;
  int64_t blck_size = 0;
  bool quantized = false, contiguous = false, contiguous_1 = false, contiguous_2 = false, contiguous_rows = false, transposed = false;
};

struct NodeDesc {
  std::string op;      // ggml_op_name: MUL_MAT, SOFT_MAX, ...
  std::string sub_op;  // the unary or GLU op, else empty
  TensorDesc tensor;
  std::vector<std::optional<TensorDesc>> src;
  std::vector<int32_t> params;  // op_params as int32 words
};

class Trainer {
 public:
  explicit Trainer(const TrainerOptions& o);
  ~Trainer();

  const Hparams& hparams() const { return w_->hp; }
  // The trainable tensors, in the order read_flat/write_parameters lay them out.
  const std::vector<ggml_tensor*>& parameter_tensors() const { return params_; }
  const Weights& weights() const { return *w_; }
  int64_t trainable_parameters() const;
  int64_t total_parameters() const;
  int64_t step_count() const { return step_; }
  std::string backend_name() const;
  // Bytes held on the training backend: weights, gradients, optimizer state, the largest graph.
  size_t memory_bytes() const;
  size_t peak_graph_bytes() const { return peak_graph_bytes_; }
  // Backend splits of the last micro-batch graph: 1 when the main backend ran every node (more:
  // some ran on the CPU fallback, with copies between them).
  int graph_splits() const { return graph_splits_; }

  // Per-token log-probs of every response token, concatenated in batch order (no gradients).
  std::vector<float> logprobs(const Batch& b);
  // Every node of the micro-batch's graph (forward; with `loss`, forward + backward), not computed.
  std::vector<NodeDesc> describe(const Batch& b, const LossSpec* loss);
  // Allocates the micro-batch's training graph without computing it; returns memory_bytes().
  size_t measure(const Batch& b, const LossSpec& loss);
  // Adds this micro-batch's gradients into the accumulators; returns the loss and log-probs.
  MicroResult accumulate(const Batch& b, const LossSpec& loss);
  void zero_grad();
  // Clips, takes one AdamW step, returns the gradient norm before clipping.
  double step(const AdamW& opt);

  // Trainable parameters or their accumulated gradients, concatenated in a fixed order (for
  // gradient checks and inspection), and the inverse for parameters.
  std::vector<float> read_flat(bool gradients) const;
  void write_parameters(const std::vector<float>& flat);

  void save_adapter(const std::string& path) const;
  void save_model(const std::string& path, bool f16 = false) const;
  // Trainable parameters + AdamW moments + step counter, for exact resumption.
  void save_state(const std::string& path) const;
  void load_state(const std::string& path);

 private:
  struct Graph;
  void init(const TrainerOptions& o);
  void release();
  // Throws unless there is something to train: LoRA with no targets is a frozen model that scores.
  void require_parameters() const;
  void validate(const Batch& b, const LossSpec* loss) const;
  void reserve_graph(size_t n_sequences);
  std::unique_ptr<Graph> build(const Batch& b, const LossSpec* loss);
  void compute(Graph& g, const Batch& b, const LossSpec* loss);
  double grad_norm();

  std::unique_ptr<Weights> w_;
  ggml_backend_t backend_ = nullptr;
  ggml_backend_t cpu_ = nullptr;  // fallback for ops the main backend lacks
  ggml_backend_sched_t sched_ = nullptr;
  std::vector<ggml_tensor*> params_;
  ggml_context* grad_ctx_ = nullptr;
  ggml_context* state_ctx_ = nullptr;  // moments, the loss seed
  ggml_backend_buffer_t grad_buf_ = nullptr, state_buf_ = nullptr;
  std::vector<ggml_tensor*> grads_, m_, v_;
  ggml_tensor* loss_seed_ = nullptr;
  int64_t step_ = 0;
  size_t peak_graph_bytes_ = 0;
  int graph_splits_ = 0;
  int graph_size_ = 0;
  // The backward reads transposed operands in place (patch 0008) and the attention products skip
  // their causal zeros (patch 0010): CPU backend only, since only its outer-product kernel takes a
  // transposed src0 or the causal flags. GENIUS_TRAIN_TRANSPOSE_COPIES=1 turns both off.
  bool outer_backward_ = false;
  mutable std::mutex mutex_;
};

}  // namespace genius::train
