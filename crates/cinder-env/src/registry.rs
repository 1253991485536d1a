//! Environments made by Gymnasium id.

use std::collections::BTreeMap;

use crate::error::{EnvError, Result};
use crate::native::{
    Acrobot, CartPole, ContinuousMountainCar, Dynamics, MountainCar, NativeVecEnv, Pendulum,
};
use crate::space::Space;
use crate::vec_env::VecEnv;
use crate::wrappers::TimeLimit;

/// What the registry knows about an id.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvSpec {
    /// Gymnasium id.
    pub id: &'static str,
    /// Episode length limit applied by [`make`] (Gymnasium's `max_episode_steps`).
    pub max_episode_steps: usize,
    /// Gymnasium's `reward_threshold`: the return at which the task counts as solved.
    pub reward_threshold: Option<f64>,
    /// Keyword arguments accepted by [`make_with`], with what they mean.
    pub kwargs: &'static [(&'static str, &'static str)],
    /// Observation space of one env.
    pub observation_space: Space,
    /// Action space of one env.
    pub action_space: Space,
}

/// Options of [`make_with`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MakeOptions {
    /// Keyword arguments of the env constructor, as in `gymnasium.make(id, **kwargs)`.
    pub kwargs: BTreeMap<String, serde_json::Value>,
    /// Overrides the registered episode limit.
    pub max_episode_steps: Option<usize>,
}

fn spec_of<D: Dynamics>(
    d: D,
    reward_threshold: Option<f64>,
    kwargs: &'static [(&'static str, &'static str)],
) -> EnvSpec {
    EnvSpec {
        id: D::ID,
        max_episode_steps: D::MAX_EPISODE_STEPS,
        reward_threshold,
        kwargs,
        observation_space: d.observation_space(),
        action_space: d.action_space(),
    }
}

/// The native environments, in the order `cinder envs` lists them. With the `mujoco` feature
/// the MuJoCo tasks follow (their spaces are those of the default keyword arguments).
pub fn registry() -> Vec<EnvSpec> {
    #[allow(unused_mut)]
    let mut specs = vec![
        spec_of(
            CartPole::default(),
            Some(475.0),
            &[(
                "sutton_barto_reward",
                "bool: reward 0 per step and -1 on termination",
            )],
        ),
        spec_of(Acrobot, Some(-100.0), &[]),
        spec_of(
            MountainCar::default(),
            Some(-110.0),
            &[(
                "goal_velocity",
                "float: velocity needed at the flag (default 0)",
            )],
        ),
        spec_of(
            ContinuousMountainCar::default(),
            Some(90.0),
            &[(
                "goal_velocity",
                "float: velocity needed at the flag (default 0)",
            )],
        ),
        spec_of(
            Pendulum::default(),
            None,
            &[("g", "float: gravity in m/s² (default 10.0)")],
        ),
    ];
    #[cfg(feature = "mujoco")]
    specs.extend(crate::mujoco::SPECS.iter().map(|m| EnvSpec {
        id: m.id,
        max_episode_steps: m.max_episode_steps,
        reward_threshold: m.reward_threshold,
        kwargs: m.kwargs,
        observation_space: m.observation_space(),
        action_space: m.action_space(),
    }));
    specs
}

/// The registered ids.
pub fn ids() -> Vec<&'static str> {
    registry().into_iter().map(|s| s.id).collect()
}

/// The spec of `id`.
///
/// # Errors
/// [`EnvError::UnknownEnv`] with the nearest registered ids.
pub fn spec(id: &str) -> Result<EnvSpec> {
    registry()
        .into_iter()
        .find(|s| s.id == id)
        .ok_or_else(|| unknown(id))
}

