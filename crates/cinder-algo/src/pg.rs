//! First-order policy gradients: PPO with clipping, PPO with the adaptive KL penalty, and
//! vanilla policy gradient (REINFORCE with a learned baseline and GAE).

use burn::config::Config;
use burn::module::{AutodiffModule, ModuleVisitor, Param};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{Adam, AdamConfig, GradientsParams, Optimizer};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, TensorData, Transaction};
use cinder_policy::{
    ActionDistribution, Dist, DistributionFamily, HostMlp, Policy, ValueMlp, flat,
};
use rand::Rng;
use rand::seq::SliceRandom;

use std::sync::Arc;

use crate::batch::{Batch, UpdateStats, read_scalars};
use crate::comm::{self, Communicator};
use crate::error::{AlgoError, Result};
use crate::family::{ActionFamily, AgentPolicy};
use crate::value::{ValueFitConfig, ValueFitter};

/// PPO-clip hyperparameters; SB3 names, defaults of CleanRL's `ppo_continuous_action`.
#[derive(Config, Debug, PartialEq)]
pub struct PpoConfig {
    /// Adam learning rate (policy and value).
    #[config(default = 3e-4)]
    pub learning_rate: f64,
    /// Anneal the learning rate linearly to 0 over training (CleanRL `anneal_lr`).
    #[config(default = true)]
    pub anneal_lr: bool,
    /// Passes over the batch per update (`update_epochs`).
    #[config(default = 10)]
    pub n_epochs: usize,
    /// Minibatch size; must divide the batch (2048 / 32 minibatches = 64).
    #[config(default = 64)]
    pub batch_size: usize,
    /// Ratio clip range ε.
    #[config(default = 0.2)]
    pub clip_range: f64,
    /// Value clip range (`clip_vloss` with ε = `clip_range` in CleanRL); `None` turns it off.
    #[config(default = "Some(0.2)")]
    pub clip_range_vf: Option<f64>,
    /// Entropy bonus coefficient.
    #[config(default = 0.0)]
    pub ent_coef: f64,
    /// Value loss coefficient.
    #[config(default = 0.5)]
    pub vf_coef: f64,
    /// Global gradient-norm clip over policy and value parameters.
    #[config(default = 0.5)]
    pub max_grad_norm: f64,
    /// Stop the epochs once the approximate KL exceeds this; `None` never stops.
    #[config(default = "None")]
    pub target_kl: Option<f64>,
    /// Normalise advantages per minibatch.
    #[config(default = true)]
    pub normalize_advantage: bool,
    /// Adam ε (CleanRL uses 1e-5).
    #[config(default = 1e-5)]
    pub adam_epsilon: f32,
}

/// PPO with the adaptive KL penalty (Schulman et al. 2017, §4): loss `−r·A + β·KL`, β doubled
/// when the KL after an update exceeds 1.5 × target, halved when below target / 1.5.
#[derive(Config, Debug, PartialEq)]
pub struct PpoKlConfig {
    /// Adam learning rate (policy and value).
    #[config(default = 3e-4)]
    pub learning_rate: f64,
    /// Anneal the learning rate linearly to 0.
    #[config(default = true)]
    pub anneal_lr: bool,
    /// Passes over the batch per update.
    #[config(default = 10)]
    pub n_epochs: usize,
    /// Minibatch size; must divide the batch.
    #[config(default = 64)]
    pub batch_size: usize,
    /// The KL the penalty steers to (d_targ).
    #[config(default = 0.01)]
    pub target_kl: f64,
    /// Initial β.
    #[config(default = 1.0)]
    pub kl_coef: f64,
    /// Entropy bonus coefficient.
    #[config(default = 0.0)]
    pub ent_coef: f64,
    /// Value loss coefficient.
    #[config(default = 0.5)]
    pub vf_coef: f64,
    /// Global gradient-norm clip.
    #[config(default = 0.5)]
    pub max_grad_norm: f64,
    /// Normalise advantages per minibatch.
    #[config(default = true)]
    pub normalize_advantage: bool,
    /// Adam ε.
    #[config(default = 1e-5)]
    pub adam_epsilon: f32,
}

