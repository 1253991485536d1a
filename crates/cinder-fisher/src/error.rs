//! Errors of the Fisher crate.

/// What is wrong with a Fisher-vector product request.
#[derive(Debug, thiserror::Error)]
pub enum FisherError {
    /// A configuration value cannot work.
    #[error("invalid Fisher-vector product configuration: `{field}` {reason}")]
    InvalidConfig {
        /// The offending field.
        field: &'static str,
        /// Why, and what to use instead.
        reason: String,
    },
    /// The observation batch does not fit the policy.
    #[error("observations have shape {got:?}; expected {expected}")]
    BadObservations {
        /// What the policy needs.
        expected: String,
        /// What was given.
        got: Vec<usize>,
    },
    /// Stacked policies must share one architecture.
    #[error(
        "policy {index} differs from policy 0: {reason}; stacked policies must share one architecture"
    )]
    ArchitectureMismatch {
        /// Index of the first policy that differs.
        index: usize,
        /// What differs.
        reason: String,
    },
    /// No policy was given.
    #[error("no policy given: a Fisher-vector product needs at least one")]
    NoPolicy,
}

/// `Result` with [`FisherError`].
pub type Result<T> = std::result::Result<T, FisherError>;