/// Makes `n_envs` copies of env `id` with its registered time limit, as
/// `gymnasium.make_vec(id, n_envs)` would. `seed` is used by the first `reset(None)`. Ids
/// without a native env are made by Gymnasium through the bridge when the `gymnasium` feature
/// is on (`cinder_env::gymnasium::GymnasiumVecEnv`; its time limit is Gymnasium's).
///
/// ```
/// use cinder_env::{StepBatch, VecEnv, make, space::ActionBuffer};
/// let mut env = make("Pendulum-v1", 4, Some(0))?;
/// let mut obs = vec![0.0; 4 * 3];
/// env.reset(Some(0), &mut obs)?;
/// let mut out = StepBatch::for_env(&*env);
/// env.step(ActionBuffer::Continuous(vec![0.5; 4]).as_actions(), &mut out)?;
/// assert_eq!(out.rewards.len(), 4);
/// # Ok::<(), cinder_env::EnvError>(())
/// ```
///
/// # Errors
/// [`EnvError::UnknownEnv`] with suggestions, or `num_envs` 0.
pub fn make(id: &str, n_envs: usize, seed: Option<u64>) -> Result<Box<dyn VecEnv>> {
    make_with(id, n_envs, seed, &MakeOptions::default())
}

/// [`make`] with constructor keyword arguments and an optional episode limit.
///
/// # Errors
/// As [`make`]; [`EnvError::Kwarg`] for an unknown keyword or a value of the wrong type.
pub fn make_with(
    id: &str,
    n_envs: usize,
    seed: Option<u64>,
    options: &MakeOptions,
) -> Result<Box<dyn VecEnv>> {
    let Ok(spec) = spec(id) else {
        return make_other(id, n_envs, seed, options);
    };
    check_kwargs(id, spec.kwargs, &options.kwargs)?;
    let limit = options.max_episode_steps.unwrap_or(spec.max_episode_steps);
    let kw = Kwargs {
        id,
        map: &options.kwargs,
    };
    match id {
        "CartPole-v1" => boxed(
            CartPole {
                sutton_barto_reward: kw.bool("sutton_barto_reward", false)?,
            },
            n_envs,
            seed,
            limit,
        ),
        "Acrobot-v1" => boxed(Acrobot, n_envs, seed, limit),
        "MountainCar-v0" => boxed(
            MountainCar {
                goal_velocity: kw.float("goal_velocity", 0.0)?,
            },
            n_envs,
            seed,
            limit,
        ),
        "MountainCarContinuous-v0" => boxed(
            ContinuousMountainCar {
                goal_velocity: kw.float("goal_velocity", 0.0)?,
            },
            n_envs,
            seed,
            limit,
        ),
        "Pendulum-v1" => boxed(
            Pendulum {
                g: kw.float("g", 10.0)?,
            },
            n_envs,
            seed,
            limit,
        ),
        #[cfg(feature = "mujoco")]
        _ => {
            let m = crate::mujoco::SPECS
                .iter()
                .find(|m| m.id == id)
                .ok_or_else(|| unknown(id))?;
            Ok(Box::new(TimeLimit::new(
                crate::mujoco::make_registered(m, &kw, n_envs, seed)?,
                limit,
            )?))
        }
        #[cfg(not(feature = "mujoco"))]
        _ => Err(unknown(id)),
    }
}

/// Ids without a native env go to Gymnasium when the `gymnasium` feature is on.
#[cfg(feature = "gymnasium")]
fn make_other(
    id: &str,
    n_envs: usize,
    seed: Option<u64>,
    options: &MakeOptions,
) -> Result<Box<dyn VecEnv>> {
    let gym_ids = crate::gymnasium::registered_ids()?;
    if !gym_ids.iter().any(|g| g == id) {
        let mut known: Vec<&str> = ids();
        known.extend(gym_ids.iter().map(String::as_str));
        return Err(EnvError::UnknownEnv {
            id: id.to_string(),
            suggestions: suggestions(id, &known),
            hint: None,
        });
    }
    let mut kwargs = options.kwargs.clone();
    if let Some(limit) = options.max_episode_steps {
        kwargs.insert("max_episode_steps".into(), serde_json::json!(limit));
    }
    Ok(Box::new(crate::gymnasium::GymnasiumVecEnv::new(
        id, n_envs, seed, &kwargs,
    )?))
}

