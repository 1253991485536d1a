//! `check_env`: validates an environment against the [`VecEnv`] contract.

use std::panic::{AssertUnwindSafe, catch_unwind};

use rand::SeedableRng;

use crate::error::{EnvError, Result};
use crate::native::EnvRng;
use crate::space::{ActionBuffer, BoxSpace, Space};
use crate::vec_env::{StepBatch, VecEnv};

/// What [`check_env`] saw when the env passed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckReport {
    /// Things that are allowed but often unintended (e.g. resets that ignore the seed).
    pub warnings: Vec<String>,
    /// Vector steps taken per run.
    pub steps: usize,
    /// Episodes that ended during the first run.
    pub episodes_ended: usize,
}

/// Observations, rewards, terminated, truncated, final observations of one step, as bits.
type StepRecord = (Vec<u32>, Vec<u32>, Vec<bool>, Vec<bool>, Vec<u32>);

/// One recorded run: everything a step returned, bit for bit.
#[derive(Debug, Clone, PartialEq, Default)]
struct Trace {
    reset_obs: Vec<u32>,
    steps: Vec<StepRecord>,
}

fn bits(x: &[f32]) -> Vec<u32> {
    x.iter().map(|v| v.to_bits()).collect()
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic".into())
}

/// Runs `f`, turning a panic into a problem message.
fn guarded<T>(what: &str, f: impl FnOnce() -> T) -> std::result::Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| format!("{what} panicked: {}", panic_message(p)))
}

fn check_space(name: &str, space: &Space, problems: &mut Vec<String>) {
    match space {
        Space::Discrete(0) => problems.push(format!(
            "{name} is Discrete(0): it needs at least one element"
        )),
        Space::Discrete(_) => {}
        Space::Box(b) => {
            if let Err(e) =
                BoxSpace::with_shape(b.low.clone(), b.high.clone(), b.shape.clone(), b.dtype)
            {
                problems.push(format!("{name}: {e}"));
            }
        }
    }
}

fn check_rows(
    what: &str,
    rows: &[f32],
    dim: usize,
    space: &Space,
    only: Option<&[bool]>,
    problems: &mut Vec<String>,
) {
    for (i, row) in rows.chunks(dim).enumerate() {
        if only.is_some_and(|mask| !mask[i]) {
            continue;
        }
        if let Some(j) = row.iter().position(|v| !v.is_finite()) {
            problems.push(format!("{what} of env {i}: component {j} is {}", row[j]));
            return;
        }
        if !space.contains(row) {
            problems.push(format!(
                "{what} of env {i} lies outside the observation space {space}: {row:?}"
            ));
            return;
        }
    }
}

/// Checks a **freshly made** env against the [`VecEnv`] contract and reports every violation
/// found, each saying what is wrong:
///
/// - the spaces are well formed, `num_envs ≥ 1`;
/// - `step` before `reset` is an error;
/// - wrong buffer sizes are errors; observations have the right size, are finite and lie in
///   the observation space (final observations of ended episodes too); rewards are finite;
/// - two runs with the same seed and actions are bit-identical (determinism);
/// - rejected calls (too many or too few actions, the wrong kind, NaN or out-of-range actions,
///   a wrongly sized output buffer, an env index out of range) are errors and leave the state
///   unchanged: a run interleaved with them equals the clean run;
/// - panics anywhere are reported as problems.
///
/// `steps` vector steps are taken per run (a few hundred show episode ends on most tasks).
/// Running statistics of normalising wrappers would make every run differ, so the check runs
/// in evaluation mode ([`VecEnv::set_training`]`(false)`) and switches training mode back on
/// at the end.
///
/// # Errors
/// [`EnvError::Check`] listing the problems.
pub fn check_env(env: &mut dyn VecEnv, seed: u64, steps: usize) -> Result<CheckReport> {
    let mut problems = Vec::new();
    let warnings = Vec::new();
    let n = env.num_envs();
    if n == 0 {
        return Err(EnvError::Check(vec![
            "num_envs() is 0: a VecEnv holds at least one env".into(),
        ]));
    }
    let obs_space = env.observation_space().clone();
    let act_space = env.action_space().clone();
    check_space("observation_space()", &obs_space, &mut problems);
    check_space("action_space()", &act_space, &mut problems);
    if !problems.is_empty() {
        return Err(EnvError::Check(problems));
    }
    let d = obs_space.flat_dim();
    env.set_training(false);
    let result = check_contract(
        env, seed, steps, &obs_space, &act_space, n, d, problems, warnings,
    );
    env.set_training(true);
    result
}

