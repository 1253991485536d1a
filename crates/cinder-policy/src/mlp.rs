//! Multi-layer perceptron built from [`Dense`] layers.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Tensor, backend::Backend};

use crate::{Activation, Dense, DenseConfig, PolicyError};

/// Configuration of an [`Mlp`].
#[derive(Config, Debug)]
pub struct MlpConfig {
    /// Input features.
    pub d_input: usize,
    /// Output features.
    pub d_output: usize,
    /// Width of each hidden layer, input side first.
    #[config(default = "vec![64, 64]")]
    pub hidden: Vec<usize>,
    /// Hidden-layer activation (the output layer is linear).
    #[config(default = "Activation::Tanh")]
    pub activation: Activation,
    /// Orthogonal-init gain of the hidden layers (√2 in SB3 and CleanRL).
    #[config(default = "std::f64::consts::SQRT_2")]
    pub hidden_gain: f64,
    /// Orthogonal-init gain of the output layer.
    #[config(default = 1.0)]
    pub output_gain: f64,
}

impl MlpConfig {
    /// Checks the configuration; the error names the field to fix.
    pub fn validate(&self) -> crate::Result<()> {
        if self.d_input == 0 {
            return Err(PolicyError::InvalidConfig {
                field: "d_input",
                reason: "must be at least 1 (the observation dimension)".into(),
            });
        }
        if self.d_output == 0 {
            return Err(PolicyError::InvalidConfig {
                field: "d_output",
                reason: "must be at least 1 (the action dimension or number of actions)".into(),
            });
        }
        if let Some(i) = self.hidden.iter().position(|&h| h == 0) {
            return Err(PolicyError::InvalidConfig {
                field: "hidden",
                reason: format!("layer {i} has width 0; every hidden width must be at least 1"),
            });
        }
        for (field, g) in [
            ("hidden_gain", self.hidden_gain),
            ("output_gain", self.output_gain),
        ] {
            if !g.is_finite() || g < 0.0 {
                return Err(PolicyError::InvalidConfig {
                    field,
                    reason: format!("is {g}; it must be a finite non-negative number"),
                });
            }
        }
        Ok(())
    }

    /// Builds the MLP; layer `l` draws its weights from a seed derived from `seed` and `l`.
    pub fn init<B: Backend>(&self, seed: u64, device: &B::Device) -> crate::Result<Mlp<B>> {
        self.validate()?;
        let mut widths = vec![self.d_input];
        widths.extend(&self.hidden);
        widths.push(self.d_output);
        let n = widths.len() - 1;
        let layers = (0..n)
            .map(|l| {
                let gain = if l + 1 == n {
                    self.output_gain
                } else {
                    self.hidden_gain
                };
                DenseConfig::new(widths[l], widths[l + 1])
                    .with_gain(gain)
                    .init(layer_seed(seed, l), device)
            })
            .collect();
        Ok(Mlp {
            layers,
            activation: self.activation,
        })
    }
}

/// A seed per layer, decorrelated from neighbouring seeds (SplitMix64 finaliser).
fn layer_seed(seed: u64, layer: usize) -> u64 {
    let mut z = seed
        .wrapping_add((layer as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(0x2545_F491_4F6C_DD1D);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `Dense → act → … → Dense`: hidden layers with an activation, a linear output layer.
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    /// The layers, input side first; the last one is the linear output layer.
    pub layers: Vec<Dense<B>>,
    /// Hidden-layer activation.
    #[module(skip)]
    pub activation: Activation,
}

/// The hidden outputs of one forward pass, kept for the Gauss-Newton Fisher product.
#[derive(Debug, Clone)]
pub struct MlpTrace<B: Backend> {
    /// `h_l = act(z_l)` of every hidden layer, each [batch, width_l].
    pub hidden: Vec<Tensor<B, 2>>,
    /// The output (pre-activation of the last layer), [batch, d_output].
    pub output: Tensor<B, 2>,
}

impl<B: Backend> Mlp<B> {
    /// Applies the network.
    ///
    /// # Shapes
    /// - x: [batch, d_input]
    /// - output: [batch, d_output]
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let (last, hidden) = self
            .layers
            .split_last()
            .expect("an MLP has an output layer");
        let h = hidden
            .iter()
            .fold(x, |h, layer| self.activation.forward(layer.forward(h)));
        last.forward(h)
    }

    /// Applies the network and keeps every hidden output.
    ///
    /// # Shapes
    /// - x: [batch, d_input]
    /// - trace.hidden\[l\]: [batch, width_l]; trace.output: [batch, d_output]
    pub fn forward_trace(&self, x: Tensor<B, 2>) -> MlpTrace<B> {
        let (last, hidden_layers) = self
            .layers
            .split_last()
            .expect("an MLP has an output layer");
        let mut hidden = Vec::with_capacity(hidden_layers.len());
        let mut h = x;
        for layer in hidden_layers {
            h = self.activation.forward(layer.forward(h));
            hidden.push(h.clone());
        }
        MlpTrace {
            output: last.forward(h),
            hidden,
        }
    }

    /// Input features.
    pub fn d_input(&self) -> usize {
        self.layers[0].d_input()
    }

    /// Output features.
    pub fn d_output(&self) -> usize {
        self.layers[self.layers.len() - 1].d_output()
    }
}
