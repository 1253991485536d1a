//! The error type of cinder-algo.

use thiserror::Error;

/// Bad input to an algorithm routine, or an environment failure.
#[derive(Debug, Error)]
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
    /// The policy could not be built or loaded.
    #[error(transparent)]
    Policy(#[from] cinder_policy::PolicyError),
    /// The Fisher-vector product refused its input.
    #[error(transparent)]
    Fisher(#[from] cinder_fisher::FisherError),
    /// Conjugate gradient refused its input.
    #[error(transparent)]
    Cg(#[from] cinder_cg::CgError),
    /// An invalid combination of settings; the message says what to change.
    #[error("invalid config: {0}")]
    Config(String),
    /// Reading or writing a run file failed.
    #[error("{path}: {message}")]
    Io {
        /// The file or folder.
        path: std::path::PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A checkpoint that does not fit this run (other config, shapes or a damaged file).
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The checkpoint folder.
        path: std::path::PathBuf,
        /// What does not fit and what to do.
        message: String,
    },
    /// A callback stopped training with an error.
    #[error("callback: {0}")]
    Callback(String),
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

impl AlgoError {
    /// An [`AlgoError::Io`] for `path`.
    pub fn io(path: impl Into<std::path::PathBuf>, e: impl std::fmt::Display) -> Self {
        AlgoError::Io {
            path: path.into(),
            message: e.to_string(),
        }
    }
}
