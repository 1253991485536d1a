//! TRPO and NPG: the natural-gradient step `F⁻¹ g` by conjugate gradient, scaled to a KL
//! radius; TRPO then backtracks until the KL constraint holds and the surrogate improves.

use burn::config::Config;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Tensor, Transaction};
use cinder_cg::{CgConfig, conjugate_gradient};
use cinder_fisher::FvpConfig;
use cinder_policy::{ActionDistribution, DistributionFamily, ValueMlp, flat};
use rand::Rng;
use std::sync::Arc;
use std::time::Instant;

use crate::batch::{Batch, UpdateStats, read_scalars};
use crate::comm::{self, Communicator};
use crate::error::{AlgoError, Result};
use crate::family::{ActionFamily, AgentPolicy, FisherPolicy, FvpKind};
use crate::value::{PassOrders, ValueFitConfig, ValueFitter};

/// TRPO hyperparameters; names and defaults as sb3-contrib's `TRPO`.
///
/// The KL is the KL divergence between the two policies' action distributions (for a
/// diagonal Gaussian, summed over action dimensions), averaged over the batch: Schulman et
/// al.'s, pytorch-trpo's and Spinning Up's. sb3-contrib instead averages a Gaussian's KL over
/// the action dimensions too, so with d continuous actions its `target_kl` δ and
/// `cg_damping` λ are this config's `d·δ` and `d·λ` (the same step; for one action or a
/// discrete one the numbers agree). The MuJoCo presets convert rl-zoo's values this way.
#[derive(Config, Debug, PartialEq)]
pub struct TrpoConfig {
    /// KL radius δ: the line search accepts a step only if the mean KL(π_old ‖ π_new) is at
    /// most this.
    #[config(default = 0.01)]
    pub target_kl: f64,
    /// Shrink `target_kl` linearly to 0 over training, as CleanRL's `anneal_lr` does PPO's
    /// learning rate: the update at `progress_remaining` p (SB3's, 1 → 0) takes the radius
    /// p·δ, so the last updates move the policy little and the final policy is the one
    /// training settled on.
    #[config(default = false)]
    pub anneal_target_kl: bool,
    /// Conjugate-gradient iterations.
    #[config(default = 15)]
    pub cg_max_steps: usize,
    /// Damping λ added to the Fisher matrix (of the summed KL; see the type's docs).
    #[config(default = 0.1)]
    pub cg_damping: f64,
    /// Step shrink factor of the backtracking line search.
    #[config(default = 0.8)]
    pub line_search_shrinking_factor: f64,
    /// Step sizes tried by the line search.
    #[config(default = 10)]
    pub line_search_max_iter: usize,
    /// Fisher product on every k-th observation.
    #[config(default = 1)]
    pub sub_sampling_factor: usize,
    /// Fisher-vector product implementation.
    #[config(default = "FvpKind::GaussNewton")]
    pub fvp: FvpKind,
    /// Normalise the advantages over the batch.
    #[config(default = true)]
    pub normalize_advantage: bool,
    /// Critic Adam learning rate.
    #[config(default = 1e-3)]
    pub learning_rate: f64,
    /// Critic passes over the batch per update.
    #[config(default = 10)]
    pub n_critic_updates: usize,
    /// Critic minibatch size.
    #[config(default = 128)]
    pub batch_size: usize,
    /// Critic Adam ε. PyTorch's default 1e-8; sb3-contrib's policies use 1e-5
    /// (`--set adam_epsilon=1e-5`), which trained Walker2d-v5 no differently here
    /// (docs/results.md).
    #[config(default = 1e-8)]
    pub adam_epsilon: f32,
}

