//! Where the policy acts: rollouts and evaluations on a copy of the networks on another
//! backend, typically the CPU, while the learner stays on the device.
//!
//! Stepping N small envs one step at a time calls the policy on batches of N rows. On a GPU
//! each call is a few kernel launches and a device→host read, which costs more than the
//! arithmetic; GPU RL frameworks act where it is cheapest. A [`HostActor`] holds a copy of
//! the policy and value net on a host backend, refreshed from the learner's networks once per
//! update (one read-back of a few thousand floats); the learner — surrogate gradient, Fisher
//! products, CG, line search, critic fit — never leaves the device.
//!
//! Acting on the copy draws the same random numbers as acting on the learner's networks (the
//! action noise comes from the trainer's generator on the host either way), so the two
//! placements differ only by the float rounding of two backends' forward passes.

use burn::module::AutodiffModule;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};
use cinder_env::{EnvState, Frame, VecEnv};
use cinder_policy::{Policy, ValueMlp, flat};

use crate::error::Result;
use crate::family::AgentPolicy;
use crate::rollout::{Rollout, RolloutCollector};
use crate::trainer::{EvalResult, Recording, TrainRng, evaluate_policy_recorded};

/// Acts for a [`Trainer`](crate::Trainer) on networks of its own, kept equal to the
/// learner's by [`sync`](Actor::sync).
pub trait Actor<B: AutodiffBackend, P: AgentPolicy<B>>: Send {
    /// Copies the learner's current policy and value net.
    ///
    /// # Errors
    /// Networks of another architecture than the copy's.
    fn sync(&mut self, policy: &P, value: &ValueMlp<B>) -> Result<()>;

    /// Collects `num_steps` steps (see [`RolloutCollector::collect`]).
    ///
    /// # Errors
    /// As [`RolloutCollector::collect`].
    fn collect(
        &self,
        collector: &mut RolloutCollector,
        env: &mut dyn VecEnv,
        num_steps: usize,
        rng: &mut TrainRng,
    ) -> Result<Rollout>;

    /// Evaluates, drawing the episodes when `record` is given (see
    /// [`evaluate_policy_recorded`]).
    ///
    /// # Errors
    /// As [`evaluate_policy_recorded`].
    fn evaluate(
        &self,
        env: &mut dyn VecEnv,
        stats: &EnvState,
        seed: u64,
        sample: Option<&mut TrainRng>,
        record: Option<&Recording>,
    ) -> Result<(EvalResult, Vec<Vec<Frame>>)>;

    /// A short description for logs, e.g. `"ndarray copy"`.
    fn describe(&self) -> String;
}

/// A copy of the policy (`Q`, the same network as the learner's on backend `A`) and of the
/// value net, acting on `A`.
#[derive(Debug, Clone)]
pub struct HostActor<A: Backend, Q: Policy<A>> {
    policy: Q,
    value: ValueMlp<A>,
    device: A::Device,
}

impl<A: Backend, Q: Policy<A>> HostActor<A, Q> {
    /// An actor on `device` with `policy` and `value` as the architecture to copy into (their
    /// values are replaced at the first [`Actor::sync`]).
    pub fn new(policy: Q, value: ValueMlp<A>, device: &A::Device) -> Self {
        Self {
            policy,
            value,
            device: device.clone(),
        }
    }

    /// The policy copy.
    pub fn policy(&self) -> &Q {
        &self.policy
    }

    /// The value-net copy.
    pub fn value(&self) -> &ValueMlp<A> {
        &self.value
    }
}

impl<B, P, A, Q> Actor<B, P> for HostActor<A, Q>
where
    B: AutodiffBackend,
    P: AgentPolicy<B>,
    A: Backend,
    Q: Policy<A, Family = P::Family> + Send + Clone,
{
    fn sync(&mut self, policy: &P, value: &ValueMlp<B>) -> Result<()> {
        let np = flat::num_params(policy);
        let nv = flat::num_params(value);
        let (qp, qv) = (
            flat::num_params(&self.policy),
            flat::num_params(&self.value),
        );
        if (np, nv) != (qp, qv) {
            return Err(crate::AlgoError::Unsupported(format!(
                "the acting copy has {qp} + {qv} parameters, the learner's networks {np} + \
                 {nv}; build the copy with the learner's architecture"
            )));
        }
        // One read-back for both networks.
        let both = Tensor::cat(
            vec![
                flat::flatten(&policy.valid()),
                flat::flatten(&value.valid()),
            ],
            0,
        );
        let host: Vec<f32> = both.into_data().iter::<f32>().collect();
        let (p, v) = host.split_at(np);
        let upload = |x: &[f32]| {
            Tensor::<A, 1>::from_data(TensorData::new(x.to_vec(), [x.len()]), &self.device)
        };
        self.policy = flat::load(self.policy.clone(), upload(p))?;
        self.value = flat::load(self.value.clone(), upload(v))?;
        Ok(())
    }

    fn collect(
        &self,
        collector: &mut RolloutCollector,
        env: &mut dyn VecEnv,
        num_steps: usize,
        rng: &mut TrainRng,
    ) -> Result<Rollout> {
        collector.collect(env, &self.policy, num_steps, rng, &self.device)
    }

    fn evaluate(
        &self,
        env: &mut dyn VecEnv,
        stats: &EnvState,
        seed: u64,
        sample: Option<&mut TrainRng>,
        record: Option<&Recording>,
    ) -> Result<(EvalResult, Vec<Vec<Frame>>)> {
        evaluate_policy_recorded(&self.policy, env, stats, seed, sample, record, &self.device)
    }

    fn describe(&self) -> String {
        let full = std::any::type_name::<A>().to_lowercase();
        let name = ["flex", "ndarray", "wgpu", "cuda", "candle", "tch"]
            .into_iter()
            .find(|n| full.contains(n))
            .unwrap_or("host");
        format!("{name} copy")
    }
}
