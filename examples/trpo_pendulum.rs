//! TRPO on Pendulum-v1, every step of the loop written out with cinder's pieces — the place to
//! learn how cinder fits together. `cinder train --env Pendulum-v1 --algo trpo` runs the same
//! algorithm through `cinder::algo::Trainer` (with checkpoints, metrics files and evaluation).
//!
//! Run: `cargo run --release -p cinder --example trpo_pendulum`  (≈ 10 s, ends near −200)

use burn::backend::Autodiff;
use burn::module::{AutodiffModule, Module};
use burn::tensor::{ElementConversion, Tensor, Transaction};
use cinder::algo::batch::normalize;
use cinder::algo::{Batch, RolloutCollector, ValueFitConfig, ValueFitter, gae};
use cinder::cg::{CgConfig, conjugate_gradient};
use cinder::env::wrappers::RecordEpisodeStatistics;
use cinder::env::{StepBatch, VecEnv, make};
use cinder::fisher::{FisherVectorProduct, FvpConfig, GaussNewton};
use cinder::policy::{
    ActionDistribution, DistributionFamily, GaussianFamily, GaussianMlpPolicyConfig, Policy,
    ValueMlpConfig, flat,
};
use rand::SeedableRng;

/// Gradients on `Autodiff<Flex>`; rollouts, Fisher products and the line search on `Flex`.
type B = Autodiff<cinder::backend::Flex>;

// Hyperparameters: sb3-contrib's TRPO defaults with rl-zoo's Pendulum settings.
const SEED: u64 = 0;
const NUM_ENVS: usize = 2;
const N_STEPS: usize = 1024; // per env and update: batches of 2048
const UPDATES: usize = 73; // ≈ 150k env steps
const GAMMA: f64 = 0.9;
const GAE_LAMBDA: f64 = 0.95;
const TARGET_KL: f64 = 0.01; // the trust region δ
const LINE_SEARCH_SHRINK: f64 = 0.8;
const LINE_SEARCH_TRIES: usize = 10;