/// Natural policy gradient hyperparameters (Kakade 2001; Spinning Up's NPG): the TRPO step
/// without the line search.
#[derive(Config, Debug, PartialEq)]
pub struct NpgConfig {
    /// KL radius δ the step is scaled to.
    #[config(default = 0.01)]
    pub target_kl: f64,
    /// Shrink `target_kl` linearly to 0 over training (see [`TrpoConfig::anneal_target_kl`]).
    #[config(default = false)]
    pub anneal_target_kl: bool,
    /// Conjugate-gradient iterations.
    #[config(default = 15)]
    pub cg_max_steps: usize,
    /// Damping λ added to the Fisher matrix.
    #[config(default = 0.1)]
    pub cg_damping: f64,
    /// Fisher product on every k-th observation.
    #[config(default = 1)]
    pub sub_sampling_factor: usize,
    /// Fisher-vector product implementation.
    #[config(default = "FvpKind::GaussNewton")]
    pub fvp: FvpKind,
    /// Normalise the advantages over the batch.
    #[config(default = true)]
    pub normalize_advantage: bool,
    /// Critic Adam learning rate.
    #[config(default = 1e-3)]
    pub learning_rate: f64,
    /// Critic passes over the batch per update.
    #[config(default = 10)]
    pub n_critic_updates: usize,
    /// Critic minibatch size.
    #[config(default = 128)]
    pub batch_size: usize,
    /// Critic Adam ε (see [`TrpoConfig::adam_epsilon`]).
    #[config(default = 1e-8)]
    pub adam_epsilon: f32,
}

fn bad(name: &'static str, value: f64, range: &'static str) -> AlgoError {
    AlgoError::Hyperparameter { name, value, range }
}

impl TrpoConfig {
    /// Checks every hyperparameter's range, naming the first one outside it.
    ///
    /// # Errors
    /// [`AlgoError::Hyperparameter`].
    pub fn validate(&self) -> Result<()> {
        checked_settings(self, true).map(drop)
    }
}

impl NpgConfig {
    /// Checks every hyperparameter's range, naming the first one outside it.
    ///
    /// # Errors
    /// [`AlgoError::Hyperparameter`].
    pub fn validate(&self) -> Result<()> {
        checked_settings(&self.as_trpo(), false).map(drop)
    }

    /// NPG is TRPO's step without the line search.
    fn as_trpo(&self) -> TrpoConfig {
        TrpoConfig::new()
            .with_target_kl(self.target_kl)
            .with_anneal_target_kl(self.anneal_target_kl)
            .with_cg_max_steps(self.cg_max_steps)
            .with_cg_damping(self.cg_damping)
            .with_sub_sampling_factor(self.sub_sampling_factor)
            .with_fvp(self.fvp)
            .with_normalize_advantage(self.normalize_advantage)
            .with_learning_rate(self.learning_rate)
            .with_n_critic_updates(self.n_critic_updates)
            .with_batch_size(self.batch_size)
            .with_adam_epsilon(self.adam_epsilon)
    }
}

/// The step's settings and the critic's config of a TRPO config, range-checked.
fn checked_settings(c: &TrpoConfig, line_search: bool) -> Result<(Settings, ValueFitConfig)> {
    let settings = Settings {
        target_kl: c.target_kl,
        anneal_target_kl: c.anneal_target_kl,
        cg: CgConfig::new().with_max_iters(c.cg_max_steps),
        fvp: FvpConfig::new()
            .with_damping(c.cg_damping)
            .with_sub_sampling_factor(c.sub_sampling_factor),
        fvp_kind: c.fvp,
        line_search: line_search
            .then_some((c.line_search_shrinking_factor, c.line_search_max_iter)),
        normalize_advantage: c.normalize_advantage,
        comm: comm::single_process(),
    };
    settings.validate()?;
    let critic = ValueFitConfig::new()
        .with_learning_rate(c.learning_rate)
        .with_n_critic_updates(c.n_critic_updates)
        .with_batch_size(c.batch_size)
        .with_adam_epsilon(c.adam_epsilon);
    critic.validate()?;
    Ok((settings, critic))
}

/// The shared natural-gradient step.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    target_kl: f64,
    anneal_target_kl: bool,
    cg: CgConfig,
    fvp: FvpConfig,
    fvp_kind: FvpKind,
    /// (shrink, tries) for TRPO, `None` for NPG.
    line_search: Option<(f64, usize)>,
    normalize_advantage: bool,
    /// The ranks whose shards make up the batch (one process by default).
    comm: Arc<dyn Communicator>,
}

impl Settings {
    /// The KL radius of the update at `progress_remaining`.
    fn radius(&self, progress_remaining: f64) -> f64 {
        if self.anneal_target_kl {
            self.target_kl * progress_remaining.clamp(0.0, 1.0)
        } else {
            self.target_kl
        }
    }