#[cfg(not(feature = "gymnasium"))]
fn make_other(
    id: &str,
    _n_envs: usize,
    _seed: Option<u64>,
    _options: &MakeOptions,
) -> Result<Box<dyn VecEnv>> {
    Err(unknown(id))
}

fn boxed<D: Dynamics>(d: D, n: usize, seed: Option<u64>, limit: usize) -> Result<Box<dyn VecEnv>> {
    Ok(Box::new(TimeLimit::new(
        NativeVecEnv::new(d, n)?.with_seed(seed),
        limit,
    )?))
}

/// Refuses keyword arguments that `accepted` does not list, naming the accepted ones.
pub(crate) fn check_kwargs(
    id: &str,
    accepted: &[(&str, &str)],
    kwargs: &BTreeMap<String, serde_json::Value>,
) -> Result<()> {
    if let Some(key) = kwargs
        .keys()
        .find(|k| !accepted.iter().any(|(name, _)| name == k))
    {
        let names: Vec<&str> = accepted.iter().map(|(n, _)| *n).collect();
        return Err(EnvError::Kwarg {
            env: id.to_string(),
            message: format!(
                "unknown keyword argument `{key}`; accepted: {}",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ),
        });
    }
    Ok(())
}

/// Keyword arguments of one env, read with typed accessors that name the key and the expected
/// type in their errors.
pub(crate) struct Kwargs<'a> {
    pub(crate) id: &'a str,
    pub(crate) map: &'a BTreeMap<String, serde_json::Value>,
}

#[cfg_attr(not(feature = "mujoco"), allow(dead_code))] // some accessors serve only the MuJoCo tasks
impl Kwargs<'_> {
    pub(crate) fn get(&self, key: &str) -> Option<&serde_json::Value> {
        self.map.get(key)
    }

    pub(crate) fn error(&self, key: &str, want: &str, got: &serde_json::Value) -> EnvError {
        EnvError::Kwarg {
            env: self.id.to_string(),
            message: format!("keyword argument `{key}` must be {want}, got {got}"),
        }
    }

    pub(crate) fn float(&self, key: &str, default: f64) -> Result<f64> {
        match self.map.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_f64()
                .filter(|x| x.is_finite())
                .ok_or_else(|| self.error(key, "a finite number", v)),
        }
    }

    pub(crate) fn bool(&self, key: &str, default: bool) -> Result<bool> {
        match self.map.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_bool()
                .ok_or_else(|| self.error(key, "true or false", v)),
        }
    }

    /// A whole number ≥ 1.
    pub(crate) fn positive(&self, key: &str, default: usize) -> Result<usize> {
        match self.map.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_u64()
                .filter(|&x| x >= 1)
                .map(|x| x as usize)
                .ok_or_else(|| self.error(key, "a whole number of at least 1", v)),
        }
    }

    pub(crate) fn string(&self, key: &str, default: &str) -> Result<String> {
        match self.map.get(key) {
            None => Ok(default.to_string()),
            Some(v) => v
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| self.error(key, "a string", v)),
        }
    }

    /// `[low, high]` with `low ≤ high`; each bound a number or "inf" / "-inf" (JSON has no
    /// infinity).
    pub(crate) fn range(&self, key: &str, default: (f64, f64)) -> Result<(f64, f64)> {
        let Some(v) = self.map.get(key) else {
            return Ok(default);
        };
        let bound = |b: &serde_json::Value| match (b.as_f64(), b.as_str()) {
            (Some(x), _) if !x.is_nan() => Some(x),
            (None, Some("inf" | "+inf" | "infinity")) => Some(f64::INFINITY),
            (None, Some("-inf" | "-infinity")) => Some(f64::NEG_INFINITY),
            _ => None,
        };
        match v.as_array().map(Vec::as_slice) {
            Some([lo, hi]) => match (bound(lo), bound(hi)) {
                (Some(lo), Some(hi)) if lo <= hi => Ok((lo, hi)),
                _ => Err(self.error(
                    key,
                    "[low, high] with low ≤ high (numbers, \"inf\" or \"-inf\")",
                    v,
                )),
            },
            _ => Err(self.error(key, "a pair [low, high]", v)),
        }
    }
}

