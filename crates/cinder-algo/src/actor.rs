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

use std::marker::PhantomData;

use burn::module::AutodiffModule;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};
use cinder_env::{ActionBuffer, EnvState, Frame, VecEnv};
use cinder_policy::{
    CategoricalFamily, GaussianFamily, HostMlp, HostWorkspace, LN_2PI, Policy, ValueMlp,
    categorical_act, flat, gaussian_act, gaussian_log_probs, log_softmax,
};
use rand::Rng;

use crate::error::Result;
use crate::family::{ActionFamily, AgentPolicy};
use crate::rollout::{Rollout, RolloutCollector};
use crate::trainer::{EvalResult, Recording, TrainRng, evaluate_policy_recorded, evaluate_with};

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

/// A distribution family whose built-in MLP policy ([`GaussianMlpPolicy`],
/// [`CategoricalMlpPolicy`]) can act in plain Rust on the host ([`NativeActor`]).
///
/// [`GaussianMlpPolicy`]: cinder_policy::GaussianMlpPolicy
/// [`CategoricalMlpPolicy`]: cinder_policy::CategoricalMlpPolicy
pub trait NativeFamily: ActionFamily {
    /// How many parameters follow the MLP's in the policy's flat order (a Gaussian's log σ).
    fn extra_params(net: &HostMlp) -> usize;

    /// The actions for `obs` (`[rows, d_in]`), with the policy's flat parameters `params`:
    /// sampled from `rng` as the burn policy's distribution samples them, or its mode without
    /// `rng`; their log-probabilities are appended to `log_probs` when given.
    fn act<R: Rng + ?Sized>(
        net: &HostMlp,
        params: &[f32],
        obs: &[f32],
        ws: &mut HostWorkspace,
        rng: Option<&mut R>,
        log_probs: Option<&mut Vec<f32>>,
    ) -> ActionBuffer;

    /// One action component as the host stores it: an `f32` of a continuous action (a row
    /// holds [`action_width`](Self::action_width) of them), the `i64` index of a discrete one.
    type HostAction: Copy + Default + Send + Sync + 'static;

    /// Values per action: the action dimension of a Gaussian, 1 for a categorical.
    fn action_width(net: &HostMlp) -> usize;

    /// The actions of a host buffer of this family's kind.
    ///
    /// # Errors
    /// A buffer of the other kind.
    fn host_actions(buffer: ActionBuffer) -> Result<Vec<Self::HostAction>>;

    /// `log π(a | s)` of each row, appended to `log_probs`: `out` the MLP's outputs
    /// (`[rows, d_out]`) and `head` the policy's parameters after the MLP's (see
    /// [`extra_params`](Self::extra_params)), computed as the burn distribution computes them.
    fn log_probs(out: &[f32], head: &[f32], actions: &[Self::HostAction], log_probs: &mut Vec<f32>);

    /// The mean entropy over `rows` rows.
    fn mean_entropy(out: &[f32], head: &[f32], rows: usize) -> f32;

    /// The mean `KL(old ‖ new)` over `rows` rows.
    fn mean_kl(old: (&[f32], &[f32]), new: (&[f32], &[f32]), rows: usize) -> f32;

    /// The gradient of `L = Σᵢ d_log_probs[i] · log π(aᵢ | sᵢ) + d_entropy · mean entropy
    /// + d_kl · mean KL(old ‖ π)` (the last term when `kl = Some((old_out, old_head, d_kl))`)
    /// with respect to the outputs, into `d_out` (`[rows, d_out]`, overwritten), and to the
    /// head's parameters, into `d_head` (overwritten).
    #[allow(clippy::too_many_arguments)]
    fn backward(
        out: &[f32],
        head: &[f32],
        actions: &[Self::HostAction],
        d_log_probs: &[f32],
        d_entropy: f32,
        kl: Option<(&[f32], &[f32], f32)>,
        d_out: &mut Vec<f32>,
        d_head: &mut [f32],
    );
}

impl NativeFamily for GaussianFamily {
    fn extra_params(net: &HostMlp) -> usize {
        net.dims()[net.dims().len() - 1]
    }