/// Vanilla policy gradient: one Adam step per update on `−mean(log π · A)` over the whole
/// batch, the baseline fitted by the critic (Spinning Up's VPG).
#[derive(Config, Debug, PartialEq)]
pub struct VpgConfig {
    /// Policy Adam learning rate (`pi_lr`).
    #[config(default = 3e-4)]
    pub learning_rate: f64,
    /// Normalise the advantages over the batch.
    #[config(default = true)]
    pub normalize_advantage: bool,
    /// Global gradient-norm clip of the policy step; `None` turns it off.
    #[config(default = "None")]
    pub max_grad_norm: Option<f64>,
    /// Critic Adam learning rate (`vf_lr`).
    #[config(default = 1e-3)]
    pub vf_learning_rate: f64,
    /// Critic passes over the batch per update.
    #[config(default = 10)]
    pub n_critic_updates: usize,
    /// Critic minibatch size.
    #[config(default = 128)]
    pub critic_batch_size: usize,
}

/// Which objective a [`PolicyGradient`] optimises.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Objective {
    Clip {
        clip_range: f64,
        clip_range_vf: Option<f64>,
        target_kl: Option<f64>,
    },
    KlPenalty {
        target_kl: f64,
    },
    Vanilla,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Settings {
    pub(crate) objective: Objective,
    pub(crate) learning_rate: f64,
    pub(crate) anneal_lr: bool,
    pub(crate) n_epochs: usize,
    pub(crate) batch_size: usize,
    pub(crate) ent_coef: f64,
    pub(crate) vf_coef: f64,
    pub(crate) max_grad_norm: Option<f64>,
    pub(crate) normalize_advantage: bool,
}

fn bad(name: &'static str, value: f64, range: &'static str) -> AlgoError {
    AlgoError::Hyperparameter { name, value, range }
}

fn positive(name: &'static str, v: f64) -> Result<()> {
    if v > 0.0 && v.is_finite() {
        Ok(())
    } else {
        Err(bad(name, v, "(0, ∞)"))
    }
}

/// PPO-clip, PPO-KL or VPG with their optimiser state.
pub struct PolicyGradient<B: AutodiffBackend, P: AgentPolicy<B>> {
    pub(crate) settings: Settings,
    pub(crate) policy_optim: OptimizerAdaptor<Adam, P, B>,
    /// The value optimiser of the joint PPO loss.
    pub(crate) value_optim: OptimizerAdaptor<Adam, ValueMlp<B>, B>,
    /// VPG's separate critic fit.
    critic: Option<ValueFitter<B>>,
    pub(crate) kl_coef: f64,
    /// The ranks whose shards make up the batch (one process by default).
    pub(crate) comm: Arc<dyn Communicator>,
    /// The epochs in plain Rust on the host ([`update_natively`](Self::update_natively)).
    pub(crate) host: Option<HostNets<B, P>>,
    /// Adam's ε of both optimisers.
    pub(crate) adam_epsilon: f32,
}

/// An update's outcome: the networks and statistics, or why it was abandoned (the caller
/// then restores what it saved).
pub(crate) type Attempt<B, P> = std::result::Result<(P, ValueMlp<B>, UpdateStats), String>;

/// The epochs of an update on the host for one policy family (`pg_host.rs`).
pub(crate) type HostRun<B, P> = fn(
    &mut PolicyGradient<B, P>,
    &HostNets<B, P>,
    P,
    ValueMlp<B>,
    &Batch<B, <P as Policy<B>>::Family>,
    f64,
    &mut dyn FnMut(&mut [usize]),
) -> Result<Attempt<B, P>>;

/// The architectures of the policy's MLP and the value net, and the host epochs of the
/// policy's family.
pub(crate) struct HostNets<B: AutodiffBackend, P: AgentPolicy<B>> {
    pub(crate) policy: HostMlp,
    pub(crate) value: HostMlp,
    pub(crate) run: HostRun<B, P>,
}

impl<B: AutodiffBackend, P: AgentPolicy<B>> Clone for HostNets<B, P> {
    fn clone(&self) -> Self {
        Self {
            policy: self.policy.clone(),
            value: self.value.clone(),
            run: self.run,
        }
    }
}

impl PpoConfig {
    /// Checks every hyperparameter's range, naming the first one outside it.
    ///
    /// # Errors
    /// [`AlgoError::Hyperparameter`].
    pub fn validate(&self) -> Result<()> {
        ppo_settings(self).map(drop)
    }
}

impl PpoKlConfig {
    /// Checks every hyperparameter's range, naming the first one outside it.
    ///
    /// # Errors
    /// [`AlgoError::Hyperparameter`].
    pub fn validate(&self) -> Result<()> {
        ppo_kl_settings(self).map(drop)
    }
}

