//! The run configuration: environment, algorithm, networks, budget.

use std::collections::BTreeMap;

use burn::config::Config;
use cinder_env::Camera;
use cinder_policy::Activation;

use crate::error::{AlgoError, Result};
use crate::natural::{NpgConfig, TrpoConfig};
use crate::pg::{PpoConfig, PpoKlConfig, VpgConfig};

/// The algorithm and its hyperparameters.
#[derive(Config, Debug, PartialEq)]
pub enum AlgoConfig {
    /// Trust-region policy optimisation.
    Trpo(TrpoConfig),
    /// Natural policy gradient.
    Npg(NpgConfig),
    /// PPO with the clipped surrogate.
    Ppo(PpoConfig),
    /// PPO with the adaptive KL penalty.
    PpoKl(PpoKlConfig),
    /// Vanilla policy gradient.
    Vpg(VpgConfig),
}

impl AlgoConfig {
    /// The algorithm's default hyperparameters for a command-line name
    /// (`trpo`, `npg`, `ppo`, `ppo-kl`, `vpg`).
    ///
    /// # Errors
    /// An unknown name, with the list of known ones.
    pub fn from_name(name: &str) -> Result<Self> {
        Ok(match name.to_ascii_lowercase().replace('_', "-").as_str() {
            "trpo" => AlgoConfig::Trpo(TrpoConfig::new()),
            "npg" => AlgoConfig::Npg(NpgConfig::new()),
            "ppo" | "ppo-clip" => AlgoConfig::Ppo(PpoConfig::new()),
            "ppo-kl" | "ppokl" => AlgoConfig::PpoKl(PpoKlConfig::new()),
            "vpg" | "reinforce" => AlgoConfig::Vpg(VpgConfig::new()),
            other => {
                return Err(AlgoError::Config(format!(
                    "unknown algorithm `{other}`; use one of trpo, npg, ppo, ppo-kl, vpg"
                )));
            }
        })
    }

    /// Checks every hyperparameter of the algorithm, naming the first one out of range.
    ///
    /// # Errors
    /// [`AlgoError::Hyperparameter`].
    pub fn validate(&self) -> Result<()> {
        match self {
            AlgoConfig::Trpo(c) => c.validate(),
            AlgoConfig::Npg(c) => c.validate(),
            AlgoConfig::Ppo(c) => c.validate(),
            AlgoConfig::PpoKl(c) => c.validate(),
            AlgoConfig::Vpg(c) => c.validate(),
        }
    }

    /// The command-line name.
    pub fn name(&self) -> &'static str {
        match self {
            AlgoConfig::Trpo(_) => "trpo",
            AlgoConfig::Npg(_) => "npg",
            AlgoConfig::Ppo(_) => "ppo",
            AlgoConfig::PpoKl(_) => "ppo-kl",
            AlgoConfig::Vpg(_) => "vpg",
        }
    }
}

/// Everything that defines a training run. Names follow SB3 where SB3 has one.
#[derive(Config, Debug, PartialEq)]
pub struct TrainConfig {
    /// Environment id (`Pendulum-v1`, …).
    pub env_id: String,
    /// The algorithm.
    pub algo: AlgoConfig,
    /// Environment steps to train for (over all envs).
    #[config(default = 1_000_000)]
    pub total_timesteps: u64,
    /// Seed of everything: network weights, env resets, action noise, minibatch order.
    #[config(default = 0)]
    pub seed: u64,
    /// Parallel training envs N.
    #[config(default = 1)]
    pub num_envs: usize,
    /// Steps per env per update T (the batch is T · N).
    #[config(default = 2048)]
    pub n_steps: usize,
    /// Discount γ.
    #[config(default = 0.99)]
    pub gamma: f64,
    /// GAE λ.
    #[config(default = 0.95)]
    pub gae_lambda: f64,
    /// Normalise observations with running statistics (saved with the policy, frozen at
    /// evaluation).
    #[config(default = false)]
    pub normalize_observation: bool,
    /// Scale rewards by the running std of the discounted return.
    #[config(default = false)]
    pub normalize_reward: bool,
    /// Hidden widths of the policy.
    #[config(default = "vec![64, 64]")]
    pub policy_hidden: Vec<usize>,
    /// Hidden widths of the value network.
    #[config(default = "vec![64, 64]")]
    pub value_hidden: Vec<usize>,
    /// Hidden activation of both networks.
    #[config(default = "Activation::Tanh")]
    pub activation: Activation,
    /// Initial log standard deviation of a Gaussian policy.
    #[config(default = 0.0)]
    pub log_std_init: f64,
    /// Episodes of each deterministic evaluation (one env each).
    #[config(default = 10)]
    pub eval_episodes: usize,
    /// Evaluate every this many updates; 0 evaluates only at the end.
    #[config(default = 0)]
    pub eval_interval: usize,
    /// Record a video of one deterministic evaluation episode every this many updates, into
    /// `videos/` of the run folder (`cinder train --video-every`); 0 records none.
    #[config(default = 0)]
    pub video_interval: usize,
    /// The camera of those videos: `default` (Gymnasium's) or `track` (follows the robot).
    #[config(default = "Camera::Default")]
    pub video_camera: Camera,
    /// Write a checkpoint every this many updates (and at the end); 0 only at the end.
    #[config(default = 0)]
    pub checkpoint_interval: usize,
    /// Overrides the env's registered episode limit.
    #[config(default = "None")]
    pub max_episode_steps: Option<usize>,
    /// Keyword arguments of the env (`gymnasium.make(id, **kwargs)`).
    #[config(default = "BTreeMap::new()")]
    pub env_kwargs: BTreeMap<String, serde_json::Value>,
}