fn unknown(id: &str) -> EnvError {
    let hint = if cfg!(feature = "gymnasium") {
        None
    } else if cfg!(feature = "mujoco") {
        Some(
            "Other Gymnasium ids need the `gymnasium` feature: run `bash scripts/setup_python.sh`, \
             then build with `--features gymnasium`"
                .to_string(),
        )
    } else {
        Some(
            "MuJoCo ids (e.g. Hopper-v5) need the `mujoco` feature and other Gymnasium ids \
             need the `gymnasium` feature: run `bash scripts/setup_python.sh`, then build with \
             `--features mujoco` (or `gymnasium`)"
                .to_string(),
        )
    };
    EnvError::UnknownEnv {
        id: id.to_string(),
        suggestions: suggestions(id, &ids()),
        hint,
    }
}

/// Registered ids that look like `id`: same name with another version, a substring match, or
/// within a small edit distance; best first, at most three.
pub fn suggestions(id: &str, known: &[&str]) -> Vec<String> {
    let lower = id.to_lowercase();
    let stem = |s: &str| {
        s.rsplit_once("-v")
            .map_or(s.to_string(), |(a, _)| a.to_string())
    };
    let mut scored: Vec<(usize, &str)> = known
        .iter()
        .filter_map(|&k| {
            let kl = k.to_lowercase();
            let d = levenshtein(&lower, &kl);
            let close = d <= (kl.len() / 3).max(2)
                || stem(&kl) == stem(&lower)
                || (lower.len() >= 4 && kl.contains(&lower))
                || (stem(&kl).len() >= 4 && lower.contains(&stem(&kl)));
            close.then_some((d, k))
        })
        .collect();
    scored.sort();
    scored
        .into_iter()
        .take(3)
        .map(|(_, k)| k.to_string())
        .collect()
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_find_near_ids() {
        let known = ids();
        assert_eq!(suggestions("CartPole-v0", &known)[0], "CartPole-v1");
        assert_eq!(suggestions("pendulum", &known)[0], "Pendulum-v1");
        assert_eq!(suggestions("Pendulm-v1", &known)[0], "Pendulum-v1");
        assert!(suggestions("MountainCar", &known).contains(&"MountainCar-v0".to_string()));
        // Nothing native is near a Box2D id.
        assert!(suggestions("LunarLander-v3", &known).is_empty());
    }

    #[test]
    fn unknown_id_and_kwargs_errors_say_what_to_do() {
        // CartPole-v9 exists neither natively nor in Gymnasium.
        let err = make("CartPole-v9", 1, None).err().unwrap();
        let msg = err.to_string();
        assert!(
            msg.starts_with("unknown environment id `CartPole-v9`; did you mean "),
            "{msg}"
        );
        assert!(msg.contains("CartPole-v1"), "{msg}");
        if cfg!(not(feature = "gymnasium")) {
            assert!(msg.contains("need the `gymnasium` feature"), "{msg}");
        }
        let mut options = MakeOptions::default();
        options
            .kwargs
            .insert("gravity".into(), serde_json::json!(9.81));
        let err = make_with("Pendulum-v1", 1, None, &options).err().unwrap();
        assert_eq!(
            err.to_string(),
            "Pendulum-v1: unknown keyword argument `gravity`; accepted: g"
        );
        options.kwargs.clear();
        options
            .kwargs
            .insert("g".into(), serde_json::json!("strong"));
        let err = make_with("Pendulum-v1", 1, None, &options).err().unwrap();
        assert!(
            err.to_string().contains("`g` must be a finite number"),
            "{err}"
        );
        assert!(make("Pendulum-v1", 0, None).is_err());
    }
}