impl VpgConfig {
    /// Checks every hyperparameter's range, naming the first one outside it.
    ///
    /// # Errors
    /// [`AlgoError::Hyperparameter`].
    pub fn validate(&self) -> Result<()> {
        vpg_critic_config(self).validate()?;
        vpg_settings(self).map(drop)
    }
}

fn ppo_settings(c: &PpoConfig) -> Result<Settings> {
    positive("clip_range", c.clip_range)?;
    if let Some(v) = c.clip_range_vf {
        positive("clip_range_vf", v)?;
    }
    if let Some(v) = c.target_kl {
        positive("target_kl", v)?;
    }
    checked(
        Settings {
            objective: Objective::Clip {
                clip_range: c.clip_range,
                clip_range_vf: c.clip_range_vf,
                target_kl: c.target_kl,
            },
            learning_rate: c.learning_rate,
            anneal_lr: c.anneal_lr,
            n_epochs: c.n_epochs,
            batch_size: c.batch_size,
            ent_coef: c.ent_coef,
            vf_coef: c.vf_coef,
            max_grad_norm: Some(c.max_grad_norm),
            normalize_advantage: c.normalize_advantage,
        },
        c.adam_epsilon,
    )
}

fn ppo_kl_settings(c: &PpoKlConfig) -> Result<Settings> {
    positive("target_kl", c.target_kl)?;
    positive("kl_coef", c.kl_coef)?;
    checked(
        Settings {
            objective: Objective::KlPenalty {
                target_kl: c.target_kl,
            },
            learning_rate: c.learning_rate,
            anneal_lr: c.anneal_lr,
            n_epochs: c.n_epochs,
            batch_size: c.batch_size,
            ent_coef: c.ent_coef,
            vf_coef: c.vf_coef,
            max_grad_norm: Some(c.max_grad_norm),
            normalize_advantage: c.normalize_advantage,
        },
        c.adam_epsilon,
    )
}

fn vpg_settings(c: &VpgConfig) -> Result<Settings> {
    checked(
        Settings {
            objective: Objective::Vanilla,
            learning_rate: c.learning_rate,
            anneal_lr: false,
            n_epochs: 1,
            batch_size: usize::MAX,
            ent_coef: 0.0,
            vf_coef: 0.0,
            max_grad_norm: c.max_grad_norm,
            normalize_advantage: c.normalize_advantage,
        },
        VPG_ADAM_EPSILON,
    )
}

fn vpg_critic_config(c: &VpgConfig) -> ValueFitConfig {
    ValueFitConfig::new()
        .with_learning_rate(c.vf_learning_rate)
        .with_n_critic_updates(c.n_critic_updates)
        .with_batch_size(c.critic_batch_size)
}

/// VPG's Adam ε (PyTorch's default).
const VPG_ADAM_EPSILON: f32 = 1e-8;

/// `settings` after the range checks shared by every first-order learner.
fn checked(settings: Settings, adam_epsilon: f32) -> Result<Settings> {
    positive("learning_rate", settings.learning_rate)?;
    if settings.n_epochs == 0 {
        return Err(bad("n_epochs", 0.0, "≥ 1"));
    }
    if settings.batch_size == 0 {
        return Err(bad("batch_size", 0.0, "≥ 1"));
    }
    if let Some(g) = settings.max_grad_norm {
        positive("max_grad_norm", g)?;
    }
    for (name, v) in [
        ("ent_coef", settings.ent_coef),
        ("vf_coef", settings.vf_coef),
    ] {
        if !(v >= 0.0 && v.is_finite()) {
            return Err(bad(name, v, "[0, ∞)"));
        }
    }
    positive("adam_epsilon", adam_epsilon as f64)?;
    Ok(settings)
}

impl<B: AutodiffBackend, P: AgentPolicy<B>> PolicyGradient<B, P> {
    /// PPO-clip.
    ///
    /// # Errors
    /// A hyperparameter out of range, named.
    pub fn ppo(c: &PpoConfig) -> Result<Self> {
        Ok(Self::build(ppo_settings(c)?, c.adam_epsilon, None, 1.0))
    }

    /// PPO with the adaptive KL penalty.
    ///
    /// # Errors
    /// A hyperparameter out of range, named.
    pub fn ppo_kl(c: &PpoKlConfig) -> Result<Self> {
        Ok(Self::build(
            ppo_kl_settings(c)?,
            c.adam_epsilon,
            None,
            c.kl_coef,
        ))
    }

