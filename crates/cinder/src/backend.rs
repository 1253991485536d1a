//! Concrete backends, one alias per cargo feature — the only place cinder names them.
//!
//! Library code is generic over `burn::tensor::backend::Backend`; binaries, examples,
//! benches and tests pick a backend here, at run time through [`BackendKind`] and
//! [`with_backend!`](crate::with_backend).

use std::fmt;
use std::str::FromStr;

/// Pure-Rust CPU backend (feature `flex`, the default).
#[cfg(feature = "flex")]
pub type Flex = burn::backend::Flex;
/// ndarray CPU backend (feature `ndarray`).
#[cfg(feature = "ndarray")]
pub type NdArray = burn::backend::NdArray<f32>;
/// wgpu GPU backend (feature `wgpu`); on a machine without a GPU it runs on lavapipe.
#[cfg(feature = "wgpu")]
pub type Wgpu = burn::backend::Wgpu<f32, i32>;
/// CUDA GPU backend (feature `cuda`); needs an NVIDIA driver at run time.
#[cfg(feature = "cuda")]
pub type Cuda = burn::backend::Cuda<f32, i32>;

/// A backend chosen by name at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// [`Flex`].
    Flex,
    /// [`NdArray`].
    NdArray,
    /// [`Wgpu`].
    Wgpu,
    /// [`Cuda`].
    Cuda,
}

impl BackendKind {
    /// Every backend, compiled in or not.
    pub const ALL: [BackendKind; 4] = [
        BackendKind::Flex,
        BackendKind::NdArray,
        BackendKind::Wgpu,
        BackendKind::Cuda,
    ];

    /// The name used on the command line and in JSON output.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Flex => "flex",
            BackendKind::NdArray => "ndarray",
            BackendKind::Wgpu => "wgpu",
            BackendKind::Cuda => "cuda",
        }
    }

    /// The cargo feature that compiles this backend in.
    pub fn feature(self) -> &'static str {
        self.name()
    }

    /// Whether this binary was built with the backend's feature.
    pub fn is_compiled(self) -> bool {
        match self {
            BackendKind::Flex => cfg!(feature = "flex"),
            BackendKind::NdArray => cfg!(feature = "ndarray"),
            BackendKind::Wgpu => cfg!(feature = "wgpu"),
            BackendKind::Cuda => cfg!(feature = "cuda"),
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown or not-compiled backend name.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The name is not a backend.
    #[error("unknown backend `{0}`; choose one of flex, ndarray, wgpu, cuda")]
    Unknown(String),
    /// The backend exists but this binary was built without it.
    #[error(
        "backend `{0}` is not compiled into this binary; rebuild with `--features {0}` \
         (e.g. `cargo run --release -p cinder --features {0} -- …`)"
    )]
    NotCompiled(&'static str),
}

impl FromStr for BackendKind {
    type Err = BackendError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let kind = BackendKind::ALL
            .into_iter()
            .find(|k| k.name() == s.to_ascii_lowercase())
            .ok_or_else(|| BackendError::Unknown(s.to_string()))?;
        if kind.is_compiled() {
            Ok(kind)
        } else {
            Err(BackendError::NotCompiled(kind.name()))
        }
    }
}

/// Runs `$body` with the type alias `$B` bound to the backend `$kind` names and `$device`
/// to its default device.
///
/// ```
/// use cinder::backend::BackendKind;
/// let kind: BackendKind = "flex".parse().unwrap();
/// let n = cinder::with_backend!(kind, |B, device| {
///     burn::tensor::Tensor::<B, 1>::ones([3], &device).sum().into_scalar()
/// });
/// assert_eq!(n, 3.0);
/// ```
#[macro_export]
macro_rules! with_backend {
    ($kind:expr, |$B:ident, $device:ident| $body:expr) => {{
        match $kind {
            #[cfg(feature = "flex")]
            $crate::backend::BackendKind::Flex => {
                type $B = $crate::backend::Flex;
                let $device = burn::tensor::Device::<$B>::default();
                $body
            }
            #[cfg(feature = "ndarray")]
            $crate::backend::BackendKind::NdArray => {
                type $B = $crate::backend::NdArray;
                let $device = burn::tensor::Device::<$B>::default();
                $body
            }
            #[cfg(feature = "wgpu")]
            $crate::backend::BackendKind::Wgpu => {
                type $B = $crate::backend::Wgpu;
                let $device = burn::tensor::Device::<$B>::default();
                $body
            }
            #[cfg(feature = "cuda")]
            $crate::backend::BackendKind::Cuda => {
                type $B = $crate::backend::Cuda;
                let $device = burn::tensor::Device::<$B>::default();
                $body
            }
            #[allow(unreachable_patterns)]
            other => unreachable!(
                "backend {other} is not compiled in; BackendKind::from_str checks this"
            ),
        }
    }};
}
