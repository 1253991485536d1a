//! Observation and action spaces (Gymnasium's `Box` and `Discrete`), and the action batches
//! environments take.

use std::fmt;

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use crate::error::{EnvError, Result};

/// Element type of a [`BoxSpace`], as the environment defines it.
///
/// cinder hands every observation over as `f32` (the learner's dtype); the dtype records what
/// the environment itself computes in, so that a float64 Gymnasium space stays recognisable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DType {
    /// 32-bit float.
    F32,
    /// 64-bit float.
    F64,
}

/// A box in ℝⁿ: `low[i] ≤ x[i] ≤ high[i]`, bounds may be infinite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoxSpace {
    /// Lower bounds, one per element (row-major over `shape`).
    pub low: Vec<f64>,
    /// Upper bounds, one per element.
    pub high: Vec<f64>,
    /// Shape of one element of the space.
    pub shape: Vec<usize>,
    /// Element type used by the environment.
    pub dtype: DType,
}

impl BoxSpace {
    /// A box with per-element bounds; `shape` is `[low.len()]`.
    ///
    /// # Errors
    /// If `low` and `high` differ in length, are empty, contain NaN, or `low > high` somewhere.
    pub fn new(low: Vec<f64>, high: Vec<f64>, dtype: DType) -> Result<Self> {
        let shape = vec![low.len()];
        Self::with_shape(low, high, shape, dtype)
    }

    /// A box of the given shape; `low` and `high` hold `shape.iter().product()` values.
    ///
    /// # Errors
    /// As [`BoxSpace::new`], and if the bounds do not have the shape's number of elements.
    pub fn with_shape(
        low: Vec<f64>,
        high: Vec<f64>,
        shape: Vec<usize>,
        dtype: DType,
    ) -> Result<Self> {
        let space = Self {
            low,
            high,
            shape,
            dtype,
        };
        space.validate()?;
        Ok(space)
    }

    /// The same bound for every element of a `[dim]` box.
    ///
    /// # Errors
    /// As [`BoxSpace::new`].
    pub fn uniform(low: f64, high: f64, dim: usize, dtype: DType) -> Result<Self> {
        Self::new(vec![low; dim], vec![high; dim], dtype)
    }

    /// Number of scalars in one element.
    pub fn dim(&self) -> usize {
        self.low.len()
    }

    /// Whether every bound is finite.
    pub fn is_bounded(&self) -> bool {
        self.low.iter().chain(&self.high).all(|b| b.is_finite())
    }

    fn validate(&self) -> Result<()> {
        let bad = |message: String| EnvError::Config {
            what: "Box space",
            message,
        };
        let n: usize = self.shape.iter().product();
        if n == 0 {
            return Err(bad(format!("shape {:?} has no elements", self.shape)));
        }
        if self.low.len() != n || self.high.len() != n {
            return Err(bad(format!(
                "shape {:?} has {n} elements but low has {} and high {}",
                self.shape,
                self.low.len(),
                self.high.len()
            )));
        }
        for (i, (l, h)) in self.low.iter().zip(&self.high).enumerate() {
            if l.is_nan() || h.is_nan() || l > h {
                return Err(bad(format!(
                    "element {i}: low {l} must be ≤ high {h}, neither NaN"
                )));
            }
        }
        Ok(())
    }
}

/// A space of observations or actions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Space {
    /// Continuous values in a box.
    Box(BoxSpace),
    /// Integers `0..n`.
    Discrete(usize),
}

impl Space {
    /// Scalars per element: the box's element count, or 1 for a discrete space.
    pub fn flat_dim(&self) -> usize {
        match self {
            Space::Box(b) => b.dim(),
            Space::Discrete(_) => 1,
        }
    }

    /// The box, if this is one.
    pub fn as_box(&self) -> Option<&BoxSpace> {
        match self {
            Space::Box(b) => Some(b),
            Space::Discrete(_) => None,
        }
    }

    /// Whether actions of this space are discrete.
    pub fn is_discrete(&self) -> bool {
        matches!(self, Space::Discrete(_))
    }

