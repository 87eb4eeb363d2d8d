//! The pre-norm transformer shared by both CLIP towers (Hugging Face CLIP layout).

use tch::Tensor;
use tch::nn::{self, Module};

/// Multi-head self-attention with fused scaled-dot-product attention.
#[derive(Debug)]
struct Attention {
    q: nn::Linear,
    k: nn::Linear,
    v: nn::Linear,
    out: nn::Linear,
    heads: i64,
}

impl Attention {
    fn new(p: nn::Path, width: i64, heads: i64) -> Self {
        let lin = |name: &str| nn::linear(&p / name, width, width, Default::default());
        Self {
            q: lin("q_proj"),
            k: lin("k_proj"),
            v: lin("v_proj"),
            out: lin("out_proj"),
            heads,
        }
    }

    fn forward(&self, x: &Tensor, causal: bool) -> Tensor {
        let y = multi_head([&self.q, &self.k, &self.v], x, self.heads, None, causal);
        self.out.forward(&y)
    }
}

/// Multi-head scaled-dot-product attention of `x` `[batch, tokens, width]` through the query,
/// key and value projections, heads merged back (before the output projection). `mask` is
/// boolean, broadcast to `[batch, heads, tokens, tokens]`, true where attention may go.
pub(crate) fn multi_head(
    [q, k, v]: [&nn::Linear; 3],
    x: &Tensor,
    heads: i64,
    mask: Option<&Tensor>,
    causal: bool,
) -> Tensor {
    let (b, n, d) = x.size3().unwrap_or((0, 0, 0));
    let split = |t: Tensor| t.view([b, n, heads, d / heads]).transpose(1, 2);
    let y = Tensor::scaled_dot_product_attention(
        &split(q.forward(x)),
        &split(k.forward(x)),
        &split(v.forward(x)),
        mask.map(Tensor::shallow_clone),
        0.0,
        causal,
        None,
        false,
    );
    y.transpose(1, 2).reshape([b, n, d])
}

/// CLIP's GELU approximation: x * sigmoid(1.702 x).
fn quick_gelu(x: &Tensor) -> Tensor {
    x * (x * 1.702).sigmoid()
}

/// One pre-norm transformer block.
#[derive(Debug)]
struct EncoderLayer {
    ln1: nn::LayerNorm,
    attn: Attention,
    ln2: nn::LayerNorm,
    fc1: nn::Linear,
    fc2: nn::Linear,
}

impl EncoderLayer {
    fn new(p: nn::Path, width: i64, mlp: i64, heads: i64, eps: f64) -> Self {
        let ln = |name: &str| layer_norm(&p / name, width, eps);
        Self {
            ln1: ln("layer_norm1"),
            attn: Attention::new(&p / "self_attn", width, heads),
            ln2: ln("layer_norm2"),
            fc1: nn::linear(&p / "mlp" / "fc1", width, mlp, Default::default()),
            fc2: nn::linear(&p / "mlp" / "fc2", mlp, width, Default::default()),
        }
    }

    fn forward(&self, x: &Tensor, causal: bool) -> Tensor {
        let x = x + self.attn.forward(&self.ln1.forward(x), causal);
        let h = quick_gelu(&self.fc1.forward(&self.ln2.forward(&x)));
        x + self.fc2.forward(&h)
    }
}

/// A stack of transformer blocks (`encoder.layers.N.*`).
#[derive(Debug)]
pub(crate) struct Encoder {
    layers: Vec<EncoderLayer>,
}

/// Width, MLP width, layers, heads and layer-norm epsilon of an encoder.
pub(crate) type EncoderShape = (i64, i64, i64, i64, f64);

impl Encoder {
    pub(crate) fn new(p: nn::Path, shape: EncoderShape) -> Self {
        let (width, mlp, layers, heads, eps) = shape;
        let layers = (0..layers)
            .map(|i| EncoderLayer::new(&p / "layers" / i, width, mlp, heads, eps))
            .collect();
        Self { layers }
    }

    /// Runs all blocks; `causal` masks attention to earlier positions (text tower).
    pub(crate) fn forward(&self, x: &Tensor, causal: bool) -> Tensor {
        self.layers
            .iter()
            .fold(x.shallow_clone(), |h, layer| layer.forward(&h, causal))
    }
}

/// A layer norm with CLIP's epsilon.
pub(crate) fn layer_norm(p: nn::Path, width: i64, eps: f64) -> nn::LayerNorm {
    nn::layer_norm(
        p,
        vec![width],
        nn::LayerNormConfig {
            eps,
            ..Default::default()
        },
    )
}