/// Run fields added after run folders were first written, with the value that keeps what
/// such a run did: a config saved before a field existed loads with it.
/// The values are JSON.
const LATER_FIELDS: &[(&str, &str)] = &[("video_interval", "0"), ("video_camera", "\"default\"")];

/// The same for the algorithms' fields: (the `algo` variant, field, value).
const LATER_ALGO_FIELDS: &[(&str, &str, &str)] = &[
    ("Trpo", "anneal_target_kl", "false"),
    ("Npg", "anneal_target_kl", "false"),
    ("Trpo", "adam_epsilon", "1e-8"),
    ("Npg", "adam_epsilon", "1e-8"),
];

/// A saved config (a run folder's `config.json`, a checkpoint's) with the fields it predates
/// filled in ([`TrainConfig::from_saved`]).
pub fn upgrade_saved(mut value: serde_json::Value) -> serde_json::Value {
    let fill = |o: &mut serde_json::Map<String, serde_json::Value>, key: &str, default: &str| {
        o.entry(key)
            .or_insert_with(|| serde_json::from_str(default).expect("valid JSON"));
    };
    if let Some(o) = value.as_object_mut() {
        for (key, default) in LATER_FIELDS {
            fill(o, key, default);
        }
        if let Some(algo) = o.get_mut("algo").and_then(|a| a.as_object_mut()) {
            for (variant, key, default) in LATER_ALGO_FIELDS {
                if let Some(fields) = algo.get_mut(*variant).and_then(|f| f.as_object_mut()) {
                    fill(fields, key, default);
                }
            }
        }
    }
    value
}

impl TrainConfig {
    /// Parses a saved config, filling in the run fields added since it was written (their
    /// values keep what the run did).
    ///
    /// # Errors
    /// A config that does not parse.
    pub fn from_saved(value: serde_json::Value) -> std::result::Result<Self, serde_json::Error> {
        serde_json::from_value(upgrade_saved(value))
    }

    /// Checks the ranges and combinations, saying what to change.
    ///
    /// # Errors
    /// [`AlgoError::Hyperparameter`] or [`AlgoError::Config`].
    pub fn validate(&self) -> Result<()> {
        let bad = |name, value: f64, range| Err(AlgoError::Hyperparameter { name, value, range });
        if self.num_envs == 0 {
            return bad("num_envs", 0.0, "≥ 1");
        }
        if self.n_steps == 0 {
            return bad("n_steps", 0.0, "≥ 1");
        }
        if !(0.0..=1.0).contains(&self.gamma) {
            return bad("gamma", self.gamma, "[0, 1]");
        }
        if !(0.0..=1.0).contains(&self.gae_lambda) {
            return bad("gae_lambda", self.gae_lambda, "[0, 1]");
        }
        if self.eval_episodes == 0 {
            return bad("eval_episodes", 0.0, "≥ 1");
        }
        if self.policy_hidden.contains(&0) || self.value_hidden.contains(&0) {
            return Err(AlgoError::Config(
                "a hidden layer of width 0: give widths ≥ 1 (e.g. [64, 64])".into(),
            ));
        }
        if !self.log_std_init.is_finite() {
            return bad("log_std_init", self.log_std_init, "finite");
        }
        self.algo.validate()?;
        let batch = self.n_steps * self.num_envs;
        let minibatch = match &self.algo {
            AlgoConfig::Ppo(c) => Some(c.batch_size),
            AlgoConfig::PpoKl(c) => Some(c.batch_size),
            _ => None,
        };
        if let Some(mb) = minibatch
            && (mb == 0 || !batch.is_multiple_of(mb))
        {
            let near = crate::pg::divisor_near(batch, mb);
            return Err(AlgoError::Config(format!(
                "batch_size = {mb} does not divide the batch of n_steps × num_envs = {} × {} = \
                 {batch}; set batch_size to a divisor of {batch} (e.g. {near}) or change n_steps",
                self.n_steps, self.num_envs
            )));
        }
        Ok(())
    }
}
