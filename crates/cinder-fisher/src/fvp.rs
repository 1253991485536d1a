//! The Fisher-vector product trait and its settings.

use crate::FisherError;
use burn::config::Config;
use burn::tensor::{Int, Tensor, backend::Backend};

/// The damped Fisher-vector product `v ↦ (F + λI) v`, for a batch of K vectors at once.
pub trait FisherVectorProduct<B: Backend> {
    /// Length `n` of a parameter vector.
    fn num_params(&self) -> usize;

    /// Number of vectors `K` each call takes (one per policy for a stacked operator).
    fn num_systems(&self) -> usize;

    /// `(F + λI) v`, row by row.
    ///
    /// # Shapes
    /// - v: [K, n]
    /// - output: [K, n]
    fn apply(&mut self, v: Tensor<B, 2>) -> Tensor<B, 2>;
}

/// Settings shared by the Fisher-vector products; defaults as sb3-contrib's TRPO.
#[derive(Config, Debug)]
pub struct FvpConfig {
    /// Damping `λ` added to the Fisher matrix (`cg_damping`).
    #[config(default = 0.1)]
    pub damping: f64,
    /// Use every `k`-th observation of the batch for the product (sb3-contrib's
    /// `sub_sampling_factor`); 1 uses all of them.
    #[config(default = 1)]
    pub sub_sampling_factor: usize,
}

impl FvpConfig {
    /// Checks the values; the error names the field to fix.
    pub fn validate(&self) -> crate::Result<()> {
        if !(self.damping.is_finite() && self.damping >= 0.0) {
            return Err(FisherError::InvalidConfig {
                field: "damping",
                reason: format!("is {}; use a finite value ≥ 0", self.damping),
            });
        }
        if self.sub_sampling_factor == 0 {
            return Err(FisherError::InvalidConfig {
                field: "sub_sampling_factor",
                reason: "is 0; use 1 to keep every observation, k to keep every k-th".into(),
            });
        }
        Ok(())
    }
}

/// Every `factor`-th row of `x`, starting with the first (`x[::factor]`), on the device.
///
/// # Shapes
/// - x: [batch, …]
/// - output: [⌈batch / factor⌉, …]
pub fn subsample_rows<B: Backend, const D: usize>(x: Tensor<B, D>, factor: usize) -> Tensor<B, D> {
    if factor <= 1 {
        return x;
    }
    let n = x.dims()[0];
    let idx = Tensor::<B, 1, Int>::arange_step(0..n as i64, factor, &x.device());
    x.select(0, idx)
}
