//! Rollout collection: a policy acting in a [`VecEnv`] for `T` steps, recorded as `[T, N, …]`
//! host buffers with everything the updates need (log-probs at collection time; the values of
//! the states visited and of the states each step led to, for GAE, come from one batched
//! forward pass of the value net afterwards: [`Rollout::evaluate_values`]).

use burn::tensor::{Tensor, TensorData, Transaction, backend::Backend};
use cinder_env::{ActionBuffer, Actions, EpisodeRecord, Space, StepBatch, VecEnv};
use cinder_policy::{ActionDistribution, Policy, ValueMlp};

use crate::family::ActionFamily;
use rand::Rng;

use crate::error::{AlgoError, Result};

/// `T` steps of `N` envs, step-major on the host.
///
/// # Shapes
/// - `obs`: `[T, N, obs_dim]` — the observation each action was taken in
/// - `actions`: `[T, N, action_dim]` continuous (the **unclipped** samples, which the log-probs
///   belong to; the env received them clipped to its bounds) or `[T, N]` discrete
/// - `log_probs`, `values`, `next_values`, `rewards`, `terminated`, `truncated`: `[T, N]`
///
/// `next_values[t, i]` is V of the state step `t` led to: of the next observation, or of the
/// final observation when the episode ended in that step — what [`gae`](crate::gae) takes.
/// [`RolloutCollector::collect`] leaves `values` and `next_values` empty: the value net is not
/// needed while acting (so it can still be training), and
/// [`evaluate_values`](Rollout::evaluate_values) fills both in one forward pass.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    /// Steps T.
    pub num_steps: usize,
    /// Envs N.
    pub num_envs: usize,
    /// Values per observation.
    pub obs_dim: usize,
    /// Observations.
    pub obs: Vec<f32>,
    /// Actions as sampled.
    pub actions: ActionBuffer,
    /// log π(a | s) at collection.
    pub log_probs: Vec<f32>,
    /// V(s) of each observation (empty until [`evaluate_values`](Self::evaluate_values)).
    pub values: Vec<f32>,
    /// V(s') of the state each step led to (empty until
    /// [`evaluate_values`](Self::evaluate_values)).
    pub next_values: Vec<f32>,
    /// The final observations of the episodes that ended, `[E, obs_dim]`, in step order.
    pub final_obs: Vec<f32>,
    /// Where each of them ended: the flat index `t·N + i` of its step, `[E]`.
    pub final_index: Vec<usize>,
    /// The observations the next rollout starts from, `[N, obs_dim]` (the last step's
    /// bootstrap).
    pub last_obs: Vec<f32>,
    /// Rewards (as the env stack returns them, e.g. normalised).
    pub rewards: Vec<f32>,
    /// Terminal steps.
    pub terminated: Vec<bool>,
    /// Truncated steps.
    pub truncated: Vec<bool>,
    /// Episodes that ended during the rollout (filled when the env stack records them).
    pub episodes: Vec<EpisodeRecord>,
    /// Episodes the simulator cut short because it became unstable (`StepBatch::unstable`).
    pub unstable: usize,
}

/// Steps a [`VecEnv`] with a policy, carrying the current observations from one rollout to
/// the next.
#[derive(Debug, Clone)]
pub struct RolloutCollector {
    obs: Vec<f32>,
    out: StepBatch,
    obs_dim: usize,
    bounds: Option<(Vec<f32>, Vec<f32>)>,
}

impl RolloutCollector {
    /// Resets `env` with `seed` and keeps its first observations.
    ///
    /// # Errors
    /// If the observation space is not a box, or the reset fails.
    pub fn new(env: &mut dyn VecEnv, seed: u64) -> Result<Self> {
        let mut collector = Self::resume(&*env, Vec::new())?;
        collector.obs = vec![0.0; env.num_envs() * collector.obs_dim];
        env.reset(Some(seed), &mut collector.obs)?;
        Ok(collector)
    }

