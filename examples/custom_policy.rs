//! Your own burn module trained by cinder's TRPO: a policy with a shared torso feeding a mean
//! head and a state-dependent log-std head.
//!
//! What a burn project implements to plug in:
//! 1. the module, with `#[derive(Module)]`, built from `cinder::policy::Dense` (matmul + bias)
//!    rather than `burn::nn::Linear`, whose fused op burn 0.21 cannot differentiate twice;
//! 2. `Policy` — observations to an action distribution;
//! 3. `FisherPolicy` — which Fisher-vector product TRPO uses. The built-in MLPs have the fast
//!    Gauss-Newton product; any twice-differentiable module gets the double-backprop one by
//!    calling `double_backprop_operator`.
//!
//! Then `Trainer::new(config, policy, …)` runs the same loop as for the built-in policies
//! (rollouts, GAE, CG, line search, critic fit, evaluation, checkpoints).
//!
//! Run: `cargo run --release -p cinder --example custom_policy`

use burn::backend::Autodiff;
use burn::module::Module;
use burn::tensor::{Tensor, backend::Backend};
use cinder::algo::{
    AlgoConfig, FisherPolicy, FvpKind, NoCallback, TrainConfig, Trainer, TrpoConfig,
    double_backprop_operator,
};
use cinder::fisher::{FisherVectorProduct, FvpConfig};
use cinder::policy::{Dense, DenseConfig, DiagGaussian, GaussianFamily, Policy};

/// Torso → tanh → (mean head, log-std head).
#[derive(Module, Debug)]
struct TorsoPolicy<B: Backend> {
    torso: Dense<B>,
    mean: Dense<B>,
    log_std: Dense<B>,
}

impl<B: Backend> TorsoPolicy<B> {
    fn new(obs_dim: usize, act_dim: usize, device: &B::Device) -> Self {
        Self {
            torso: DenseConfig::new(obs_dim, 64)
                .with_gain(2f64.sqrt())
                .init(1, device),
            mean: DenseConfig::new(64, act_dim)
                .with_gain(0.01)
                .init(2, device),
            log_std: DenseConfig::new(64, act_dim)
                .with_gain(0.01)
                .init(3, device),
        }
    }
}

impl<B: Backend> Policy<B> for TorsoPolicy<B> {
    type Family = GaussianFamily;

    fn distribution(&self, obs: Tensor<B, 2>) -> DiagGaussian<B> {
        let h = self.torso.forward(obs).tanh();
        // A bounded state-dependent log std: tanh keeps it in [-2, 1].
        let log_std = self
            .log_std
            .forward(h.clone())
            .tanh()
            .mul_scalar(1.5)
            .sub_scalar(0.5);
        DiagGaussian::new(self.mean.forward(h), log_std)
    }
}

impl<B: Backend> FisherPolicy<B> for TorsoPolicy<B> {
    fn fisher_operator(
        &self,
        obs: Tensor<B, 2>,
        kind: FvpKind,
        config: &FvpConfig,
    ) -> cinder::algo::Result<Box<dyn FisherVectorProduct<B>>> {
        double_backprop_operator(self, obs, kind, config)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    type B = Autodiff<cinder::backend::Flex>;
    let device = Default::default();
    let algo = TrpoConfig::new()
        .with_fvp(FvpKind::DoubleBackprop)
        .with_n_critic_updates(15);
    let config = TrainConfig::new("Pendulum-v1".into(), AlgoConfig::Trpo(algo))
        .with_num_envs(2)
        .with_n_steps(1024)
        .with_gamma(0.9)
        .with_total_timesteps(120_832);
    let policy = TorsoPolicy::<B>::new(3, 1, &device);
    let mut trainer = Trainer::new(config, policy, None, &device)?;
    let summary = trainer.train(&mut NoCallback)?;
    println!(
        "TorsoPolicy, TRPO with the double-backprop FVP on Pendulum-v1: {} steps in {:.1} s, \
         evaluation {:.1} ± {:.1} (random policy ≈ -1200)",
        summary.steps,
        summary.wall_s,
        summary.final_eval.mean_return,
        summary.final_eval.std_return
    );
    Ok(())
}
