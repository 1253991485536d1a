//! Several TRPO/NPG runs in lockstep: K seeds (or K configurations) of one architecture and
//! batch shape, whose natural-gradient solves share one stacked Gauss-Newton operator and one
//! batched conjugate-gradient loop.
//!
//! Each run keeps everything of its own — env stack, rollouts, RNG, critic, line search,
//! metrics, checkpoints, evaluation — exactly as a [`Trainer`] alone; only the Fisher products
//! of the K policies are computed together (`GaussNewton::stacked`, `[K, M, ·]` batched
//! matmuls) and CG runs on `[K, n]`, each system with its own convergence and breakdown.
//! With K = 1 a lockstep run is bit-identical to the single trainer (tested).

use std::time::Instant;

use burn::tensor::Tensor;
use burn::tensor::backend::AutodiffBackend;
use cinder_cg::conjugate_gradient;
use cinder_fisher::{FisherVectorProduct, GaussNewton, MlpPolicy};

use crate::error::{AlgoError, Result};
use crate::family::{AgentPolicy, FvpKind};
use crate::natural::Solved;
use crate::trainer::{Callback, Clock, Learner, TrainSummary, Trainer};

/// K trainers of TRPO or NPG stepped together.
pub struct Lockstep<B: AutodiffBackend, P: AgentPolicy<B>> {
    trainers: Vec<Trainer<B, P>>,
}