    /// Continues from `obs` (`[N, obs_dim]`, the [`observations`](Self::observations) of a
    /// collector saved earlier) on an env restored with `VecEnv::load_runtime`; no reset.
    ///
    /// # Errors
    /// If the observation space is not a box, or `obs` has the wrong length (an empty `obs`
    /// is allowed only inside [`new`](Self::new)).
    pub fn resume(env: &dyn VecEnv, obs: Vec<f32>) -> Result<Self> {
        let obs_dim = match env.observation_space() {
            Space::Box(b) => b.dim(),
            other => {
                return Err(AlgoError::Unsupported(format!(
                    "observation space {other}: the learners take Box observations"
                )));
            }
        };
        let n = env.num_envs();
        if !obs.is_empty() && obs.len() != n * obs_dim {
            return Err(AlgoError::Shape {
                what: "saved observations",
                expected: n * obs_dim,
                got: obs.len(),
                steps: 1,
                num_envs: n,
            });
        }
        let bounds = env.action_space().as_box().map(|b| {
            let f = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<_>>();
            (f(&b.low), f(&b.high))
        });
        Ok(Self {
            out: StepBatch::new(n, obs_dim),
            obs,
            obs_dim,
            bounds,
        })
    }

    /// The observations the next rollout starts from (`[N, obs_dim]`).
    pub fn observations(&self) -> &[f32] {
        &self.obs
    }

    /// Collects `num_steps` steps: per step one forward pass of the policy on the batch, one
    /// read-back (actions and log-probs in one transaction), one env step. Actions are sampled
    /// with `rng`. The values are left to [`Rollout::evaluate_values`].
    ///
    /// # Errors
    /// Env errors (e.g. a Gymnasium exception), or a policy whose action kind does not match
    /// the env.
    pub fn collect<B, P, R>(
        &mut self,
        env: &mut dyn VecEnv,
        policy: &P,
        num_steps: usize,
        rng: &mut R,
        device: &B::Device,
    ) -> Result<Rollout>
    where
        B: Backend,
        P: Policy<B, Family: ActionFamily>,
        R: Rng + ?Sized,
    {
        let (n, d) = (env.num_envs(), self.obs_dim);
        self.collect_with(env, num_steps, rng, |obs, rng, log_probs| {
            let obs = Tensor::<B, 2>::from_data(TensorData::new(obs.to_vec(), [n, d]), device);
            let dist = policy.distribution(obs);
            let actions = dist.sample(rng);
            let lp = dist.log_prob(actions.clone());
            // One device→host transfer for the actions and log-probs.
            let tx = P::Family::register(Transaction::default(), actions).register(lp);
            let [actions, lp]: [TensorData; 2] = tx
                .execute()
                .try_into()
                .expect("two tensors were registered");
            log_probs.extend(lp.iter::<f32>());
            Ok(P::Family::from_data(actions))
        })
    }

