//! Your own burn module as a cinder policy: one natural-gradient (TRPO-style) step, top to
//! bottom.
//!
//! 1. Define a module and implement `cinder::policy::Policy` for it — the only requirement.
//!    Use `Dense` (matmul + bias) rather than `burn::nn::Linear`, whose fused op burn 0.21
//!    cannot differentiate twice.
//! 2. Collect a batch (here: random observations, actions sampled from the policy, random
//!    advantages standing in for GAE).
//! 3. Gradient of the surrogate `mean(ratio · A)` on the first-order autodiff backend.
//! 4. Conjugate gradient on the double-backprop Fisher-vector product, which works for any
//!    `Policy`.
//! 5. Step `√(2δ / xᵀFx) · x`, written back through the flat parameter view; check the KL.
//!
//! Run: `cargo run --release -p cinder --example custom_policy`

use burn::backend::Autodiff;
use burn::module::{Module, Param};
use burn::tensor::{ElementConversion, Tensor, backend::Backend};
use cinder::bench::randn;
use cinder::cg::{CgConfig, conjugate_gradient};
use cinder::fisher::{DoubleBackprop, FisherVectorProduct, FvpConfig};
use cinder::policy::{
    ActionDistribution, Dense, DenseConfig, DiagGaussian, GaussianFamily, Policy, flat,
};
use rand::{SeedableRng, rngs::StdRng};

/// A policy with a gelu hidden layer and a skip connection from the observation.
#[derive(Module, Debug)]
struct SkipPolicy<B: Backend> {
    hidden: Dense<B>,
    skip: Dense<B>,
    head: Dense<B>,
    log_std: Param<Tensor<B, 1>>,
}

impl<B: Backend> SkipPolicy<B> {
    fn new(obs_dim: usize, act_dim: usize, device: &B::Device) -> Self {
        Self {
            hidden: DenseConfig::new(obs_dim, 32)
                .with_gain(2f64.sqrt())
                .init(1, device),
            skip: DenseConfig::new(obs_dim, act_dim)
                .with_gain(0.01)
                .init(2, device),
            head: DenseConfig::new(32, act_dim)
                .with_gain(0.01)
                .init(3, device),
            log_std: Param::from_tensor(Tensor::zeros([act_dim], device)),
        }
    }
}

impl<B: Backend> Policy<B> for SkipPolicy<B> {
    type Family = GaussianFamily;

    fn distribution(&self, obs: Tensor<B, 2>) -> DiagGaussian<B> {
        let h = burn::tensor::activation::gelu(self.hidden.forward(obs.clone()));
        let mean = self.head.forward(h) + self.skip.forward(obs);
        DiagGaussian::with_shared_log_std(mean, self.log_std.val())
    }
}

fn run<B: Backend>(device: B::Device) {
    type Ad<B> = Autodiff<B>;
    let (obs_dim, act_dim, batch, max_kl) = (8, 2, 2048, 0.01);
    let mut rng = StdRng::seed_from_u64(0);
    let policy = SkipPolicy::<B>::new(obs_dim, act_dim, &device);

    // 2. A batch: observations, actions from the current policy, advantages.
    let obs = randn::<B, 2>([batch, obs_dim], &mut rng, &device);
    let old = policy.distribution(obs.clone());
    let actions = old.sample(&mut rng);
    let old_logp = old.log_prob(actions.clone());
    let adv = randn::<B, 1>([batch], &mut rng, &device);

    // 3. Surrogate gradient on the first-order backend.
    let train = flat::require_grad(policy.clone().train::<Ad<B>>());
    let logp = train
        .distribution(Tensor::from_inner(obs.clone()))
        .log_prob(Tensor::from_inner(actions));
    let ratio = (logp - Tensor::from_inner(old_logp)).exp();
    let surrogate = (ratio * Tensor::from_inner(adv)).mean();
    let g = flat::gradient(&train, &surrogate.backward());

    // 4. Natural gradient x ≈ F⁻¹ g by CG on the double-backprop FVP.
    let mut fvp = DoubleBackprop::new(&policy, obs.clone(), &FvpConfig::new()).expect("valid");
    let sol = conjugate_gradient(
        |v| fvp.apply(v),
        g.unsqueeze_dim(0),
        &CgConfig::new().with_max_iters(10),
    )
    .expect("valid");
    let x = sol.x;

    // 5. Scale to the trust region and write the parameters back.
    let xfx = (fvp.apply(x.clone()) * x.clone())
        .sum()
        .into_scalar()
        .elem::<f64>();
    let step = x
        .squeeze_dim::<1>(0)
        .mul_scalar((2.0 * max_kl / xfx).sqrt());
    let theta = flat::flatten(&policy);
    let updated = flat::load(policy, theta + step).expect("same architecture");
    let kl = old
        .kl(&updated.distribution(obs))
        .mean()
        .into_scalar()
        .elem::<f64>();
    println!(
        "natural-gradient step: {} parameters, CG residual {:.2e}, KL after the step {kl:.4} (target ≤ {max_kl})",
        flat::num_params(&updated),
        sol.residual_norm.into_scalar().elem::<f64>(),
    );
}

fn main() {
    run::<cinder::backend::Flex>(Default::default());
}