#[allow(clippy::too_many_arguments)]
fn check_contract(
    env: &mut dyn VecEnv,
    seed: u64,
    steps: usize,
    obs_space: &Space,
    act_space: &Space,
    n: usize,
    d: usize,
    mut problems: Vec<String>,
    mut warnings: Vec<String>,
) -> Result<CheckReport> {
    let (obs_space, act_space) = (obs_space.clone(), act_space.clone());
    let mut rng = EnvRng::seed_from_u64(seed);
    let actions: Vec<ActionBuffer> = (0..steps)
        .map(|_| {
            let mut a = act_space.action_buffer(n);
            act_space.sample_into(&mut rng, a.as_mut());
            a
        })
        .collect();

    // 1. Step before reset.
    let mut out = StepBatch::new(n, d);
    match guarded("step before reset", || env.step(actions[0].as_actions(), &mut out)) {
        Err(p) => return Err(EnvError::Check(vec![p])),
        Ok(Ok(())) => problems.push(
            "step before reset returned Ok: it must fail (EnvError::NotReset) until reset is called \
             (check_env wants a freshly made env)"
                .into(),
        ),
        Ok(Err(_)) => {}
    }

    // 2. Reset with a wrong buffer.
    let mut short = vec![0.0; n * d - 1];
    match guarded("reset with a short observation buffer", || env.reset(Some(seed), &mut short)) {
        Err(p) => return Err(EnvError::Check(vec![p])),
        Ok(Ok(())) => problems.push(format!(
            "reset accepted an observation buffer of {} values for {n} envs × {d}: it must fail with EnvError::BufferSize",
            n * d - 1
        )),
        Ok(Err(_)) => {}
    }

    // 3. Clean runs.
    let mut episodes_ended = 0;
    let run = |env: &mut dyn VecEnv,
               inject: bool,
               problems: &mut Vec<String>,
               episodes: &mut usize|
     -> std::result::Result<Trace, String> {
        let mut trace = Trace::default();
        let mut obs = vec![0.0; n * d];
        guarded("reset", || env.reset(Some(seed), &mut obs))?
            .map_err(|e| format!("reset(Some({seed})) failed: {e}"))?;
        check_rows("reset observation", &obs, d, &obs_space, None, problems);
        trace.reset_obs = bits(&obs);
        let mut out = StepBatch::new(n, d);
        for (t, a) in actions.iter().enumerate() {
            if inject && t % 7 == 3 {
                inject_bad_calls(env, a, &act_space, n, d, t, problems)?;
            }
            guarded("step", || env.step(a.as_actions(), &mut out))?
                .map_err(|e| format!("step {t} with valid actions failed: {e}"))?;
            if out.obs.len() != n * d || out.final_obs.len() != n * d || out.rewards.len() != n {
                return Err(format!(
                    "step {t} resized the StepBatch buffers: they must stay [{n}, {d}] and [{n}]"
                ));
            }
            if !inject {
                check_rows(
                    &format!("observation at step {t}"),
                    &out.obs,
                    d,
                    &obs_space,
                    None,
                    problems,
                );
                let done: Vec<bool> = (0..n).map(|i| out.done(i)).collect();
                check_rows(
                    &format!("final observation at step {t}"),
                    &out.final_obs,
                    d,
                    &obs_space,
                    Some(&done),
                    problems,
                );
                if let Some(i) = out.rewards.iter().position(|r| !r.is_finite()) {
                    problems.push(format!(
                        "reward of env {i} at step {t} is {}",
                        out.rewards[i]
                    ));
                }
                *episodes += done.iter().filter(|&&x| x).count();
                if problems.len() > 20 {
                    return Err("too many problems, stopping".into());
                }
            }
            let fin: Vec<f32> = (0..n)
                .flat_map(|i| {
                    if out.done(i) {
                        out.final_obs_row(i).to_vec()
                    } else {
                        vec![0.0; d]
                    }
                })
                .collect();
            trace.steps.push((
                bits(&out.obs),
                bits(&out.rewards),
                out.terminated.clone(),
                out.truncated.clone(),
                bits(&fin),
            ));
        }
        Ok(trace)
    };

    let first = match run(env, false, &mut problems, &mut episodes_ended) {
        Ok(t) => t,
        Err(p) => {
            problems.push(p);
            return Err(EnvError::Check(problems));
        }
    };
    let mut ignored = 0;
    match run(env, false, &mut problems, &mut ignored) {
        Ok(second) => {
            if let Some(t) = first_difference(&first, &second) {
                problems.push(format!(
                    "not deterministic: two runs with seed {seed} and the same actions differ at {t}; \
                     every random draw must come from the env's seeded generator"
                ));
            } else {
                match run(env, true, &mut problems, &mut ignored) {
                    Ok(third) => {
                        if let Some(t) = first_difference(&first, &third) {
                            problems.push(format!(
                                "a rejected call changed the env: a run with invalid calls between the steps differs from \
                                 the clean run at {t}; validate all input before touching any state"
                            ));
                        }
                    }
                    Err(p) => problems.push(p),
                }
            }
        }
        Err(p) => problems.push(p),
    }

    // 4. Seeds matter.
    let mut a = vec![0.0; n * d];
    let mut b = vec![0.0; n * d];
    let other = guarded("reset", || {
        env.reset(Some(seed), &mut a)?;
        env.reset(Some(seed.wrapping_add(1_000_003)), &mut b)
    });
    match other {
        Ok(Ok(())) if bits(&a) == bits(&b) => warnings.push(
            "reset observations do not depend on the seed (fine for a deterministic start state)"
                .into(),
        ),
        Ok(Ok(())) => {}
        Ok(Err(e)) => problems.push(format!("reset failed: {e}")),
        Err(p) => problems.push(p),
    }

    // 5. reset_env.
    let mut row = vec![0.0; d];
    match guarded("reset_env out of range", || env.reset_env(n, &mut row)) {
        Ok(Ok(())) => problems.push(format!(
            "reset_env({n}) on a batch of {n} returned Ok: it must fail with EnvError::EnvIndex"
        )),
        Ok(Err(_)) => {}
        Err(p) => problems.push(p),
    }
    match guarded("reset_env", || env.reset_env(n - 1, &mut row)) {
        Ok(Ok(())) => check_rows(
            "reset_env observation",
            &row,
            d,
            &obs_space,
            None,
            &mut problems,
        ),
        Ok(Err(e)) => problems.push(format!("reset_env({}) failed: {e}", n - 1)),
        Err(p) => problems.push(p),
    }

    if problems.is_empty() {
        Ok(CheckReport {
            warnings,
            steps,
            episodes_ended,
        })
    } else {
        Err(EnvError::Check(problems))
    }
}