fn scalar(t: Tensor<cinder::backend::Flex, 1>) -> f64 {
    t.into_scalar().elem()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let device = Default::default();

    // 1. The environment: N Pendulums stepped as one batch (Gymnasium semantics: same-step
    //    auto-reset, final observations, terminated ≠ truncated), episode returns recorded.
    let mut env: Box<dyn VecEnv> = Box::new(RecordEpisodeStatistics::new(
        make("Pendulum-v1", NUM_ENVS, Some(SEED))?,
        100,
    )?);

    // 2. Policy (Gaussian MLP, 64-64 tanh, state-independent log std) and value network, on
    //    the autodiff backend; the critic fit keeps its Adam state across updates.
    let mut policy = GaussianMlpPolicyConfig::new(3, 1).init::<B>(SEED, &device)?;
    let mut value = ValueMlpConfig::new(3).init::<B>(SEED + 1, &device)?;
    let mut critic = ValueFitter::<B>::new(ValueFitConfig::new().with_n_critic_updates(15))?;
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(SEED + 2);
    let mut collector = RolloutCollector::new(env.as_mut(), SEED)?;
    let start = std::time::Instant::now();

    for update in 1..=UPDATES {
        // 3. Rollout: T × N steps with the current policy (on the inner, non-autodiff
        //    backend), recording log π(a|s); then V(s) and V(s') of the state each step led
        //    to, in one batched pass of the value net.
        let mut rollout =
            collector.collect(env.as_mut(), &policy.valid(), N_STEPS, &mut rng, &device)?;
        rollout.evaluate_values(&value.valid(), &device)?;

        // 4. GAE: a truncated episode bootstraps from V(final observation), a terminated one
        //    from 0. Then the batch moves to the device once.
        let advantages = gae(
            &rollout.rewards,
            &rollout.values,
            &rollout.next_values,
            &rollout.terminated,
            &rollout.truncated,
            NUM_ENVS,
            GAMMA,
            GAE_LAMBDA,
        )?;
        let batch = Batch::<B, GaussianFamily>::new(&rollout, &advantages, 1.0, &device)?;
        let adv = normalize(batch.advantages.clone());

        // 5. The surrogate L(θ) = mean(π_θ(a|s) / π_old(a|s) · A) and its gradient g at θ_old.
        let dist = policy.distribution(batch.obs.clone());
        let old = GaussianFamily::map_backend(dist.clone(), |t| t.detach());
        let ratio = (dist.log_prob(batch.actions.clone()) - batch.old_log_probs.clone()).exp();
        let surrogate = (ratio * adv.clone()).mean();
        let g = flat::gradient(&policy, &surrogate.backward());
        let surrogate_old = scalar(surrogate.inner());

        // 6. The natural direction x ≈ (F + λI)⁻¹ g: conjugate gradient on the Gauss-Newton
        //    Fisher-vector product, all on the device (15 products, no read-back inside).
        let mut fisher = GaussNewton::new(
            &policy.valid(),
            batch.obs.clone().inner(),
            &FvpConfig::new(),
        )?;
        let solution =
            conjugate_gradient(|v| fisher.apply(v), g.unsqueeze_dim(0), &CgConfig::new())?;
        let x = solution.x;
        let curvature = scalar((x.clone() * fisher.apply(x.clone())).sum());

        // 7. Scale to the trust region, step = √(2δ / xᵀFx) · x, and backtrack until the mean
        //    KL is within δ and the surrogate improved; otherwise keep θ_old.
        let full_step = x
            .squeeze_dim::<1>(0)
            .mul_scalar((2.0 * TARGET_KL / curvature).sqrt());
        let theta_old = flat::flatten(&policy.valid());
        let mut accepted = None;
        for i in 0..LINE_SEARCH_TRIES {
            let coef = LINE_SEARCH_SHRINK.powi(i as i32);
            let theta = theta_old.clone() + full_step.clone().mul_scalar(coef);
            let candidate = flat::load(policy.clone().no_grad(), Tensor::from_inner(theta))?;
            let dist = candidate.distribution(batch.obs.clone());
            let kl = old.kl(&dist).mean();
            let ratio = (dist.log_prob(batch.actions.clone()) - batch.old_log_probs.clone()).exp();
            let surr = (ratio * adv.clone()).mean();
            let read: Vec<f64> = Transaction::default()
                .register(kl.inner())
                .register(surr.inner())
                .execute()
                .into_iter()
                .map(|d| d.iter::<f64>().next().unwrap_or(f64::NAN))
                .collect();
            let (kl, surr) = (read[0], read[1]);
            if kl <= TARGET_KL && surr > surrogate_old {
                accepted = Some((i, kl, coef));
                break;
            }
        }
        if let Some((_, _, coef)) = accepted {
            policy = flat::load(
                policy,
                Tensor::from_inner(theta_old + full_step.mul_scalar(coef)),
            )?;
        }

        // 8. The critic: minibatch Adam on the GAE returns.
        let (fitted, fit) = critic.fit(value, &batch.host_obs, &batch.host_returns, &mut rng)?;
        value = fitted;

        // 9. Log (CleanRL's names).
        if update % 10 == 0 || update == UPDATES {
            let returns: Vec<f64> = rollout.episodes.iter().map(|e| e.episodic_return).collect();
            let mean = returns.iter().sum::<f64>() / returns.len().max(1) as f64;
            println!(
                "update {update:3}  global_step {:6}  charts/episodic_return {mean:8.1}  \
                 losses/value_loss {:8.3}  trpo/step_kl {}  trpo/backtracks {}",
                update * N_STEPS * NUM_ENVS,
                fit.value_loss,
                accepted.map_or("-".into(), |a| format!("{:.4}", a.1)),
                accepted.map_or("failed".into(), |a| a.0.to_string()),
            );
        }
    }

    // 10. Deterministic evaluation: the mean action, 10 fresh episodes.
    let mut eval = RecordEpisodeStatistics::new(make("Pendulum-v1", 10, Some(SEED + 1000))?, 10)?;
    let mut obs = vec![0.0f32; 10 * 3];
    eval.reset(Some(SEED + 1000), &mut obs)?;
    let mut out = StepBatch::for_env(&eval);
    let inner = policy.valid();
    while eval.episode_count() < 10 {
        let t = Tensor::from_data(burn::tensor::TensorData::new(obs.clone(), [10, 3]), &device);
        let actions: Vec<f32> = inner.distribution(t).mode().into_data().to_vec()?;
        let clipped: Vec<f32> = actions.iter().map(|a| a.clamp(-2.0, 2.0)).collect();
        eval.step(cinder::env::Actions::Continuous(&clipped), &mut out)?;
        obs.copy_from_slice(&out.obs);
    }
    let returns: Vec<f64> = eval.recent().iter().map(|e| e.episodic_return).collect();
    println!(
        "{} s: evaluation over 10 episodes {:.1}",
        start.elapsed().as_secs(),
        returns.iter().sum::<f64>() / 10.0
    );
    Ok(())
}