    /// Vanilla policy gradient.
    ///
    /// # Errors
    /// A hyperparameter out of range, named.
    pub fn vpg(c: &VpgConfig) -> Result<Self> {
        let critic = ValueFitter::new(vpg_critic_config(c))?;
        Ok(Self::build(
            vpg_settings(c)?,
            VPG_ADAM_EPSILON,
            Some(critic),
            1.0,
        ))
    }

    fn build(
        settings: Settings,
        adam_epsilon: f32,
        critic: Option<ValueFitter<B>>,
        kl_coef: f64,
    ) -> Self {
        let adam = AdamConfig::new().with_epsilon(adam_epsilon);
        Self {
            settings,
            policy_optim: adam.init(),
            value_optim: adam.init(),
            critic,
            kl_coef,
            comm: comm::single_process(),
            host: None,
            adam_epsilon,
        }
    }

    /// Trains data-parallel over `comm`'s ranks: each rank takes its minibatches from its own
    /// shard (`batch_size` samples per rank), advantages are normalised with the statistics of
    /// all ranks' minibatches together, every Adam step uses the gradients averaged over the
    /// ranks and is clipped by the norm of that average, and the early stop and the KL
    /// penalty's adaptation read the ranks' mean KL, so every rank takes the same steps.
    pub fn set_communicator(&mut self, comm: Arc<dyn Communicator>) {
        if let Some(c) = &mut self.critic {
            c.set_communicator(comm.duplicate());
        }
        self.comm = comm;
    }

    /// Checks that the minibatch size divides a batch of `len` samples.
    ///
    /// # Errors
    /// [`AlgoError::Config`] saying which sizes work.
    pub fn check_batch(&self, len: usize) -> Result<()> {
        let mb = self.settings.batch_size;
        if self.settings.objective != Objective::Vanilla && !len.is_multiple_of(mb) {
            return Err(AlgoError::Config(format!(
                "batch_size = {mb} does not divide the batch of n_steps × num_envs = {len} \
                 samples; choose a divisor of {len} (e.g. {})",
                divisor_near(len, mb)
            )));
        }
        Ok(())
    }

    /// Whether the epochs run on the host ([`update_natively`](Self::update_natively)).
    pub fn updates_natively(&self) -> bool {
        self.host.is_some()
    }

    /// Runs the epochs as burn ops on `B` again (the default of a `PolicyGradient` built
    /// alone; [`MlpAgent`](crate::MlpAgent) updates natively by default).
    pub fn update_on_device(&mut self) {
        self.host = None;
    }

    /// The PPO-KL penalty coefficient β.
    pub fn kl_coef(&self) -> f64 {
        self.kl_coef
    }

    /// Sets β (when resuming).
    pub fn set_kl_coef(&mut self, beta: f64) {
        self.kl_coef = beta;
    }

    /// Policy optimiser (checkpointed).
    pub fn policy_optimizer(&mut self) -> &mut OptimizerAdaptor<Adam, P, B> {
        &mut self.policy_optim
    }

    /// Value optimiser of the joint loss (checkpointed).
    pub fn value_optimizer(&mut self) -> &mut OptimizerAdaptor<Adam, ValueMlp<B>, B> {
        &mut self.value_optim
    }

    /// VPG's critic fitter (checkpointed).
    pub fn critic_mut(&mut self) -> Option<&mut ValueFitter<B>> {
        self.critic.as_mut()
    }

    /// One update. A non-finite loss or gradient in any minibatch abandons the whole update:
    /// policy, value net and optimiser states are returned as they were
    /// (`UpdateStats::skipped`).
    ///
    /// # Errors
    /// A batch the minibatch size does not divide.
    pub fn update<R: Rng + ?Sized>(
        &mut self,
        policy: P,
        value: ValueMlp<B>,
        batch: &Batch<B, P::Family>,
        rng: &mut R,
    ) -> Result<(P, ValueMlp<B>, UpdateStats)> {
        self.check_batch(batch.len)?;
        let saved = (
            self.policy_optim.clone(),
            self.value_optim.clone(),
            self.kl_coef,
            self.critic.as_ref().map(|c| c.optimizer().clone()),
        );
        match self.run(policy.clone(), value.clone(), batch, rng)? {
            Ok(done) => Ok(done),
            Err(reason) => {
                let critic_optim;
                (
                    self.policy_optim,
                    self.value_optim,
                    self.kl_coef,
                    critic_optim,
                ) = saved;
                if let (Some(c), Some(o)) = (&mut self.critic, critic_optim) {
                    *c.optimizer_mut() = o;
                }
                let stats = UpdateStats {
                    skipped: Some(reason),
                    value_loss: f64::NAN,
                    ..UpdateStats::default()
                };
                Ok((policy, value, stats))
            }
        }
    }

