//! Shared helpers of the integration tests: host data, host reference maths, and the macro
//! that runs each generic test on every compiled-in backend.
#![allow(dead_code)]

use burn::tensor::{Tensor, TensorData, backend::Backend};
use rand::{SeedableRng, rngs::StdRng};
use rand_distr::{Distribution, StandardNormal};

/// Instantiates `fn name<B: Backend>(device: &B::Device)` as a `#[test]` per backend.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        #[cfg(feature = "flex")]
        mod flex {
            $( #[test] fn $name() { super::$name::<cinder::backend::Flex>(&Default::default()); } )*
        }
        #[cfg(feature = "ndarray")]
        mod ndarray {
            $( #[test] fn $name() { super::$name::<cinder::backend::NdArray>(&Default::default()); } )*
        }
        #[cfg(feature = "wgpu")]
        mod wgpu {
            $( #[test] fn $name() { super::$name::<cinder::backend::Wgpu>(&Default::default()); } )*
        }
    };
}

/// A seeded RNG.
pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// `n` standard-normal draws.
pub fn normal_vec(n: usize, rng: &mut StdRng) -> Vec<f64> {
    (0..n).map(|_| StandardNormal.sample(rng)).collect()
}

/// Host values as an f32 tensor.
pub fn tensor<B: Backend, const D: usize>(
    v: &[f64],
    shape: [usize; D],
    device: &B::Device,
) -> Tensor<B, D> {
    let v: Vec<f32> = v.iter().map(|&x| x as f32).collect();
    Tensor::from_data(TensorData::new(v, shape), device)
}

/// A tensor's values on the host, as f64.
pub fn host<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f64> {
    t.into_data().iter::<f64>().collect()
}

/// `‖a − b‖ / ‖b‖`.
pub fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    cinder::bench::rel_err(a, b)
}

/// Element-wise `|got − want| ≤ tol · (1 + |want|)`.
pub fn assert_close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{what}[{i}]: got {g}, want {w} (tol {tol})"
        );
    }
}