    fn act<R: Rng + ?Sized>(
        net: &HostMlp,
        params: &[f32],
        obs: &[f32],
        ws: &mut HostWorkspace,
        rng: Option<&mut R>,
        log_probs: Option<&mut Vec<f32>>,
    ) -> ActionBuffer {
        let (mlp, log_std) = params.split_at(net.num_params());
        let mean = net.forward(mlp, obs, obs.len() / net.dims()[0], ws);
        let mut actions = Vec::with_capacity(mean.len());
        gaussian_act(mean, log_std, rng, &mut actions, log_probs);
        ActionBuffer::Continuous(actions)
    }

    type HostAction = f32;

    fn action_width(net: &HostMlp) -> usize {
        net.dims()[net.dims().len() - 1]
    }

    fn host_actions(buffer: ActionBuffer) -> Result<Vec<f32>> {
        match buffer {
            ActionBuffer::Continuous(a) => Ok(a),
            ActionBuffer::Discrete(_) => Err(crate::AlgoError::Unsupported(
                "discrete actions for a Gaussian policy: use a categorical policy".into(),
            )),
        }
    }

    fn log_probs(out: &[f32], log_std: &[f32], actions: &[f32], log_probs: &mut Vec<f32>) {
        gaussian_log_probs(out, log_std, actions, log_probs);
    }

    fn mean_entropy(_: &[f32], log_std: &[f32], _: usize) -> f32 {
        // The same for every row: Σⱼ log σⱼ + a (1 + ln 2π) / 2.
        let c = 0.5 * (1.0 + LN_2PI) * log_std.len() as f64;
        log_std.iter().sum::<f32>() + c as f32
    }

    fn mean_kl(
        (old_mean, old_log_std): (&[f32], &[f32]),
        (mean, log_std): (&[f32], &[f32]),
        rows: usize,
    ) -> f32 {
        // Σⱼ log σⱼ − log σ'ⱼ + (σ'ⱼ² + (μ'ⱼ − μⱼ)²) / (2 σⱼ²) − 1/2, old primed.
        let a = log_std.len();
        let var_old: Vec<f32> = old_log_std.iter().map(|l| (2.0 * l).exp()).collect();
        let inv_var: Vec<f32> = log_std.iter().map(|l| (-2.0 * l).exp()).collect();
        let mut sum = 0.0f32;
        for (mo, m) in old_mean.chunks_exact(a).zip(mean.chunks_exact(a)) {
            for j in 0..a {
                let d = mo[j] - m[j];
                sum += log_std[j] - old_log_std[j] + (var_old[j] + d * d) * inv_var[j] * 0.5 - 0.5;
            }
        }
        sum / rows as f32
    }

    fn backward(
        mean: &[f32],
        log_std: &[f32],
        actions: &[f32],
        d_log_probs: &[f32],
        d_entropy: f32,
        kl: Option<(&[f32], &[f32], f32)>,
        d_mean: &mut Vec<f32>,
        d_log_std: &mut [f32],
    ) {
        // ∂ log π / ∂μⱼ = zⱼ / σⱼ and ∂ log π / ∂ log σⱼ = zⱼ² − 1, with zⱼ = (aⱼ − μⱼ) / σⱼ;
        // the mean entropy's ∂ / ∂ log σⱼ is 1.
        let a = log_std.len();
        let rows = d_log_probs.len();
        let inv_std: Vec<f32> = log_std.iter().map(|l| (-l).exp()).collect();
        d_mean.clear();
        d_mean.resize(rows * a, 0.0);
        d_log_std.fill(d_entropy);
        for (i, &w) in d_log_probs.iter().enumerate() {
            for j in 0..a {
                let k = i * a + j;
                let z = (actions[k] - mean[k]) * inv_std[j];
                d_mean[k] = w * z * inv_std[j];
                d_log_std[j] += w * (z * z - 1.0);
            }
        }
        if let Some((old_mean, old_log_std, d_kl)) = kl {
            // ∂ KL / ∂μⱼ = (μⱼ − μ'ⱼ) / σⱼ², ∂ KL / ∂ log σⱼ = 1 − (σ'ⱼ² + (μ'ⱼ − μⱼ)²) / σⱼ².
            let w = d_kl / rows as f32;
            for j in 0..a {
                let inv_var = (-2.0 * log_std[j]).exp();
                let var_old = (2.0 * old_log_std[j]).exp();
                for i in 0..rows {
                    let k = i * a + j;
                    let d = old_mean[k] - mean[k];
                    d_mean[k] -= w * d * inv_var;
                    d_log_std[j] += w * (1.0 - (var_old + d * d) * inv_var);
                }
            }
        }
    }
}

