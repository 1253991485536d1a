//! Errors of the policy crate.

/// What went wrong when building or loading a policy.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A configuration field holds a value that cannot work; the message says what to change.
    #[error("invalid policy configuration: `{field}` {reason}")]
    InvalidConfig {
        /// The offending field.
        field: &'static str,
        /// Why it is invalid and what is expected instead.
        reason: String,
    },
    /// A flat parameter vector does not have as many entries as the module has parameters.
    #[error(
        "flat parameter vector has {got} entries but the module has {expected} parameters; \
         flatten the same architecture it is loaded into"
    )]
    FlatLength {
        /// Parameters in the module.
        expected: usize,
        /// Entries in the flat vector.
        got: usize,
    },
}

/// `Result` with [`PolicyError`].
pub type Result<T> = std::result::Result<T, PolicyError>;
