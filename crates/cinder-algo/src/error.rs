//! The error type of cinder-algo.

use thiserror::Error;

/// Bad input to an algorithm routine, or an environment failure.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum AlgoError {
    /// The environment failed or refused the input.
    #[error(transparent)]
    Env(#[from] cinder_env::EnvError),
    /// A loss or gradient came out NaN or infinite; the parameters were left as they were.
    #[error("non-finite value: {0}")]
    NonFinite(String),
    /// A combination the algorithms do not handle (e.g. discrete observations).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A buffer does not have the `[T, N]` size the others have.
    #[error("{what} has {got} values, expected {expected} (T {steps} × N {num_envs})")]
    Shape {
        /// Which buffer.
        what: &'static str,
        /// Values expected.
        expected: usize,
        /// Values found.
        got: usize,
        /// Rollout length T.
        steps: usize,
        /// Number of envs N.
        num_envs: usize,
    },
    /// A hyperparameter outside its range.
    #[error("{name} = {value} is outside {range}")]
    Hyperparameter {
        /// SB3-style name.
        name: &'static str,
        /// The value given.
        value: f64,
        /// The accepted range.
        range: &'static str,
    },
}

/// `Result` with [`AlgoError`].
pub type Result<T, E = AlgoError> = std::result::Result<T, E>;