impl<B, P> Lockstep<B, P>
where
    B: AutodiffBackend,
    P: AgentPolicy<B>,
    P::InnerModule: MlpPolicy<B::InnerBackend>,
{
    /// Groups trainers (fresh or resumed). They must all run TRPO or NPG with the
    /// Gauss-Newton product, the same CG budget, damping and sub-sampling, the same batch size
    /// and budget and policies of one architecture; other hyperparameters (seed, δ, γ, λ,
    /// critic settings, normalisation, even the env) may differ.
    ///
    /// # Errors
    /// [`AlgoError::Config`] naming what differs.
    pub fn new(trainers: Vec<Trainer<B, P>>) -> Result<Self> {
        Self::check(&trainers)?;
        Ok(Self { trainers })
    }

    /// Whether [`Lockstep::new`] would accept these trainers, without taking them: a caller
    /// that falls back to training them one by one keeps them.
    ///
    /// # Errors
    /// As [`Lockstep::new`].
    pub fn check(trainers: &[Trainer<B, P>]) -> Result<()> {
        let first = trainers
            .first()
            .ok_or_else(|| AlgoError::Config("a lockstep group needs at least one run".into()))?;
        let reference = shared(first)?;
        let params = cinder_policy::flat::num_params(&first.policy);
        for (k, t) in trainers.iter().enumerate().skip(1) {
            let other = shared(t)?;
            let what = if other.0 != reference.0 {
                Some("cg_max_steps / CG tolerance")
            } else if other.1 != reference.1 {
                Some("cg_damping")
            } else if other.2 != reference.2 {
                Some("sub_sampling_factor")
            } else if t.batch_len() != first.batch_len() {
                Some("n_steps × num_envs")
            } else if t.config().total_timesteps != first.config().total_timesteps {
                Some("total_timesteps")
            } else if cinder_policy::flat::num_params(&t.policy) != params
                || t.policy.valid().mlp().d_input() != first.policy.valid().mlp().d_input()
            {
                Some("the policy architecture")
            } else {
                None
            };
            if let Some(what) = what {
                return Err(AlgoError::Config(format!(
                    "run {k} differs from run 0 in {what}; lockstep runs share one stacked \
                     Fisher operator and CG loop"
                )));
            }
        }
        Ok(())
    }

    /// The runs.
    pub fn trainers(&self) -> &[Trainer<B, P>] {
        &self.trainers
    }

    /// The runs, mutably (e.g. to evaluate or checkpoint one).
    pub fn trainers_mut(&mut self) -> &mut [Trainer<B, P>] {
        &mut self.trainers
    }

    /// Trains every run to its budget (a run whose callback stops drops out; the others go
    /// on). `callbacks` has one entry per run.
    ///
    /// # Errors
    /// A wrong number of callbacks; env, I/O or operator failures.
    pub fn train(&mut self, callbacks: &mut [&mut dyn Callback]) -> Result<Vec<TrainSummary>> {
        let k = self.trainers.len();
        if callbacks.len() != k {
            return Err(AlgoError::Config(format!(
                "{} callbacks for {k} runs: give one per run",
                callbacks.len()
            )));
        }
        let mut clocks: Vec<Clock> = self
            .trainers
            .iter()
            .map(|t| Clock::new(t.global_step()))
            .collect();
        let mut stopped = vec![false; k];
        loop {
            let idx: Vec<usize> = (0..k)
                .filter(|&i| !stopped[i] && !self.trainers[i].done())
                .collect();
            if idx.is_empty() {
                break;
            }
            let mut pending = Vec::with_capacity(idx.len());
            for &i in &idx {
                pending.push(self.trainers[i].begin_update(&mut *callbacks[i])?);
            }
            let t = Instant::now();
            let results = self.joint_policy_step(&idx, &pending)?;
            let seconds = t.elapsed().as_secs_f64() / idx.len() as f64;
            for ((&i, mut p), (policy, stats)) in idx.iter().zip(pending).zip(results) {
                let trainer = &mut self.trainers[i];
                trainer.policy = policy;
                p.times[2] = seconds;
                let stats = trainer.fit_critic(&mut p, stats);
                let control = trainer.end_update(p, stats, &mut clocks[i], &mut *callbacks[i])?;
                if control == crate::trainer::Control::Stop {
                    stopped[i] = true;
                }
            }
        }
        self.trainers
            .iter_mut()
            .zip(&mut clocks)
            .zip(callbacks.iter_mut())
            .map(|((t, c), cb)| t.finish(c, &mut **cb))
            .collect()
    }

    /// The natural steps of runs `idx`: gradients per run, one stacked operator, one batched
    /// CG, then each run's own step size and line search.
    fn joint_policy_step(
        &self,
        idx: &[usize],
        pending: &[crate::trainer::Pending<B, P::Family>],
    ) -> Result<Vec<(P, crate::batch::UpdateStats)>> {
        let natural = |i: usize| match &self.trainers[i].learner {
            Learner::Natural(n) => n,
            Learner::FirstOrder(_) => unreachable!("checked by Lockstep::new"),
        };
        let prepared: Vec<_> = idx
            .iter()
            .zip(pending)
            .map(|(&i, p)| {
                natural(i)
                    .settings()
                    .prepare(&self.trainers[i].policy, &p.batch)
            })
            .collect();
        let g = Tensor::stack(prepared.iter().map(|p| p.g.clone()).collect(), 0);
        let inners: Vec<P::InnerModule> = idx
            .iter()
            .map(|&i| self.trainers[i].policy.valid())
            .collect();
        let obs = Tensor::stack(
            pending
                .iter()
                .map(|p| p.batch.obs.clone().inner())
                .collect(),
            0,
        );
        let (cg, fvp, _) = natural(idx[0]).shared_settings();
        let mut op = GaussNewton::stacked(&inners, obs, fvp)?;
        let sol = conjugate_gradient(|v| op.apply(v), g, cg)?;
        let curvature = (sol.x.clone() * op.apply(sol.x.clone())).sum_dim(1);
        let breakdown = sol.breakdown.int();
        idx.iter()
            .zip(pending)
            .zip(prepared)
            .enumerate()
            .map(|(j, ((&i, p), prep))| {
                let solved = Solved {
                    x: sol.x.clone().narrow(0, j, 1).squeeze_dim::<1>(0),
                    curvature: curvature.clone().narrow(0, j, 1).reshape([1]),
                    residual: sol.residual_norm.clone().narrow(0, j, 1),
                    breakdown: breakdown.clone().narrow(0, j, 1),
                    iterations: sol.iterations.clone().narrow(0, j, 1),
                };
                natural(i).settings().finish(
                    self.trainers[i].policy.clone(),
                    &p.batch,
                    prep,
                    solved,
                )
            })
            .collect()
    }
}

/// (CG iterations and tolerance, damping, sub-sampling) of a natural-gradient trainer.
fn shared<B: AutodiffBackend, P: AgentPolicy<B>>(
    t: &Trainer<B, P>,
) -> Result<((usize, u64), u64, usize)> {
    match &t.learner {
        Learner::Natural(n) => {
            let (cg, fvp, kind) = n.shared_settings();
            if kind != FvpKind::GaussNewton {
                return Err(AlgoError::Config(
                    "lockstep runs use the stacked Gauss-Newton product: set fvp = GaussNewton"
                        .into(),
                ));
            }
            Ok((
                (cg.max_iters, cg.residual_tol.to_bits()),
                fvp.damping.to_bits(),
                fvp.sub_sampling_factor,
            ))
        }
        Learner::FirstOrder(_) => Err(AlgoError::Config(
            "lockstep groups TRPO and NPG runs (their Fisher solves are what is batched); \
             run PPO and VPG with one Trainer each"
                .into(),
        )),
    }
}