    fn validate(&self) -> Result<()> {
        if !(self.target_kl > 0.0 && self.target_kl.is_finite()) {
            return Err(bad("target_kl", self.target_kl, "(0, ∞)"));
        }
        if self.cg.max_iters == 0 {
            return Err(bad("cg_max_steps", 0.0, "≥ 1"));
        }
        if !(self.fvp.damping >= 0.0 && self.fvp.damping.is_finite()) {
            return Err(bad("cg_damping", self.fvp.damping, "[0, ∞)"));
        }
        if self.fvp.sub_sampling_factor == 0 {
            return Err(bad("sub_sampling_factor", 0.0, "≥ 1"));
        }
        if let Some((shrink, tries)) = self.line_search {
            if !(shrink > 0.0 && shrink < 1.0) {
                return Err(bad("line_search_shrinking_factor", shrink, "(0, 1)"));
            }
            if tries == 0 {
                return Err(bad("line_search_max_iter", 0.0, "≥ 1"));
            }
        }
        Ok(())
    }
}

/// TRPO or NPG with its critic.
pub struct NaturalGradient<B: AutodiffBackend> {
    settings: Settings,
    critic: ValueFitter<B>,
}

impl<B: AutodiffBackend> NaturalGradient<B> {
    /// TRPO.
    ///
    /// # Errors
    /// A hyperparameter out of range, named.
    pub fn trpo(c: &TrpoConfig) -> Result<Self> {
        Self::build(c, true)
    }

    /// NPG.
    ///
    /// # Errors
    /// A hyperparameter out of range, named.
    pub fn npg(c: &NpgConfig) -> Result<Self> {
        Self::build(&c.as_trpo(), false)
    }

    fn build(c: &TrpoConfig, line_search: bool) -> Result<Self> {
        let (settings, critic) = checked_settings(c, line_search)?;
        Ok(Self {
            settings,
            critic: ValueFitter::new(critic)?,
        })
    }

    /// Trains data-parallel over `comm`'s ranks: each update averages the advantage
    /// statistics, the policy gradient, every Fisher-vector product, the line search's KL and
    /// surrogate and the critic's minibatch gradients over the ranks' shards, so every rank
    /// takes the same step (see [`comm`](crate::comm)). The critic gets a duplicate of
    /// `comm`, so that the two halves can run on two threads.
    pub fn set_communicator(&mut self, comm: Arc<dyn Communicator>) {
        self.critic.set_communicator(comm.duplicate());
        self.settings.comm = comm;
    }

    /// The critic's fitter (its Adam state is part of a checkpoint).
    pub fn critic(&self) -> &ValueFitter<B> {
        &self.critic
    }

    /// The critic's fitter, mutably (to load a checkpoint).
    pub fn critic_mut(&mut self) -> &mut ValueFitter<B> {
        &mut self.critic
    }

    /// One update: the natural step of the policy, then the critic fit.
    ///
    /// A non-finite surrogate or gradient, a CG breakdown before any good iteration or a
    /// non-positive curvature skips the policy step (`UpdateStats::skipped`); a failed line search keeps the policy as it
    /// was. In both cases the returned policy is the one passed in, bit for bit.
    ///
    /// # Errors
    /// Only for inputs that cannot work at all (e.g. a Fisher operator the policy lacks).
    pub fn update<P: AgentPolicy<B>, R: Rng + ?Sized>(
        &mut self,
        policy: P,
        value: ValueMlp<B>,
        batch: &Batch<B, P::Family>,
        rng: &mut R,
    ) -> Result<(P, ValueMlp<B>, UpdateStats)> {
        let (policy, stats) = self.policy_step(policy, batch)?;
        let (value, stats) = self.fit_critic(value, batch, stats, rng);
        Ok((policy, value, stats))
    }

    /// The critic half of [`update`](Self::update): a non-finite loss or non-finite weights
    /// after the fit keep the value net and the critic's Adam state exactly as they were and
    /// mark the critic fit skipped (`UpdateStats::critic_skipped`); the policy step stands.
    pub fn fit_critic<F: ActionFamily, R: Rng + ?Sized>(
        &mut self,
        value: ValueMlp<B>,
        batch: &Batch<B, F>,
        mut stats: UpdateStats,
        rng: &mut R,
    ) -> (ValueMlp<B>, UpdateStats) {
        let (value, fit) = fit_critic(&mut self.critic, value, batch, rng);
        critic_stats(&mut stats, fit);
        (value, stats)
    }