    /// Checks that `actions` is a valid batch of `num_envs` actions of this space: right kind,
    /// right length, finite, and for a discrete space within `0..n`. Continuous actions outside
    /// the box are *not* rejected — environments handle them as Gymnasium does (usually by
    /// clipping).
    ///
    /// # Errors
    /// The first violation found, naming the environment index.
    pub fn validate_actions(&self, actions: Actions<'_>, num_envs: usize) -> Result<()> {
        match (self, actions) {
            (Space::Discrete(n), Actions::Discrete(a)) => {
                check_len(a.len(), num_envs, 1)?;
                for (env, &action) in a.iter().enumerate() {
                    if action < 0 || action as u64 >= *n as u64 {
                        return Err(EnvError::ActionOutOfRange { env, action, n: *n });
                    }
                }
                Ok(())
            }
            (Space::Box(b), Actions::Continuous(a)) => {
                let dim = b.dim();
                check_len(a.len(), num_envs, dim)?;
                if let Some(pos) = a.iter().position(|v| !v.is_finite()) {
                    return Err(EnvError::NonFiniteAction {
                        env: pos / dim,
                        index: pos % dim,
                        value: a[pos],
                    });
                }
                Ok(())
            }
            (space, actions) => Err(EnvError::ActionKind {
                expected: if space.is_discrete() {
                    "discrete"
                } else {
                    "continuous"
                },
                got: actions.kind(),
                space: space.to_string(),
            }),
        }
    }

    /// Whether `x` (one element, `flat_dim` values) lies in the space.
    pub fn contains(&self, x: &[f32]) -> bool {
        match self {
            Space::Box(b) => {
                x.len() == b.dim()
                    && x.iter()
                        .zip(b.low.iter().zip(&b.high))
                        .all(|(&v, (&l, &h))| (v as f64) >= l && (v as f64) <= h)
            }
            Space::Discrete(n) => {
                x.len() == 1 && x[0] >= 0.0 && x[0].fract() == 0.0 && (x[0] as f64) < *n as f64
            }
        }
    }

    /// Fills `out` with uniformly random actions for a batch (`out.len()` a multiple of
    /// `flat_dim`). Unbounded box components are drawn from a standard normal, as Gymnasium
    /// does.
    pub fn sample_into<R: Rng + ?Sized>(&self, rng: &mut R, out: ActionsMut<'_>) {
        match (self, out) {
            (Space::Discrete(n), ActionsMut::Discrete(a)) => {
                for v in a {
                    *v = rng.random_range(0..*n as i64);
                }
            }
            (Space::Box(b), ActionsMut::Continuous(a)) => {
                let dim = b.dim();
                for row in a.chunks_mut(dim) {
                    for ((v, &l), &h) in row.iter_mut().zip(&b.low).zip(&b.high) {
                        *v = sample_interval(rng, l, h) as f32;
                    }
                }
            }
            // A mismatched buffer has nothing sensible to receive; leave it untouched.
            _ => {}
        }
    }

    /// An action buffer of the right kind for a batch of `num_envs`, zero-filled.
    pub fn action_buffer(&self, num_envs: usize) -> ActionBuffer {
        match self {
            Space::Discrete(_) => ActionBuffer::Discrete(vec![0; num_envs]),
            Space::Box(b) => ActionBuffer::Continuous(vec![0.0; num_envs * b.dim()]),
        }
    }
}

fn sample_interval<R: Rng + ?Sized>(rng: &mut R, low: f64, high: f64) -> f64 {
    match (low.is_finite(), high.is_finite()) {
        (true, true) => {
            if low == high {
                low
            } else {
                rng.random_range(low..high)
            }
        }
        (true, false) => low + exponential(rng),
        (false, true) => high - exponential(rng),
        (false, false) => normal(rng),
    }
}

fn exponential<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    -(1.0 - rng.random::<f64>()).ln()
}

fn normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    // Box–Muller; one draw is enough for action sampling.
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn check_len(got: usize, num_envs: usize, action_dim: usize) -> Result<()> {
    let expected = num_envs * action_dim;
    if got != expected {
        return Err(EnvError::ActionLength {
            expected,
            got,
            num_envs,
            action_dim,
        });
    }
    Ok(())
}

impl fmt::Display for Space {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Space::Discrete(n) => write!(f, "Discrete({n})"),
            Space::Box(b) => {
                let all_same = |v: &[f64]| v.iter().all(|x| x == &v[0]);
                let bound = |v: &[f64]| {
                    if all_same(v) {
                        format!("{}", v[0])
                    } else {
                        format!("{v:?}")
                    }
                };
                let dtype = match b.dtype {
                    DType::F32 => "float32",
                    DType::F64 => "float64",
                };
                write!(
                    f,
                    "Box({}, {}, {:?}, {dtype})",
                    bound(&b.low),
                    bound(&b.high),
                    b.shape
                )
            }
        }
    }
}