    fn run<R: Rng + ?Sized>(
        &mut self,
        policy: P,
        value: ValueMlp<B>,
        batch: &Batch<B, P::Family>,
        rng: &mut R,
    ) -> Result<Attempt<B, P>> {
        let s = &self.settings;
        let lr = if s.anneal_lr {
            s.learning_rate * batch.progress_remaining
        } else {
            s.learning_rate
        };
        let old_dist = policy.clone().no_grad().distribution(batch.obs.clone());
        let old_dist = P::Family::map_backend(old_dist, |t| t.detach());
        let shuffle = &mut |order: &mut [usize]| order.shuffle(&mut *rng);
        let epochs = match self.host.clone() {
            Some(host) => (host.run)(self, &host, policy, value, batch, lr, shuffle)?,
            None => self.epochs_on_device(policy, value, batch, lr, &old_dist, shuffle)?,
        };
        let (policy, mut value, mut stats) = match epochs {
            Ok(done) => done,
            Err(reason) => return Ok(Err(reason)),
        };
        let comm = self.comm.clone();
        let comm = &*comm;
        let new_dist = policy.clone().no_grad().distribution(batch.obs.clone());
        let kl = old_dist.kl(&new_dist).mean().inner();
        let std = P::Family::mean_std(&new_dist).map(|t| t.inner());
        let mut tx = Transaction::default().register(kl);
        if let Some(std) = std {
            tx = tx.register(std);
        }
        let mut read: Vec<f64> = read_scalars(tx);
        comm::mean_f64(comm, &mut read);
        stats.step_kl = Some(read[0]);
        stats.policy_std = read.get(1).copied();
        if let Objective::KlPenalty { target_kl } = self.settings.objective {
            if read[0] > 1.5 * target_kl {
                self.kl_coef *= 2.0;
            } else if read[0] < target_kl / 1.5 {
                self.kl_coef /= 2.0;
            }
            stats.kl_coef = Some(self.kl_coef);
        }
        if let Some(critic) = &mut self.critic {
            let t = std::time::Instant::now();
            let fitted = critic.fit(value.clone(), &batch.host_obs, &batch.host_returns, rng);
            stats.critic_seconds = Some(t.elapsed().as_secs_f64());
            match fitted {
                Ok((v, fit)) => {
                    value = v;
                    stats.value_loss = fit.value_loss;
                }
                Err(AlgoError::NonFinite(msg)) => return Ok(Err(format!("critic: {msg}"))),
                Err(e) => return Err(e),
            }
        }
        Ok(Ok((policy, value, stats)))
    }