    /// [`update`](Self::update) with the policy step and the critic fit at the same time: the
    /// policy step on a scoped thread, the critic fit on this one. They read the same batch and
    /// nothing of each other (the critic draws its minibatch order from `rng`, the policy step
    /// draws nothing), so the result is [`update`](Self::update)'s, bit for bit; on a CPU
    /// backend the two take two cores. Also returns how long each half took on its thread, in
    /// seconds (policy step, critic fit).
    ///
    /// # Errors
    /// As [`update`](Self::update); the critic's Adam state and `rng` are then as they were.
    pub fn update_overlapped<P: AgentPolicy<B>, R: Rng + Clone>(
        &mut self,
        policy: P,
        value: ValueMlp<B>,
        batch: &Batch<B, P::Family>,
        rng: &mut R,
    ) -> Result<(P, ValueMlp<B>, UpdateStats, [f64; 2])> {
        let saved = (self.critic.optimizer().clone(), rng.clone());
        let Self { settings, critic } = self;
        let (step, (value, fit, critic_s)) = std::thread::scope(|scope| {
            let policy_half = scope.spawn(|| {
                let t = Instant::now();
                (
                    settings.policy_step(policy, batch),
                    t.elapsed().as_secs_f64(),
                )
            });
            let t = Instant::now();
            let (value, fit) = fit_critic(critic, value, batch, rng);
            let critic_s = t.elapsed().as_secs_f64();
            let step = policy_half
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (step, (value, fit, critic_s))
        });
        let (step, policy_s) = step;
        match step {
            Ok((policy, mut stats)) => {
                critic_stats(&mut stats, fit);
                Ok((policy, value, stats, [policy_s, critic_s]))
            }
            Err(e) => {
                *self.critic.optimizer_mut() = saved.0;
                *rng = saved.1;
                Err(e)
            }
        }
    }

    /// Starts the critic fit of `batch` on a thread of its own and returns at once: the
    /// minibatch orders are drawn from `rng` here, as [`fit_critic`](Self::fit_critic) draws
    /// them, so `rng` can go on (e.g. sample the next rollout's actions) while the critic
    /// trains, and everything is as after [`fit_critic`](Self::fit_critic) once
    /// [`finish_critic_fit`](Self::finish_critic_fit) has joined it. Until then this learner
    /// holds a stand-in for the critic's Adam state: finish every fit before anything else
    /// touches the learner's critic (a checkpoint, another fit).
    pub(crate) fn spawn_critic_fit<F: ActionFamily, R: Rng + ?Sized>(
        &mut self,
        value: ValueMlp<B>,
        batch: &Batch<B, F>,
        rng: &mut R,
    ) -> CriticJob<B> {
        let orders = self.critic.draw_orders(batch.host_returns.len(), rng);
        let stand_in = self.critic.stand_in();
        let mut critic = std::mem::replace(&mut self.critic, stand_in);
        let obs = batch.host_obs.clone();
        let returns = batch.host_returns.clone();
        let handle = std::thread::Builder::new()
            .name("cinder-critic".into())
            .spawn(move || {
                let t = Instant::now();
                let (value, fit) = fit_critic_in_order(&mut critic, value, &obs, &returns, &orders);
                (critic, value, fit, t.elapsed().as_secs_f64())
            })
            .expect("the OS could not start the critic thread");
        CriticJob { handle }
    }

    /// Waits for a fit started by [`spawn_critic_fit`](Self::spawn_critic_fit), gives the
    /// critic its Adam state back, and returns the fitted value net (the one passed in when
    /// the fit failed, the reason in `stats`) and the fit's seconds on its thread. A panic of
    /// the fit is resumed here.
    pub(crate) fn finish_critic_fit(
        &mut self,
        job: CriticJob<B>,
        stats: &mut UpdateStats,
    ) -> (ValueMlp<B>, f64) {
        let (critic, value, fit, seconds) = job
            .handle
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        self.critic = critic;
        critic_stats(stats, fit);
        (value, seconds)
    }

    /// The policy half of [`update`](Self::update).
    ///
    /// # Errors
    /// As [`update`](Self::update).
    pub fn policy_step<P: AgentPolicy<B>>(
        &self,
        policy: P,
        batch: &Batch<B, P::Family>,
    ) -> Result<(P, UpdateStats)> {
        self.settings.policy_step(policy, batch)
    }