impl NativeFamily for CategoricalFamily {
    fn extra_params(_: &HostMlp) -> usize {
        0
    }

    fn act<R: Rng + ?Sized>(
        net: &HostMlp,
        params: &[f32],
        obs: &[f32],
        ws: &mut HostWorkspace,
        rng: Option<&mut R>,
        log_probs: Option<&mut Vec<f32>>,
    ) -> ActionBuffer {
        let n_actions = net.dims()[net.dims().len() - 1];
        let logits = net.forward(params, obs, obs.len() / net.dims()[0], ws);
        let mut actions = Vec::with_capacity(logits.len() / n_actions);
        categorical_act(logits, n_actions, rng, &mut actions, log_probs);
        ActionBuffer::Discrete(actions)
    }

    type HostAction = i64;

    fn action_width(_: &HostMlp) -> usize {
        1
    }

    fn host_actions(buffer: ActionBuffer) -> Result<Vec<i64>> {
        match buffer {
            ActionBuffer::Discrete(a) => Ok(a),
            ActionBuffer::Continuous(_) => Err(crate::AlgoError::Unsupported(
                "continuous actions for a categorical policy: use a Gaussian policy".into(),
            )),
        }
    }

    fn log_probs(logits: &[f32], _: &[f32], actions: &[i64], log_probs: &mut Vec<f32>) {
        let c = logits.len() / actions.len();
        let mut row = vec![0.0; c];
        for (l, &a) in logits.chunks_exact(c).zip(actions) {
            log_softmax(l, &mut row);
            log_probs.push(row[a as usize]);
        }
    }

    fn mean_entropy(logits: &[f32], _: &[f32], rows: usize) -> f32 {
        let c = logits.len() / rows;
        let mut row = vec![0.0; c];
        let mut sum = 0.0f32;
        for l in logits.chunks_exact(c) {
            log_softmax(l, &mut row);
            sum -= row.iter().map(|&lp| lp.exp() * lp).sum::<f32>();
        }
        sum / rows as f32
    }

    fn mean_kl((old, _): (&[f32], &[f32]), (new, _): (&[f32], &[f32]), rows: usize) -> f32 {
        let c = new.len() / rows;
        let (mut lo, mut ln) = (vec![0.0; c], vec![0.0; c]);
        let mut sum = 0.0f32;
        for (o, n) in old.chunks_exact(c).zip(new.chunks_exact(c)) {
            log_softmax(o, &mut lo);
            log_softmax(n, &mut ln);
            sum += lo
                .iter()
                .zip(&ln)
                .map(|(&a, &b)| a.exp() * (a - b))
                .sum::<f32>();
        }
        sum / rows as f32
    }

    fn backward(
        logits: &[f32],
        _: &[f32],
        actions: &[i64],
        d_log_probs: &[f32],
        d_entropy: f32,
        kl: Option<(&[f32], &[f32], f32)>,
        d_logits: &mut Vec<f32>,
        _: &mut [f32],
    ) {
        // With p = softmax(l): ∂ log pₐ / ∂lₖ = [k = a] − pₖ, ∂H / ∂lₖ = −pₖ (log pₖ + H),
        // ∂ KL(p' ‖ p) / ∂lₖ = pₖ − p'ₖ.
        let rows = d_log_probs.len();
        let c = logits.len() / rows;
        let (e, w_kl) = (
            d_entropy / rows as f32,
            kl.map_or(0.0, |k| k.2 / rows as f32),
        );
        let (mut lp, mut old_lp) = (vec![0.0; c], vec![0.0; c]);
        d_logits.clear();
        d_logits.resize(rows * c, 0.0);
        for i in 0..rows {
            let l = &logits[i * c..(i + 1) * c];
            log_softmax(l, &mut lp);
            let h = -lp.iter().map(|&v| v.exp() * v).sum::<f32>();
            if let Some((old, _, _)) = kl {
                log_softmax(&old[i * c..(i + 1) * c], &mut old_lp);
            }
            let w = d_log_probs[i];
            let a = actions[i] as usize;
            for k in 0..c {
                let p = lp[k].exp();
                let mut g = w * (f32::from(u8::from(k == a)) - p) - e * p * (lp[k] + h);
                if kl.is_some() {
                    g += w_kl * (p - old_lp[k].exp());
                }
                d_logits[i * c + k] = g;
            }
        }
    }
}