    /// The epochs of minibatch steps as burn ops on `B`: the policy, value net and their
    /// optimisers after them, and the losses of the last minibatch of the last epoch.
    fn epochs_on_device(
        &mut self,
        mut policy: P,
        mut value: ValueMlp<B>,
        batch: &Batch<B, P::Family>,
        lr: f64,
        old_dist: &Dist<P::Family, B>,
        shuffle: &mut dyn FnMut(&mut [usize]),
    ) -> Result<Attempt<B, P>> {
        let s = self.settings.clone();
        let m = batch.len;
        let device = batch.obs.device();
        let comm = self.comm.clone();
        let comm = &*comm;
        let full_adv = if s.normalize_advantage && s.objective == Objective::Vanilla {
            comm::normalize_global(comm, batch.advantages.clone())
        } else {
            batch.advantages.clone()
        };
        let mb = s.batch_size.min(m);
        let mut order: Vec<usize> = (0..m).collect();
        let mut tally = EpochTally::default();
        // Summed on the device over the minibatches of an epoch, read once per epoch.
        let mut nonfinite: Option<Tensor<B::InnerBackend, 1>> = None;
        let mut clip_sum: Option<Tensor<B::InnerBackend, 1>> = None;
        #[allow(clippy::type_complexity)]
        let mut last_tensors: Option<(
            Tensor<B::InnerBackend, 1>,
            Tensor<B::InnerBackend, 1>,
            Tensor<B::InnerBackend, 1>,
            Option<Tensor<B::InnerBackend, 1>>,
        )> = None;
        for _ in 0..s.n_epochs {
            tally.epochs += 1;
            if mb < m {
                shuffle(&mut order);
            }
            // The epoch's data in minibatch order, one `select` per quantity per epoch: each
            // minibatch is then a slice. A gather per minibatch costs an index upload and a
            // `select` per quantity, and burn-flex's 1-D `select` hands its loop to rayon's
            // pool whatever its size (a thread wake-up each time).
            let perm = (mb < m).then(|| {
                let perm: Vec<i64> = order.iter().map(|&i| i as i64).collect();
                Tensor::<B, 1, Int>::from_data(TensorData::new(perm, [m]), &device)
            });
            let take1 = |t: &Tensor<B, 1>| match &perm {
                Some(p) => t.clone().select(0, p.clone()),
                None => t.clone(),
            };
            let ep_obs = match &perm {
                Some(p) => batch.obs.clone().select(0, p.clone()),
                None => batch.obs.clone(),
            };
            let ep_actions = match &perm {
                Some(p) => P::Family::select(&batch.actions, p.clone()),
                None => batch.actions.clone(),
            };
            let ep_old_lp = take1(&batch.old_log_probs);
            let ep_adv = take1(&full_adv);
            let ep_returns = take1(&batch.returns);
            let ep_old_values = match &s.objective {
                Objective::Clip {
                    clip_range_vf: Some(_),
                    ..
                } => Some(take1(&batch.old_values)),
                _ => None,
            };
            let ep_old_dist = match (&s.objective, &perm) {
                (Objective::KlPenalty { .. }, Some(p)) => {
                    Some(P::Family::map_backend(old_dist.clone(), |t| {
                        t.select(0, p.clone())
                    }))
                }
                (Objective::KlPenalty { .. }, None) => Some(old_dist.clone()),
                _ => None,
            };
            for start in (0..m).step_by(mb) {
                let len = mb.min(m - start);
                let whole = len == m;
                let pick1 = |t: &Tensor<B, 1>| {
                    if whole {
                        t.clone()
                    } else {
                        t.clone().narrow(0, start, len)
                    }
                };
                let obs = if whole {
                    ep_obs.clone()
                } else {
                    ep_obs.clone().narrow(0, start, len)
                };
                let actions = if whole {
                    ep_actions.clone()
                } else {
                    P::Family::narrow(&ep_actions, start, len)
                };
                let old_lp = pick1(&ep_old_lp);
                let mut adv = pick1(&ep_adv);
                if s.normalize_advantage && s.objective != Objective::Vanilla {
                    adv = comm::normalize_global(comm, adv);
                }

                let dist = policy.distribution(obs.clone());
                let log_ratio = dist.log_prob(actions) - old_lp;
                let ratio = log_ratio.clone().exp();
                let approx_kl = (ratio.clone().sub_scalar(1.0) - log_ratio.clone())
                    .mean()
                    .detach();
                let entropy = dist.entropy().mean();
                let (pg_loss, clipfrac) = match &s.objective {
                    Objective::Clip { clip_range, .. } => {
                        let unclipped = adv.clone().neg() * ratio.clone();
                        let clipped =
                            adv.neg() * ratio.clone().clamp(1.0 - clip_range, 1.0 + clip_range);
                        let clipfrac = ratio
                            .sub_scalar(1.0)
                            .abs()
                            .greater_elem(*clip_range)
                            .float()
                            .mean()
                            .detach();
                        (unclipped.max_pair(clipped).mean(), Some(clipfrac))
                    }
                    Objective::KlPenalty { .. } => {
                        let ep_old = ep_old_dist.clone().expect("built for the KL objective");
                        let old = if whole {
                            ep_old
                        } else {
                            P::Family::map_backend(ep_old, |t| t.narrow(0, start, len))
                        };
                        let kl = old.kl(&dist).mean();
                        (
                            (ratio * adv).mean().neg() + kl.mul_scalar(self.kl_coef),
                            None,
                        )
                    }
                    Objective::Vanilla => ((log_ratio * adv).mean().neg(), None),
                };
                let (v_loss, loss) = if s.objective == Objective::Vanilla {
                    (None, pg_loss.clone())
                } else {
                    let v = value.forward(obs);
                    let ret = pick1(&ep_returns);
                    let unclipped = (v.clone() - ret.clone()).powi_scalar(2);
                    let v_loss = match &s.objective {
                        Objective::Clip {
                            clip_range_vf: Some(c),
                            ..
                        } => {
                            let old_v =
                                pick1(ep_old_values.as_ref().expect("built for a clipped value"));
                            let clipped_v = old_v.clone() + (v - old_v).clamp(-c, *c);
                            let clipped = (clipped_v - ret).powi_scalar(2);
                            unclipped.max_pair(clipped).mean().mul_scalar(0.5)
                        }
                        _ => unclipped.mean().mul_scalar(0.5),
                    };
                    let loss = pg_loss.clone() - entropy.clone().mul_scalar(s.ent_coef)
                        + v_loss.clone().mul_scalar(s.vf_coef);
                    (Some(v_loss), loss)
                };
                let mut grads = loss.backward();
                let (g_pi, g_v, norm2) = if comm.size() == 1 {
                    let g_pi = flat::gradient(&policy, &grads);
                    let mut norm2 = g_pi.powi_scalar(2).sum();
                    if v_loss.is_some() {
                        norm2 = norm2 + flat::gradient(&value, &grads).powi_scalar(2).sum();
                    }
                    let g_pi = GradientsParams::from_module(&mut grads, &policy);
                    let g_v = v_loss
                        .is_some()
                        .then(|| GradientsParams::from_module(&mut grads, &value));
                    (g_pi, g_v, norm2)
                } else {
                    // Data-parallel: the ranks' mean gradients, clipped by their norm.
                    let g_pi = GradientsParams::from_module(&mut grads, &policy);
                    let g_pi = comm::mean_grads(comm, g_pi, &policy);
                    let mut norm2 = grads_norm2(&g_pi, &policy);
                    let g_v = v_loss.is_some().then(|| {
                        let g_v = GradientsParams::from_module(&mut grads, &value);
                        comm::mean_grads(comm, g_v, &value)
                    });
                    if let Some(g_v) = &g_v {
                        norm2 = norm2 + grads_norm2(g_v, &value);
                    }
                    (g_pi, g_v, norm2)
                };
                // Global grad-norm clipping decided on the device, as PyTorch's
                // `clip_grad_norm_` does it: every gradient times min(1, max / (‖g‖ + 1e-6)).
                let scale = s.max_grad_norm.map(|max| {
                    norm2
                        .clone()
                        .sqrt()
                        .add_scalar(1e-6)
                        .recip()
                        .mul_scalar(max)
                        .clamp_max(1.0)
                });
                let pg_detached = pg_loss.detach().inner();
                let bad = norm2.is_finite().bool_not().float()
                    + pg_detached.clone().is_finite().bool_not().float();
                nonfinite = Some(match nonfinite {
                    Some(n) => n + bad,
                    None => bad,
                });
                let g_pi = scale_grads(g_pi, &policy, scale.as_ref());
                policy = self.policy_optim.step(lr, policy, g_pi);
                if let Some(g_v) = g_v {
                    let g_v = scale_grads(g_v, &value, scale.as_ref());
                    value = self.value_optim.step(lr, value, g_v);
                }
                if let Some(c) = clipfrac {
                    let c = c.inner();
                    clip_sum = Some(match clip_sum {
                        Some(sum) => sum + c,
                        None => c,
                    });
                    tally.clip_batches += 1;
                }
                last_tensors = Some((
                    pg_detached,
                    entropy.detach().inner(),
                    approx_kl.inner(),
                    v_loss.map(|v| v.detach().inner()),
                ));
            }
            // One read-back per epoch: the non-finite count, the last minibatch's losses
            // (the metrics and the early stop on approx_kl) and the clip fractions' sum.
            let (Some(bad), Some((pg, ent, kl, v))) = (nonfinite.take(), last_tensors.take())
            else {
                continue;
            };
            let has_v = v.is_some();
            let mut tx = Transaction::default()
                .register(bad)
                .register(pg)
                .register(ent)
                .register(kl);
            if let Some(v) = v {
                tx = tx.register(v);
            }
            if let Some(c) = clip_sum.take() {
                tx = tx.register(c);
            }
            match tally.end_epoch(read_scalars(tx), has_v, comm, &s.objective) {
                Ok(false) => {}
                Ok(true) => break,
                Err(reason) => return Ok(Err(reason)),
            }
        }
        Ok(Ok((policy, value, tally.stats(lr))))
    }
}