    /// The CG and Fisher settings (shared by every policy of a lockstep group).
    pub(crate) fn shared_settings(&self) -> (&CgConfig, &FvpConfig, FvpKind) {
        (
            &self.settings.cg,
            &self.settings.fvp,
            self.settings.fvp_kind,
        )
    }

    /// The natural-gradient step's settings (a lockstep group runs them per policy).
    pub(crate) fn settings(&self) -> &Settings {
        &self.settings
    }
}

impl Settings {
    /// The policy half of [`NaturalGradient::update`].
    fn policy_step<B: AutodiffBackend, P: AgentPolicy<B>>(
        &self,
        policy: P,
        batch: &Batch<B, P::Family>,
    ) -> Result<(P, UpdateStats)> {
        let s = self;
        let prepared = self.prepare(&policy, batch);
        let inner = policy.valid();
        let mut op = inner.fisher_operator(batch.obs.clone().inner(), s.fvp_kind, &s.fvp)?;
        let b = prepared.g.clone().unsqueeze_dim::<2>(0);
        // Data-parallel: every product is the mean of the ranks' products (each the Fisher
        // matrix of its shard, damped), which is the damped Fisher matrix of the whole batch.
        let comm = &*s.comm;
        let mut apply = |v| comm::mean_tensor(comm, op.apply(v));
        let sol = conjugate_gradient(&mut apply, b, &s.cg)?;
        let curvature = (sol.x.clone() * apply(sol.x.clone())).sum();
        let x = sol.x.squeeze_dim::<1>(0);
        self.finish(
            policy,
            batch,
            prepared,
            Solved {
                x,
                curvature,
                residual: sol.residual_norm,
                breakdown: sol.breakdown.int(),
                iterations: sol.iterations,
            },
        )
    }

    /// Surrogate, its gradient at θ_old and what the line search needs.
    pub(crate) fn prepare<B: AutodiffBackend, P: AgentPolicy<B>>(
        &self,
        policy: &P,
        batch: &Batch<B, P::Family>,
    ) -> Prepared<B, P> {
        let adv = if self.normalize_advantage {
            comm::normalize_global(&*self.comm, batch.advantages.clone())
        } else {
            batch.advantages.clone()
        };
        // Surrogate L(θ) = mean(exp(log π_θ − log π_old) · A) and its gradient at θ_old.
        let dist = policy.distribution(batch.obs.clone());
        let old = P::Family::map_backend(dist.clone(), |t| t.detach());
        let log_prob = dist.log_prob(batch.actions.clone());
        let surrogate = ((log_prob - batch.old_log_probs.clone()).exp() * adv.clone()).mean();
        let entropy = dist.entropy().mean().detach();
        let std = P::Family::mean_std(&old);
        let grads = surrogate.backward();
        let g = comm::mean_tensor(&*self.comm, flat::gradient(policy, &grads));
        Prepared {
            g,
            old,
            adv,
            surrogate: surrogate.detach(),
            entropy,
            std,
        }
    }

