//! One environment ([`Env`]) and a batch of them stepped across cores ([`ParallelVecEnv`]).

use rayon::prelude::*;

use crate::error::{EnvError, Result};
use crate::space::{Actions, Space};
use crate::vec_env::{StepBatch, VecEnv, check_buffer, check_index};

/// The outcome of one [`Env::step`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transition {
    /// Reward of the step.
    pub reward: f64,
    /// The episode reached a terminal state.
    pub terminated: bool,
    /// The episode was cut short (e.g. by the env's own time limit).
    pub truncated: bool,
}

/// One environment with Gymnasium semantics (no auto-reset). Implement this for an env whose
/// step is expensive enough to be worth a thread (a physics simulation, a Python env), and batch
/// it with [`ParallelVecEnv`]; cheap envs are better written batched, like the native
/// classic-control ones.
pub trait Env: Send {
    /// Observation space.
    fn observation_space(&self) -> &Space;

    /// Action space.
    fn action_space(&self) -> &Space;

    /// Starts an episode (seeding the env's random stream when `seed` is given) and writes the
    /// first observation to `obs` (`[obs_dim]`).
    ///
    /// # Errors
    /// If `obs` has the wrong length, or the env fails.
    fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) -> Result<()>;

    /// Applies one action (a batch of one: `[action_dim]` continuous or `[1]` discrete) and
    /// writes the next observation to `obs`.
    ///
    /// # Errors
    /// On an invalid action (the env is then unchanged), a missing reset, or an env failure.
    fn step(&mut self, action: Actions<'_>, obs: &mut [f32]) -> Result<Transition>;
}

/// A batch of [`Env`]s that steps them in parallel with rayon, with the [`VecEnv`] contract.
///
/// Env `i` is seeded with `seed + i` and owns its random stream, so results are identical for
/// any number of threads.
pub struct ParallelVecEnv<E: Env> {
    envs: Vec<E>,
    observation_space: Space,
    action_space: Space,
    pool: Option<rayon::ThreadPool>,
    threads: usize,
    ready: bool,
}

impl<E: Env> ParallelVecEnv<E> {
    /// Batches `envs`, which must share observation and action spaces.
    ///
    /// `threads`: 0 uses rayon's global pool (all cores), 1 steps in the calling thread,
    /// k ≥ 2 a dedicated pool of k threads.
    ///
    /// # Errors
    /// If `envs` is empty, the spaces differ, or the thread pool cannot be built.
    pub fn new(envs: Vec<E>, threads: usize) -> Result<Self> {
        let first = envs.first().ok_or(EnvError::Config {
            what: "ParallelVecEnv",
            message: "needs at least one env".into(),
        })?;
        let observation_space = first.observation_space().clone();
        let action_space = first.action_space().clone();
        for (i, env) in envs.iter().enumerate() {
            if env.observation_space() != &observation_space || env.action_space() != &action_space
            {
                return Err(EnvError::Config {
                    what: "ParallelVecEnv",
                    message: format!(
                        "env {i} has other spaces than env 0; batch only copies of one env"
                    ),
                });
            }
        }
        let pool = if threads >= 2 {
            Some(thread_pool(threads, threads)?)
        } else {
            None
        };
        Ok(Self {
            envs,
            observation_space,
            action_space,
            pool,
            threads,
            ready: false,
        })
    }

    /// Builds `num_envs` envs with `make(i)`.
    ///
    /// # Errors
    /// As [`ParallelVecEnv::new`], or the first error of `make`.
    pub fn from_fn(
        num_envs: usize,
        threads: usize,
        make: impl FnMut(usize) -> Result<E>,
    ) -> Result<Self> {
        let envs = (0..num_envs).map(make).collect::<Result<Vec<_>>>()?;
        Self::new(envs, threads)
    }

    /// The envs, in batch order.
    pub fn envs(&self) -> &[E] {
        &self.envs
    }

    /// Worker threads requested (0 = rayon's global pool).
    pub fn threads(&self) -> usize {
        self.threads
    }
}

/// A rayon pool of `workers` threads for a batch that asked for `threads`.
pub(crate) fn thread_pool(workers: usize, threads: usize) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .build()
        .map_err(|e| EnvError::Config {
            what: "threads",
            message: format!("cannot start {threads} worker threads: {e}"),
        })
}