/// What the epochs of an update report, kept as each epoch ends (the device and the host
/// epochs share it).
#[derive(Debug, Default)]
pub(crate) struct EpochTally {
    /// Epochs begun.
    pub(crate) epochs: usize,
    /// Minibatches whose clip fraction the epochs' sums hold.
    pub(crate) clip_batches: usize,
    clip_total: f64,
    /// The last minibatch's policy loss, value loss, entropy and approx_kl.
    last: [f64; 4],
}

impl EpochTally {
    /// Ends an epoch from its read-back `[non-finite count, policy loss, entropy, approx_kl,
    /// value loss (with a value loss), clip-fraction sum (PPO-clip)]` of this rank, which every
    /// rank replaces by the ranks' means, so that every rank stops, skips or goes on together.
    /// `Err`: a non-finite loss or gradient norm abandons the update; `Ok(true)`: PPO-clip's
    /// `target_kl` stops the epochs.
    pub(crate) fn end_epoch(
        &mut self,
        mut read: Vec<f64>,
        has_value_loss: bool,
        comm: &dyn Communicator,
        objective: &Objective,
    ) -> std::result::Result<bool, String> {
        comm::mean_f64(comm, &mut read);
        if read[0] != 0.0 {
            return Err(format!(
                "non-finite loss or gradient norm in epoch {} (policy loss {} at its last \
                 minibatch)",
                self.epochs, read[1]
            ));
        }
        self.last[0] = read[1];
        self.last[2] = read[2];
        self.last[3] = read[3];
        let mut k = 4;
        if has_value_loss {
            self.last[1] = read[k];
            k += 1;
        }
        if let Some(&sum) = read.get(k) {
            self.clip_total += sum;
        }
        Ok(matches!(objective, Objective::Clip { target_kl: Some(t), .. } if read[3] > *t))
    }