    /// From the CG solution to the new policy: checks, step size, line search (TRPO) or full
    /// step (NPG).
    pub(crate) fn finish<B: AutodiffBackend, P: AgentPolicy<B>>(
        &self,
        policy: P,
        batch: &Batch<B, P::Family>,
        prepared: Prepared<B, P>,
        solved: Solved<B>,
    ) -> Result<(P, UpdateStats)> {
        let s = self;
        let Prepared {
            g,
            old,
            adv,
            surrogate,
            entropy,
            std,
        } = prepared;
        let mut tx = Transaction::default()
            .register(surrogate.inner())
            .register(entropy.inner())
            .register(g.powi_scalar(2).sum())
            .register(solved.curvature)
            .register(solved.residual)
            .register(solved.breakdown)
            .register(solved.iterations);
        if let Some(std) = &std {
            tx = tx.register(std.clone().inner());
        }
        let mut values: Vec<f64> = read_scalars(tx);
        // The surrogate and the entropy are means over the shard: their means over the ranks
        // are the batch's. The rest is computed from averaged quantities already.
        comm::mean_f64(&*s.comm, &mut values[..2]);
        let [
            surrogate,
            entropy,
            g_norm2,
            curvature,
            residual,
            breakdown,
            iterations,
        ] = [
            values[0], values[1], values[2], values[3], values[4], values[5], values[6],
        ];
        let mut stats = UpdateStats {
            policy_loss: -surrogate,
            entropy,
            cg_residual: Some(residual),
            policy_std: values.get(7).copied(),
            cg_iterations: Some(iterations as usize),
            cg_breakdown: Some(breakdown != 0.0),
            line_search_success: s.line_search.map(|_| false),
            backtracks: s.line_search.map(|_| 0),
            step_kl: Some(0.0),
            ..UpdateStats::default()
        };
        let skip = if !surrogate.is_finite() {
            Some(format!("surrogate is {surrogate}"))
        } else if !g_norm2.is_finite() {
            Some("the policy gradient is not finite".to_string())
        } else if breakdown != 0.0 && iterations == 0.0 {
            // A breakdown after at least one good iteration keeps that iterate (a descent
            // direction of the damped model): the step goes ahead, `cg_breakdown` says so.
            Some("conjugate gradient broke down in its first iteration".to_string())
        } else if !(curvature > 0.0 && curvature.is_finite()) {
            Some(format!("step curvature xᵀFx is {curvature}"))
        } else {
            None
        };
        if let Some(reason) = skip {
            stats.skipped = Some(reason);
            return Ok((policy, stats));
        }

        let target_kl = s.radius(batch.progress_remaining);
        let step_size = (2.0 * target_kl / curvature).sqrt();
        let full_step = solved.x.mul_scalar(step_size);
        let theta_old = flat::flatten(&policy.valid());
        let frozen = policy.clone().no_grad();
        // Mean KL(π_old ‖ π_θ), surrogate, approx-KL estimate and (Gaussian) mean σ at
        // θ_old + coef · step, added to a read-back transaction (nothing is read here).
        let candidate = |tx: Transaction<B::InnerBackend>, coef: f64| {
            let theta = theta_old.clone() + full_step.clone().mul_scalar(coef);
            let candidate = flat::load(frozen.clone(), Tensor::from_inner(theta))?;
            let dist = candidate.distribution(batch.obs.clone());
            let kl = old.kl(&dist).mean();
            let log_ratio = dist.log_prob(batch.actions.clone()) - batch.old_log_probs.clone();
            let ratio = log_ratio.clone().exp();
            let surr = (ratio.clone() * adv.clone()).mean();
            let approx_kl = (ratio.sub_scalar(1.0) - log_ratio).mean();
            let std = P::Family::mean_std(&dist).unwrap_or_else(|| kl.clone());
            Ok::<_, AlgoError>(
                tx.register(kl.inner())
                    .register(surr.inner())
                    .register(approx_kl.inner())
                    .register(std.inner()),
            )
        };
        // Candidates `range` in one read-back: [kl, surrogate, approx_kl, σ] per candidate.
        let evaluate = |coefs: &[f64]| -> Result<Vec<[f64; 4]>> {
            let mut tx = Transaction::default();
            for &c in coefs {
                tx = candidate(tx, c)?;
            }
            let mut v = read_scalars(tx);
            comm::mean_f64(&*s.comm, &mut v);
            Ok(v.chunks(4).map(|c| [c[0], c[1], c[2], c[3]]).collect())
        };
        let accepted = match s.line_search {
            None => {
                let [kl, _, approx_kl, sigma] = evaluate(&[1.0])?[0];
                (kl.is_finite() && approx_kl.is_finite()).then_some((1.0, kl, approx_kl, sigma))
            }
            Some((shrink, tries)) => {
                // The backtracking search accepts the first coefficient shrinkᶦ whose KL is
                // within the radius and whose surrogate improves. It is evaluated in at most
                // two read-backs instead of up to `tries` in sequence: the full step alone
                // (accepted in most updates, so no extra work), then, if it fails, every
                // shorter step at once. The first acceptable coefficient of that batch is the
                // one the sequential search stops at.
                let coefs: Vec<f64> = (0..tries).map(|i| shrink.powi(i as i32)).collect();
                let mut found = None;
                let first = tries.min(1);
                for (offset, group) in [(0, &coefs[..first]), (first, &coefs[first..])] {
                    if group.is_empty() {
                        continue;
                    }
                    let results = evaluate(group)?;
                    if let Some((j, [kl, _, approx_kl, sigma])) = results
                        .into_iter()
                        .enumerate()
                        .find(|(_, [kl, surr, _, _])| *kl <= target_kl && *surr > surrogate)
                    {
                        stats.backtracks = Some(offset + j);
                        found = Some((group[j], kl, approx_kl, sigma));
                        break;
                    }
                }
                found
            }
        };
        let Some((coef, kl, approx_kl, sigma)) = accepted else {
            if s.line_search.is_some() {
                stats.backtracks = s.line_search.map(|(_, t)| t);
            } else {
                stats.skipped = Some("the natural step gave a non-finite KL".into());
            }
            return Ok((policy, stats));
        };
        let theta = theta_old + full_step.mul_scalar(coef);
        let policy = flat::load(policy, Tensor::from_inner(theta))?;
        stats.line_search_success = s.line_search.map(|_| true);
        stats.step_kl = Some(kl);
        stats.approx_kl = approx_kl;
        if std.is_some() {
            stats.policy_std = Some(sigma);
        }
        Ok((policy, stats))
    }
}