fn first_difference(a: &Trace, b: &Trace) -> Option<String> {
    if a.reset_obs != b.reset_obs {
        return Some("the reset observation".into());
    }
    let names = [
        "observations",
        "rewards",
        "terminated",
        "truncated",
        "final observations",
    ];
    for (t, (x, y)) in a.steps.iter().zip(&b.steps).enumerate() {
        let diffs = [x.0 != y.0, x.1 != y.1, x.2 != y.2, x.3 != y.3, x.4 != y.4];
        if let Some(k) = diffs.iter().position(|&d| d) {
            return Some(format!("step {t} ({})", names[k]));
        }
    }
    None
}

/// Calls that must be rejected; each must return an error and change nothing.
fn inject_bad_calls(
    env: &mut dyn VecEnv,
    valid: &ActionBuffer,
    space: &Space,
    n: usize,
    d: usize,
    t: usize,
    problems: &mut Vec<String>,
) -> std::result::Result<(), String> {
    let mut out = StepBatch::new(n, d);
    let mut bad: Vec<(String, ActionBuffer)> = Vec::new();
    match valid {
        ActionBuffer::Continuous(a) => {
            let mut longer = a.clone();
            longer.push(0.0);
            bad.push((
                format!("{} continuous actions for {n} envs", longer.len()),
                ActionBuffer::Continuous(longer),
            ));
            let mut nan = a.clone();
            nan[a.len() - 1] = f32::NAN;
            bad.push(("a NaN action".into(), ActionBuffer::Continuous(nan)));
            let mut inf = a.clone();
            inf[0] = f32::INFINITY;
            bad.push(("an infinite action".into(), ActionBuffer::Continuous(inf)));
            bad.push((
                "discrete actions".into(),
                ActionBuffer::Discrete(vec![0; n]),
            ));
        }
        ActionBuffer::Discrete(a) => {
            bad.push((
                format!("{} discrete actions for {n} envs", n - 1),
                ActionBuffer::Discrete(a[..n - 1].to_vec()),
            ));
            if let Space::Discrete(k) = space {
                let mut high = a.clone();
                high[n - 1] = *k as i64;
                bad.push((
                    format!("action {k} for Discrete({k})"),
                    ActionBuffer::Discrete(high),
                ));
            }
            let mut neg = a.clone();
            neg[0] = -1;
            bad.push(("action -1".into(), ActionBuffer::Discrete(neg)));
            bad.push((
                "continuous actions".into(),
                ActionBuffer::Continuous(vec![0.0; n * space.flat_dim()]),
            ));
        }
    }
    for (what, actions) in &bad {
        if let Ok(()) = guarded(&format!("step with {what}"), || {
            env.step(actions.as_actions(), &mut out)
        })? {
            problems.push(format!(
                "step {t}: step accepted {what}; it must return an error"
            ));
            return Err("stopping after an accepted invalid call".into());
        }
    }
    let mut small = StepBatch::new(n, d);
    small.rewards.pop();
    if let Ok(()) = guarded("step with a short reward buffer", || {
        env.step(valid.as_actions(), &mut small)
    })? {
        problems.push(format!(
                "step {t}: step wrote into a StepBatch whose rewards buffer holds {} values for {n} envs; \
                 call StepBatch::prepare and fail",
                n - 1
            ));
        return Err("stopping after an accepted invalid call".into());
    }
    Ok(())
}
