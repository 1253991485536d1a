//! The error type of cinder-env.

use thiserror::Error;

/// Everything that can go wrong when making, stepping, wrapping or checking an environment.
///
/// Every variant is the answer to bad input or misuse; none of them leaves an environment
/// half-stepped: a call that returns one of the validation errors (`NotReset`, `ActionLength`,
/// `ActionKind`, `NonFiniteAction`, `ActionOutOfRange`, `BufferSize`, `EnvIndex`) has not
/// touched the environment's state.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum EnvError {
    /// `make` was given an id that is not registered.
    #[error("unknown environment id `{id}`{}{}", suggest(.suggestions), .hint.as_deref().map(|h| format!("{} {h}", if .suggestions.is_empty() { "." } else { "" })).unwrap_or_default())]
    UnknownEnv {
        /// The id that was asked for.
        id: String,
        /// Registered ids close to it, best first.
        suggestions: Vec<String>,
        /// What else could make the id available (e.g. a cargo feature).
        hint: Option<String>,
    },
    /// `step` was called before the first `reset`.
    #[error("step called before reset: call reset(seed) once before the first step")]
    NotReset,
    /// The action buffer has the wrong number of values.
    #[error(
        "actions have {got} values, expected {expected} (num_envs {num_envs} × action dim {action_dim})"
    )]
    ActionLength {
        /// Values expected.
        expected: usize,
        /// Values given.
        got: usize,
        /// Number of environments in the batch.
        num_envs: usize,
        /// Values per environment.
        action_dim: usize,
    },
    /// Discrete actions were given to a continuous env or the other way round.
    #[error("{expected} actions expected (action space {space}), got {got} actions")]
    ActionKind {
        /// "discrete" or "continuous".
        expected: &'static str,
        /// "discrete" or "continuous".
        got: &'static str,
        /// The action space, printed.
        space: String,
    },
    /// A continuous action is NaN or infinite.
    #[error("action {index} of env {env} is {value}: actions must be finite")]
    NonFiniteAction {
        /// Environment index in the batch.
        env: usize,
        /// Component of the action.
        index: usize,
        /// The offending value.
        value: f32,
    },
    /// A discrete action outside `0..n`.
    #[error("action of env {env} is {action}, outside the action space Discrete({n}) (0..{n})")]
    ActionOutOfRange {
        /// Environment index in the batch.
        env: usize,
        /// The offending action.
        action: i64,
        /// Number of discrete actions.
        n: usize,
    },
    /// An output buffer has the wrong size.
    #[error("{what} has {got} values, expected {expected}")]
    BufferSize {
        /// Which buffer.
        what: &'static str,
        /// Values expected.
        expected: usize,
        /// Values found.
        got: usize,
    },
    /// An environment index outside the batch.
    #[error("environment index {index} out of range for a batch of {num_envs}")]
    EnvIndex {
        /// The index given.
        index: usize,
        /// Batch size.
        num_envs: usize,
    },
    /// A keyword argument that the environment does not accept, or a bad value for one.
    #[error("{env}: {message}")]
    Kwarg {
        /// The environment id.
        env: String,
        /// What is wrong and what is accepted.
        message: String,
    },
    /// A constructor or wrapper parameter is invalid.
    #[error("invalid {what}: {message}")]
    Config {
        /// The parameter.
        what: &'static str,
        /// What is wrong and what to give instead.
        message: String,
    },
    /// Saved wrapper state does not fit the wrapper it is loaded into.
    #[error("cannot restore environment state: {0}")]
    State(String),
    /// An environment's own step or reset failed (for instance an exception in a Python env).
    /// The batch must be reset before it is stepped again.
    #[error("environment failed: {0}")]
    Env(String),
    /// An exception in the Gymnasium bridge, or Python could not be set up: the Python message
    /// and traceback, or what to run to fix the setup. The bridge stays usable; after a failed
    /// step the batch must be reset.
    #[error("Python (Gymnasium bridge): {0}")]
    Python(String),
    /// `check_env` found violations of the environment contract.
    #[error("the environment breaks the VecEnv contract:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Check(Vec<String>),
    /// Drawing an env failed, or it cannot be drawn: what is missing and how to get it.
    #[error("rendering: {0}")]
    Render(String),
}

fn suggest(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", suggestions.join(", "))
    }
}

/// `Result` with [`EnvError`].
pub type Result<T, E = EnvError> = std::result::Result<T, E>;

/// `value ≥ 1`, or a config error naming `what`.
pub(crate) fn at_least_one(what: &'static str, value: usize) -> Result<()> {
    if value == 0 {
        return Err(EnvError::Config {
            what,
            message: "must be at least 1".into(),
        });
    }
    Ok(())
}
