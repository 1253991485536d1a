//! Batched conjugate gradient on the device.
//!
//! [`conjugate_gradient`] solves K independent symmetric positive-definite systems
//! `A_k x_k = b_k` at once, with `A` given only as an operator `[K, n] → [K, n]` (for TRPO,
//! the damped Fisher-vector product). Every scalar of the iteration — step sizes, residual
//! norms, convergence and breakdown flags — is a device tensor of shape [K, 1]; the loop never
//! reads anything back, so on an asynchronous backend the whole solve is queued at once. A
//! system that has converged or broken down is frozen by masking while the others go on.
//!
//! ```
//! use burn::backend::Flex;
//! use burn::tensor::{Tensor, TensorData};
//! use cinder_cg::{CgConfig, conjugate_gradient};
//!
//! let device = Default::default();
//! // A = diag(1, 2, 4) for one system, b = (1, 1, 1).
//! let a = Tensor::<Flex, 2>::from_data(TensorData::new(vec![1f32, 2., 4.], [1, 3]), &device);
//! let b = Tensor::<Flex, 2>::ones([1, 3], &device);
//! let sol = conjugate_gradient(|v: Tensor<Flex, 2>| v * a.clone(), b, &CgConfig::new()).unwrap();
//! let x = sol.x.into_data().to_vec::<f32>().unwrap();
//! assert!((x[0] - 1.0).abs() < 1e-5 && (x[1] - 0.5).abs() < 1e-5 && (x[2] - 0.25).abs() < 1e-5);
//! ```
#![warn(missing_docs)]

use burn::tensor::{Bool, Int, Tensor, backend::Backend};

/// What is wrong with a CG request.
#[derive(Debug, thiserror::Error)]
pub enum CgError {
    /// A configuration value cannot work.
    #[error("invalid CG configuration: `{field}` {reason}")]
    InvalidConfig {
        /// The offending field.
        field: &'static str,
        /// Why, and what to use instead.
        reason: String,
    },
    /// The right-hand side has no rows or no columns.
    #[error("right-hand side has shape {shape:?}; expected [K, n] with K ≥ 1 and n ≥ 1")]
    EmptySystem {
        /// The shape given.
        shape: [usize; 2],
    },
}

/// `Result` with [`CgError`].
pub type Result<T> = std::result::Result<T, CgError>;

pub use config::CgConfig;

mod config {
    use burn::config::Config;

    /// Settings of [`conjugate_gradient`]; defaults as sb3-contrib's TRPO.
    #[derive(Config, Debug)]
    pub struct CgConfig {
        /// Iteration budget: exactly this many operator applications are made (sb3-contrib
        /// `cg_max_steps` = 15; pytorch-trpo uses 10).
        #[config(default = 15)]
        pub max_iters: usize,
        /// A system stops once its squared residual norm `‖r‖²` is at most this (pytorch-trpo's
        /// `residual_tol` = 1e-10). Set 0 to always spend the whole budget.
        #[config(default = 1e-10)]
        pub residual_tol: f64,
    }
}

/// The result of a batched solve. All fields stay on the device; read them together (e.g.
/// in one `burn::tensor::Transaction`) once the caller needs them.
#[derive(Debug, Clone)]
pub struct CgSolution<B: Backend> {
    /// Solutions, [K, n]. A system that broke down holds its last good iterate.
    pub x: Tensor<B, 2>,
    /// Euclidean norm of the final residual `b − A x` as tracked by the recurrence, [K].
    pub residual_norm: Tensor<B, 1>,
    /// Iterations each system actually took, [K].
    pub iterations: Tensor<B, 1, Int>,
    /// Systems that broke down (`pᵀAp ≤ 0` or a non-finite value), [K].
    pub breakdown: Tensor<B, 1, Bool>,
}

/// Solves `A x = b` for K independent systems by conjugate gradient from `x₀ = 0`.
///
/// `op` maps a batch of K vectors to `A_k v_k` for each row; it must be linear, symmetric and
/// positive definite per system. It is called exactly `config.max_iters` times — systems that
/// have converged or broken down are carried along frozen rather than tested on the host, so
/// no value leaves the device inside the loop.
///
/// Breakdown (a non-positive curvature `pᵀAp`, or a non-finite curvature, step or residual)
/// freezes that system at its last good iterate and sets its `breakdown` flag; the other
/// systems are unaffected.
///
/// # Shapes
/// - b: [K, n]
/// - op: [K, n] → [K, n]
pub fn conjugate_gradient<B: Backend>(
    mut op: impl FnMut(Tensor<B, 2>) -> Tensor<B, 2>,
    b: Tensor<B, 2>,
    config: &CgConfig,
) -> Result<CgSolution<B>> {
    if !(config.residual_tol >= 0.0 && config.residual_tol.is_finite()) {
        return Err(CgError::InvalidConfig {
            field: "residual_tol",
            reason: format!("is {}; use a finite value ≥ 0", config.residual_tol),
        });
    }
    let [k, n] = b.dims();
    if k == 0 || n == 0 {
        return Err(CgError::EmptySystem { shape: [k, n] });
    }
    let device = b.device();
    let dot = |a: &Tensor<B, 2>, c: &Tensor<B, 2>| (a.clone() * c.clone()).sum_dim(1); // [K, 1]
    let widen = |m: &Tensor<B, 2, Bool>| m.clone().expand([k, n]);

    let mut x = Tensor::<B, 2>::zeros([k, n], &device);
    let mut r = b.clone();
    let mut p = b;
    let mut rr = dot(&r, &r);
    // A system is active while it has neither converged nor broken down.
    let mut broken = rr.clone().is_finite().bool_not();
    let mut active = rr
        .clone()
        .greater_elem(config.residual_tol)
        .bool_and(broken.clone().bool_not());
    let mut iterations = Tensor::<B, 2, Int>::zeros([k, 1], &device);

    for _ in 0..config.max_iters {
        let ap = op(p.clone());
        let pap = dot(&p, &ap);
        // Guard divisions so frozen systems never produce NaN/inf that could leak into the
        // masked selects below.
        let safe_pap = pap.clone().mask_fill(active.clone().bool_not(), 1.0);
        let alpha = rr.clone() / safe_pap;
        let x_new = x.clone() + p.clone() * alpha.clone();
        let r_new = r.clone() - ap * alpha;
        let rr_new = dot(&r_new, &r_new);

        let bad = pap
            .clone()
            .lower_equal_elem(0.0)
            .bool_or(pap.is_finite().bool_not())
            .bool_or(rr_new.clone().is_finite().bool_not())
            .bool_or(dot(&x_new, &x_new).is_finite().bool_not())
            .bool_and(active.clone());
        let step = active.clone().bool_and(bad.clone().bool_not());

        let safe_rr = rr.clone().mask_fill(step.clone().bool_not(), 1.0);
        let beta = rr_new.clone() / safe_rr;
        let p_new = r_new.clone() + p.clone() * beta;

        let wide = widen(&step);
        x = x.mask_where(wide.clone(), x_new);
        r = r.mask_where(wide.clone(), r_new);
        p = p.mask_where(wide, p_new);
        rr = rr.mask_where(step.clone(), rr_new);
        iterations = iterations + step.clone().int();
        broken = broken.bool_or(bad);
        active = step.bool_and(rr.clone().greater_elem(config.residual_tol));
    }

    Ok(CgSolution {
        x,
        residual_norm: rr.sqrt().squeeze_dim::<1>(1),
        iterations: iterations.squeeze_dim::<1>(1),
        breakdown: broken.squeeze_dim::<1>(1),
    })
}