/// Acts with a built-in MLP policy in plain Rust on the host, with no backend at all: per
/// vector step one [`HostMlp`] forward pass on `[N, obs_dim]`, the noise drawn from the
/// trainer's generator exactly as the burn policy draws it, and the log-probabilities by the
/// same formulas. burn runs a forward pass of this size as some thirty ops with a fixed cost
/// each, far more than its arithmetic; here it is a few µs. It differs from acting on the
/// learner by float rounding only (the matrix products sum in another order).
///
/// [`sync`](Actor::sync) reads the policy's parameters once per update (the value net is not
/// needed: values come from the learner's batched pass).
#[derive(Debug, Clone)]
pub struct NativeActor<F> {
    net: HostMlp,
    params: Vec<f32>,
    family: PhantomData<fn() -> F>,
}

impl<F: NativeFamily> NativeActor<F> {
    /// An actor for a policy whose MLP is `net` (its parameters arrive at the first
    /// [`Actor::sync`]).
    pub fn new(net: HostMlp) -> Self {
        Self {
            net,
            params: Vec::new(),
            family: PhantomData,
        }
    }

    /// Refuses to act before the first [`Actor::sync`].
    fn synced(&self) -> Result<()> {
        if self.params.is_empty() {
            return Err(crate::AlgoError::Unsupported(
                "the native actor has no parameters yet: call `Actor::sync` with the learner's \
                 policy first"
                    .into(),
            ));
        }
        Ok(())
    }
}

impl<B, P> Actor<B, P> for NativeActor<P::Family>
where
    B: AutodiffBackend,
    P: AgentPolicy<B>,
    P::Family: NativeFamily,
{
    fn sync(&mut self, policy: &P, _value: &ValueMlp<B>) -> Result<()> {
        let have = flat::num_params(policy);
        let want = self.net.num_params() + P::Family::extra_params(&self.net);
        if have != want {
            return Err(crate::AlgoError::Unsupported(format!(
                "the native actor's network {:?} has {want} parameters, the learner's policy \
                 {have}; build it from the learner's MLP",
                self.net.dims()
            )));
        }
        self.params = flat::flatten(&policy.valid())
            .into_data()
            .iter::<f32>()
            .collect();
        Ok(())
    }

    fn collect(
        &self,
        collector: &mut RolloutCollector,
        env: &mut dyn VecEnv,
        num_steps: usize,
        rng: &mut TrainRng,
    ) -> Result<Rollout> {
        self.synced()?;
        let mut ws = HostWorkspace::default();
        collector.collect_with(env, num_steps, rng, |obs, rng, log_probs| {
            Ok(P::Family::act(
                &self.net,
                &self.params,
                obs,
                &mut ws,
                Some(rng),
                Some(log_probs),
            ))
        })
    }

    fn evaluate(
        &self,
        env: &mut dyn VecEnv,
        stats: &EnvState,
        seed: u64,
        sample: Option<&mut TrainRng>,
        record: Option<&Recording>,
    ) -> Result<(EvalResult, Vec<Vec<Frame>>)> {
        self.synced()?;
        let mut ws = HostWorkspace::default();
        evaluate_with(env, stats, seed, sample, record, |obs, rng| {
            Ok(P::Family::act(
                &self.net,
                &self.params,
                obs,
                &mut ws,
                rng,
                None,
            ))
        })
    }

    fn describe(&self) -> String {
        "native".into()
    }
}