/// A batch of actions, one per environment, borrowed from the caller.
///
/// # Shapes
/// - `Continuous`: `[num_envs, action_dim]`, row-major.
/// - `Discrete`: `[num_envs]` (i64, the dtype burn's integer tensors read back as).
#[derive(Debug, Clone, Copy)]
pub enum Actions<'a> {
    /// Continuous actions.
    Continuous(&'a [f32]),
    /// Discrete actions.
    Discrete(&'a [i64]),
}

impl Actions<'_> {
    /// "discrete" or "continuous".
    pub fn kind(&self) -> &'static str {
        match self {
            Actions::Continuous(_) => "continuous",
            Actions::Discrete(_) => "discrete",
        }
    }

    /// Number of scalars in the batch.
    pub fn len(&self) -> usize {
        match self {
            Actions::Continuous(a) => a.len(),
            Actions::Discrete(a) => a.len(),
        }
    }

    /// Whether the batch holds no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A mutable batch of actions, for [`Space::sample_into`].
#[derive(Debug)]
pub enum ActionsMut<'a> {
    /// Continuous actions `[num_envs, action_dim]`.
    Continuous(&'a mut [f32]),
    /// Discrete actions `[num_envs]`.
    Discrete(&'a mut [i64]),
}

/// An owned batch of actions.
#[derive(Debug, Clone, PartialEq)]
pub enum ActionBuffer {
    /// Continuous actions `[num_envs, action_dim]`.
    Continuous(Vec<f32>),
    /// Discrete actions `[num_envs]`.
    Discrete(Vec<i64>),
}

impl ActionBuffer {
    /// Borrowed view to pass to `step`.
    pub fn as_actions(&self) -> Actions<'_> {
        match self {
            ActionBuffer::Continuous(a) => Actions::Continuous(a),
            ActionBuffer::Discrete(a) => Actions::Discrete(a),
        }
    }

    /// Mutable view to fill.
    pub fn as_mut(&mut self) -> ActionsMut<'_> {
        match self {
            ActionBuffer::Continuous(a) => ActionsMut::Continuous(a),
            ActionBuffer::Discrete(a) => ActionsMut::Discrete(a),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_validation_names_the_problem() {
        let err = BoxSpace::new(vec![0.0, 1.0], vec![1.0, 0.5], DType::F32).unwrap_err();
        assert!(err.to_string().contains("element 1"), "{err}");
        let err = BoxSpace::new(vec![0.0], vec![1.0, 2.0], DType::F32).unwrap_err();
        assert!(err.to_string().contains("low has 1 and high 2"), "{err}");
    }

    #[test]
    fn action_validation() {
        let space = Space::Discrete(3);
        assert!(
            space
                .validate_actions(Actions::Discrete(&[0, 2]), 2)
                .is_ok()
        );
        assert_eq!(
            space.validate_actions(Actions::Discrete(&[0, 3]), 2),
            Err(EnvError::ActionOutOfRange {
                env: 1,
                action: 3,
                n: 3
            })
        );
        assert!(matches!(
            space.validate_actions(Actions::Discrete(&[0]), 2),
            Err(EnvError::ActionLength {
                expected: 2,
                got: 1,
                ..
            })
        ));
        assert!(matches!(
            space.validate_actions(Actions::Continuous(&[0.0, 1.0]), 2),
            Err(EnvError::ActionKind {
                expected: "discrete",
                ..
            })
        ));
        let space = Space::Box(BoxSpace::uniform(-2.0, 2.0, 2, DType::F32).unwrap());
        assert!(
            space
                .validate_actions(Actions::Continuous(&[5.0, 0.0, 1.0, 1.0]), 2)
                .is_ok()
        );
        assert!(matches!(
            space.validate_actions(Actions::Continuous(&[0.0, 0.0, 1.0, f32::NAN]), 2),
            Err(EnvError::NonFiniteAction {
                env: 1,
                index: 1,
                ..
            })
        ));
    }

    #[test]
    fn sampling_stays_in_bounds() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(3);
        let space = Space::Box(BoxSpace::new(vec![-1.0, 0.0], vec![1.0, 5.0], DType::F32).unwrap());
        let mut buf = space.action_buffer(100);
        space.sample_into(&mut rng, buf.as_mut());
        let ActionBuffer::Continuous(a) = &buf else {
            unreachable!()
        };
        for row in a.chunks(2) {
            assert!(space.contains(row), "{row:?}");
        }
        let space = Space::Discrete(4);
        let mut buf = space.action_buffer(1000);
        space.sample_into(&mut rng, buf.as_mut());
        let ActionBuffer::Discrete(a) = &buf else {
            unreachable!()
        };
        for k in 0..4 {
            assert!(a.iter().filter(|&&v| v == k).count() > 150);
        }
    }
}
