//! A fully connected layer that burn 0.21 can differentiate twice.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Tensor, TensorData, backend::Backend};

use crate::init::orthogonal;

/// Configuration of a [`Dense`] layer.
#[derive(Config, Debug)]
pub struct DenseConfig {
    /// Input features.
    pub d_input: usize,
    /// Output features.
    pub d_output: usize,
    /// Gain of the orthogonal weight initialisation.
    #[config(default = 1.0)]
    pub gain: f64,
}

impl DenseConfig {
    /// Builds the layer: orthogonal weight scaled by `gain` (drawn from `seed`), zero bias.
    pub fn init<B: Backend>(&self, seed: u64, device: &B::Device) -> Dense<B> {
        // Torch draws the [out, in] weight; transposing an orthogonal matrix keeps it
        // orthogonal, so draw [in, out] directly.
        let w = orthogonal(self.d_input, self.d_output, self.gain, seed);
        let w: Vec<f32> = w.into_iter().map(|x| x as f32).collect();
        let weight = Tensor::from_data(TensorData::new(w, [self.d_input, self.d_output]), device);
        let bias = Tensor::zeros([self.d_output], device);
        Dense {
            weight: Param::from_tensor(weight),
            bias: Param::from_tensor(bias),
        }
    }
}

/// `y = x W + b`, with the field layout of `burn::nn::Linear` (`weight` [in, out],
/// `bias` [out]) so records move between the two.
///
/// burn 0.21's fused `linear` op, which `Linear` calls, panics under second-order
/// differentiation; `matmul` + bias add does not, so the double-backprop Fisher product works
/// through this layer.
#[derive(Module, Debug)]
pub struct Dense<B: Backend> {
    /// Weight, shape [d_input, d_output].
    pub weight: Param<Tensor<B, 2>>,
    /// Bias, shape [d_output].
    pub bias: Param<Tensor<B, 1>>,
}

impl<B: Backend> Dense<B> {
    /// Applies the layer.
    ///
    /// # Shapes
    /// - x: [batch, d_input]
    /// - output: [batch, d_output]
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        x.matmul(self.weight.val()) + self.bias.val().unsqueeze_dim(0)
    }

    /// Input features.
    pub fn d_input(&self) -> usize {
        self.weight.val().dims()[0]
    }

    /// Output features.
    pub fn d_output(&self) -> usize {
        self.weight.val().dims()[1]
    }
}