    /// [`collect`](Self::collect) with the acting left to `act`: given the `[N, obs_dim]`
    /// observations and the generator, it returns the N actions and appends their N
    /// log-probabilities to the vector it is given.
    ///
    /// # Errors
    /// As [`collect`](Self::collect), and `act`'s own.
    pub fn collect_with<R, F>(
        &mut self,
        env: &mut dyn VecEnv,
        num_steps: usize,
        rng: &mut R,
        mut act: F,
    ) -> Result<Rollout>
    where
        R: Rng + ?Sized,
        F: FnMut(&[f32], &mut R, &mut Vec<f32>) -> Result<ActionBuffer>,
    {
        let n = env.num_envs();
        let d = self.obs_dim;
        let mut rollout = Rollout {
            num_steps,
            num_envs: n,
            obs_dim: d,
            obs: Vec::with_capacity(num_steps * n * d),
            actions: env.action_space().action_buffer(0),
            log_probs: Vec::with_capacity(num_steps * n),
            values: Vec::new(),
            next_values: Vec::new(),
            final_obs: Vec::new(),
            final_index: Vec::new(),
            last_obs: Vec::new(),
            rewards: Vec::with_capacity(num_steps * n),
            terminated: Vec::with_capacity(num_steps * n),
            truncated: Vec::with_capacity(num_steps * n),
            episodes: Vec::new(),
            unstable: 0,
        };
        let mut env_actions = Vec::new();
        for t in 0..num_steps {
            let before = rollout.log_probs.len();
            let host = act(&self.obs, rng, &mut rollout.log_probs)?;
            if rollout.log_probs.len() != before + n {
                return Err(AlgoError::Shape {
                    what: "log-probabilities of one vector step",
                    expected: n,
                    got: rollout.log_probs.len() - before,
                    steps: 1,
                    num_envs: n,
                });
            }
            let step_actions = match (&host, &self.bounds) {
                (ActionBuffer::Continuous(a), Some((low, high))) => {
                    let dim = low.len();
                    env_actions.clear();
                    env_actions.extend(
                        a.iter()
                            .enumerate()
                            .map(|(j, &x)| x.clamp(low[j % dim], high[j % dim])),
                    );
                    Actions::Continuous(&env_actions)
                }
                (buffer, _) => buffer.as_actions(),
            };
            env.step(step_actions, &mut self.out)?;
            rollout.obs.extend_from_slice(&self.obs);
            match (&mut rollout.actions, host) {
                (ActionBuffer::Continuous(all), ActionBuffer::Continuous(a)) => all.extend(a),
                (ActionBuffer::Discrete(all), ActionBuffer::Discrete(a)) => all.extend(a),
                _ => {
                    return Err(AlgoError::Unsupported(
                        "the policy's action kind does not match the env's action space".into(),
                    ));
                }
            }
            rollout.rewards.extend_from_slice(&self.out.rewards);
            rollout.terminated.extend_from_slice(&self.out.terminated);
            rollout.truncated.extend_from_slice(&self.out.truncated);
            rollout.episodes.extend_from_slice(&self.out.episodes);
            rollout.unstable += self.out.unstable.len();
            for i in (0..n).filter(|&i| self.out.done(i)) {
                rollout.final_index.push(t * n + i);
                rollout
                    .final_obs
                    .extend_from_slice(self.out.final_obs_row(i));
            }
            self.obs.copy_from_slice(&self.out.obs);
        }
        rollout.last_obs = self.obs.clone();
        Ok(rollout)
    }
}

impl Rollout {
    /// Fills [`values`](Self::values) and [`next_values`](Self::next_values) with `value`'s
    /// estimates, in one forward pass over every observation of the rollout, the final
    /// observations of the episodes that ended and the observations the next rollout starts
    /// from, and one read-back.
    ///
    /// # Errors
    /// Buffers of inconsistent lengths (a rollout not built by [`RolloutCollector`]).
    pub fn evaluate_values<B: Backend>(
        &mut self,
        value: &ValueMlp<B>,
        device: &B::Device,
    ) -> Result<()> {
        let (n, d, num_steps) = (self.num_envs, self.obs_dim, self.num_steps);
        let rows = num_steps * n;
        let ended = self.final_index.len();
        let consistent = self.obs.len() == rows * d
            && self.final_obs.len() == ended * d
            && self.last_obs.len() == n * d
            && self.final_index.iter().all(|&k| k < rows);
        if !consistent {
            return Err(AlgoError::Shape {
                what: "rollout observations (obs, final_obs, last_obs)",
                expected: (rows + ended + n) * d,
                got: self.obs.len() + self.final_obs.len() + self.last_obs.len(),
                steps: num_steps,
                num_envs: n,
            });
        }
        // The rollout's observations, then the final observations of the ended episodes, then
        // the next rollout's start.
        let mut all = Vec::with_capacity((rows + ended + n) * d);
        all.extend_from_slice(&self.obs);
        all.extend_from_slice(&self.final_obs);
        all.extend_from_slice(&self.last_obs);
        let v: Vec<f32> = value
            .forward(Tensor::<B, 2>::from_data(
                TensorData::new(all, [rows + ended + n, d]),
                device,
            ))
            .into_data()
            .iter::<f32>()
            .collect();
        let (values, rest) = v.split_at(rows);
        let (at_final, last) = rest.split_at(ended);
        self.values = values.to_vec();
        // V(s') = V(obs_{t+1}) where the episode goes on (the last step bootstraps from the
        // observations the next rollout starts from), V(final_obs) where it ended.
        self.next_values = (0..rows)
            .map(|k| {
                if k + n < rows {
                    values[k + n]
                } else {
                    last[k % n]
                }
            })
            .collect();
        for (&k, &v) in self.final_index.iter().zip(at_final) {
            self.next_values[k] = v;
        }
        Ok(())
    }
}