fn one_action<'a>(actions: Actions<'a>, i: usize, dim: usize) -> Actions<'a> {
    match actions {
        Actions::Continuous(a) => Actions::Continuous(&a[i * dim..(i + 1) * dim]),
        Actions::Discrete(a) => Actions::Discrete(&a[i..i + 1]),
    }
}

impl<E: Env> VecEnv for ParallelVecEnv<E> {
    fn num_envs(&self) -> usize {
        self.envs.len()
    }

    fn observation_space(&self) -> &Space {
        &self.observation_space
    }

    fn action_space(&self) -> &Space {
        &self.action_space
    }

    fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) -> Result<()> {
        let d = self.observation_space.flat_dim();
        check_buffer("reset observations", obs.len(), self.envs.len() * d)?;
        let parallel = self.threads != 1;
        let envs = &mut self.envs;
        let result = match &self.pool {
            Some(pool) => pool.install(|| reset_all(envs, obs, d, seed, parallel)),
            None => reset_all(envs, obs, d, seed, parallel),
        };
        self.ready = result.is_ok();
        result
    }

    fn step(&mut self, actions: Actions<'_>, out: &mut StepBatch) -> Result<()> {
        let n = self.envs.len();
        let d = self.observation_space.flat_dim();
        let adim = self.action_space.flat_dim();
        self.action_space.validate_actions(actions, n)?;
        if !self.ready {
            return Err(EnvError::NotReset);
        }
        out.prepare(n, d)?;
        let parallel = self.threads != 1;
        let StepBatch {
            obs,
            rewards,
            terminated,
            truncated,
            final_obs,
            ..
        } = out;
        #[allow(clippy::type_complexity)]
        let work = |(i, ((((env, obs), fin), rew), (term, trunc))): (
            usize,
            (
                (((&mut E, &mut [f32]), &mut [f32]), &mut f32),
                (&mut bool, &mut bool),
            ),
        )| {
            let t = env.step(one_action(actions, i, adim), obs)?;
            *rew = t.reward as f32;
            *term = t.terminated;
            *trunc = t.truncated;
            if t.terminated || t.truncated {
                fin.copy_from_slice(obs);
                env.reset(None, obs)?;
            }
            Ok::<_, EnvError>(())
        };
        let envs = &mut self.envs;
        let result = if parallel {
            let mut job = || {
                envs.par_iter_mut()
                    .zip(obs.par_chunks_mut(d))
                    .zip(final_obs.par_chunks_mut(d))
                    .zip(rewards.par_iter_mut())
                    .zip(terminated.par_iter_mut().zip(truncated.par_iter_mut()))
                    .enumerate()
                    .try_for_each(work)
            };
            match &self.pool {
                Some(pool) => pool.install(job),
                None => job(),
            }
        } else {
            envs.iter_mut()
                .zip(obs.chunks_mut(d))
                .zip(final_obs.chunks_mut(d))
                .zip(rewards.iter_mut())
                .zip(terminated.iter_mut().zip(truncated.iter_mut()))
                .enumerate()
                .try_for_each(work)
        };
        if let Err(e) = result {
            // Some envs stepped, some did not: the batch is out of step and must be reset.
            self.ready = false;
            return Err(match e {
                EnvError::Env(msg) => {
                    EnvError::Env(format!("{msg} (reset the batch before stepping again)"))
                }
                other => other,
            });
        }
        Ok(())
    }

    fn reset_env(&mut self, index: usize, obs: &mut [f32]) -> Result<()> {
        check_index(index, self.envs.len())?;
        check_buffer(
            "reset observation",
            obs.len(),
            self.observation_space.flat_dim(),
        )?;
        self.envs[index].reset(None, obs)
    }
}

fn reset_all<E: Env>(
    envs: &mut [E],
    obs: &mut [f32],
    d: usize,
    seed: Option<u64>,
    parallel: bool,
) -> Result<()> {
    let seed_of = |i: usize| seed.map(|s| s.wrapping_add(i as u64));
    if parallel {
        envs.par_iter_mut()
            .zip(obs.par_chunks_mut(d))
            .enumerate()
            .try_for_each(|(i, (env, o))| env.reset(seed_of(i), o))
    } else {
        envs.iter_mut()
            .zip(obs.chunks_mut(d))
            .enumerate()
            .try_for_each(|(i, (env, o))| env.reset(seed_of(i), o))
    }
}