/// A critic fit running on its own thread ([`NaturalGradient::spawn_critic_fit`]).
pub(crate) struct CriticJob<B: AutodiffBackend> {
    #[allow(clippy::type_complexity)]
    handle: std::thread::JoinHandle<(
        ValueFitter<B>,
        ValueMlp<B>,
        std::result::Result<f64, String>,
        f64,
    )>,
}

/// Fits the critic; a failed fit leaves its Adam state as it was and gives back `value`
/// with the reason.
fn fit_critic<B: AutodiffBackend, F: ActionFamily, R: Rng + ?Sized>(
    critic: &mut ValueFitter<B>,
    value: ValueMlp<B>,
    batch: &Batch<B, F>,
    rng: &mut R,
) -> (ValueMlp<B>, std::result::Result<f64, String>) {
    let orders = critic.draw_orders(batch.host_returns.len(), rng);
    fit_critic_in_order(critic, value, &batch.host_obs, &batch.host_returns, &orders)
}

/// [`fit_critic`] with the minibatch orders drawn beforehand.
fn fit_critic_in_order<B: AutodiffBackend>(
    critic: &mut ValueFitter<B>,
    value: ValueMlp<B>,
    obs: &[f32],
    returns: &[f32],
    orders: &PassOrders,
) -> (ValueMlp<B>, std::result::Result<f64, String>) {
    let saved = critic.optimizer().clone();
    match critic.fit_in_order(value.clone(), obs, returns, orders) {
        Ok((v, s)) => (v, Ok(s.value_loss)),
        Err(e) => {
            *critic.optimizer_mut() = saved;
            (value, Err(e.to_string()))
        }
    }
}

/// The critic fit's outcome in the update's stats.
fn critic_stats(stats: &mut UpdateStats, fit: std::result::Result<f64, String>) {
    match fit {
        Ok(loss) => stats.value_loss = loss,
        Err(reason) => {
            stats.value_loss = f64::NAN;
            stats.critic_skipped = Some(reason);
        }
    }
}

/// What `Settings::prepare` computes for one policy.
pub(crate) struct Prepared<B: AutodiffBackend, P: AgentPolicy<B>> {
    /// ∇L(θ_old), `[n]`.
    pub(crate) g: Tensor<B::InnerBackend, 1>,
    old: cinder_policy::Dist<P::Family, B>,
    adv: Tensor<B, 1>,
    surrogate: Tensor<B, 1>,
    entropy: Tensor<B, 1>,
    std: Option<Tensor<B, 1>>,
}

/// One system's CG result, on the device.
pub(crate) struct Solved<B: AutodiffBackend> {
    /// The direction, `[n]`.
    pub(crate) x: Tensor<B::InnerBackend, 1>,
    /// `xᵀ(F + λI)x`, `[1]`.
    pub(crate) curvature: Tensor<B::InnerBackend, 1>,
    /// Final residual norm, `[1]`.
    pub(crate) residual: Tensor<B::InnerBackend, 1>,
    /// 1 if CG broke down, `[1]`.
    pub(crate) breakdown: Tensor<B::InnerBackend, 1, burn::tensor::Int>,
    /// CG iterations that succeeded, `[1]`.
    pub(crate) iterations: Tensor<B::InnerBackend, 1, burn::tensor::Int>,
}