    /// The update's statistics so far (the caller adds what comes after the epochs).
    pub(crate) fn stats(&self, lr: f64) -> UpdateStats {
        UpdateStats {
            policy_loss: self.last[0],
            value_loss: self.last[1],
            entropy: self.last[2],
            approx_kl: self.last[3],
            clipfrac: (self.clip_batches > 0).then(|| self.clip_total / self.clip_batches as f64),
            learning_rate: Some(lr),
            epochs: Some(self.epochs),
            ..UpdateStats::default()
        }
    }
}

/// The squared norm of `module`'s gradients in `grads`, on the device.
fn grads_norm2<B: AutodiffBackend, M: AutodiffModule<B>>(
    grads: &GradientsParams,
    module: &M,
) -> Tensor<B::InnerBackend, 1> {
    struct Norm<'a, IB: Backend> {
        grads: &'a GradientsParams,
        sum: Option<Tensor<IB, 1>>,
    }
    impl<B: AutodiffBackend> ModuleVisitor<B> for Norm<'_, B::InnerBackend> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            if let Some(g) = self.grads.get::<B::InnerBackend, D>(param.id) {
                let s = g.powi_scalar(2).sum();
                self.sum = Some(match self.sum.take() {
                    Some(t) => t + s,
                    None => s,
                });
            }
        }
    }
    let mut n = Norm { grads, sum: None };
    module.visit(&mut n);
    n.sum
        .unwrap_or_else(|| Tensor::zeros([1], &Default::default()))
}

/// Multiplies every gradient of `module` in `grads` by `scale` (a one-element tensor on the
/// device; `None` leaves them as they are).
fn scale_grads<B: AutodiffBackend, M: AutodiffModule<B>>(
    mut grads: GradientsParams,
    module: &M,
    scale: Option<&Tensor<B::InnerBackend, 1>>,
) -> GradientsParams {
    let Some(scale) = scale else {
        return grads;
    };
    struct Scale<'a, IB: Backend> {
        grads: &'a mut GradientsParams,
        scale: &'a Tensor<IB, 1>,
    }
    impl<B: AutodiffBackend> ModuleVisitor<B> for Scale<'_, B::InnerBackend> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            if let Some(g) = self.grads.remove::<B::InnerBackend, D>(param.id) {
                let s = self.scale.clone().reshape([1; D]);
                self.grads.register(param.id, g.mul(s));
            }
        }
    }
    module.visit(&mut Scale {
        grads: &mut grads,
        scale,
    });
    grads
}

/// The divisor of `len` closest to `near`.
pub(crate) fn divisor_near(len: usize, near: usize) -> usize {
    (1..=len)
        .filter(|d| len.is_multiple_of(*d))
        .min_by_key(|d| d.abs_diff(near))
        .unwrap_or(1)
}
