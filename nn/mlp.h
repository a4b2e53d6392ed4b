// Multi-layer perceptrons: the transformer's Mlp (fc1 → GELU → fc2, timm's
// names) and build_mlp(), the projection/prediction heads of MoCo v2 and v3.
#pragma once
#include <vector>

#include "nn/sequential.h"

namespace moco::nn {

// timm's Mlp: fc1 (dim → hidden), GELU, fc2 (hidden → out).
class Mlp : public Cloneable<Mlp> {
 public:
  Mlp(int64_t in_features, int64_t hidden_features, int64_t out_features = 0);  // out 0: = in
  std::string type_name() const override { return "Mlp"; }
  Tensor forward(const Tensor& x) override;
};

struct MlpConfig {
  std::vector<int64_t> dims;   // input, hidden..., output: {512, 512, 128}
  bool bias = true;            // Linear biases (MoCo v3: false)
  bool batch_norm = false;     // BatchNorm1d after each hidden Linear (MoCo v3: true)
  bool last_batch_norm = false;        // BatchNorm1d after the last Linear (MoCo v3 projector: true)
  bool last_batch_norm_affine = false; // ... with affine parameters (MoCo v3: false)
};

// Sequential of Linear [+ BatchNorm1d] + ReLU per hidden layer, then the last
// Linear [+ BatchNorm1d]. Children numbered as PyTorch's nn.Sequential:
//   MoCo v2 head {512, 512, 128}:        0 Linear, 1 ReLU, 2 Linear
//   MoCo v3 projector (3 layers, BN):    0 Linear, 1 BN, 2 ReLU, 3 Linear, 4 BN, 5 ReLU, 6 Linear, 7 BN
std::shared_ptr<Sequential> build_mlp(const MlpConfig& cfg);
// MoCo v3's _build_mlp(num_layers, input_dim, mlp_dim, output_dim, last_bn).
std::shared_ptr<Sequential> build_mlp_v3(int64_t num_layers, int64_t input_dim, int64_t mlp_dim, int64_t output_dim,
                                         bool last_bn = true);

}  // namespace moco::nn
