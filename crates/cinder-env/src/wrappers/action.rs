use crate::error::{EnvError, Result};
use crate::space::{Actions, BoxSpace, DType, Space};
use crate::vec_env::{StepBatch, VecEnv};
use crate::wrappers::forward;

fn inner_box<'a>(space: &'a Space, wrapper: &'static str) -> Result<&'a BoxSpace> {
    space.as_box().ok_or(EnvError::Config {
        what: wrapper,
        message: format!("needs a Box action space, the env has {space}"),
    })
}

/// Validates `actions` against `space` and writes `f(component, value)` of each value to
/// `buffer`.
fn map_continuous(
    space: &Space,
    actions: Actions<'_>,
    num_envs: usize,
    buffer: &mut Vec<f32>,
    f: impl Fn(usize, f32) -> f32,
) -> Result<()> {
    space.validate_actions(actions, num_envs)?;
    let Actions::Continuous(a) = actions else {
        unreachable!("validated as continuous")
    };
    let dim = space.flat_dim();
    buffer.clear();
    buffer.extend(a.iter().enumerate().map(|(j, &x)| f(j % dim, x)));
    Ok(())
}

/// Clips continuous actions to the env's action bounds before stepping (Gymnasium's
/// `ClipAction`; the wrapper's action space is unbounded, non-finite actions are still
/// rejected).
#[derive(Debug, Clone)]
pub struct ClipAction<V> {
    inner: V,
    low: Vec<f32>,
    high: Vec<f32>,
    space: Space,
    buffer: Vec<f32>,
}

impl<V: VecEnv> ClipAction<V> {
    /// Wraps `inner`.
    ///
    /// # Errors
    /// If the action space is discrete.
    pub fn new(inner: V) -> Result<Self> {
        let b = inner_box(inner.action_space(), "ClipAction")?.clone();
        let space = Space::Box(BoxSpace::with_shape(
            vec![f64::NEG_INFINITY; b.dim()],
            vec![f64::INFINITY; b.dim()],
            b.shape.clone(),
            b.dtype,
        )?);
        Ok(Self {
            low: b.low.iter().map(|&l| l as f32).collect(),
            high: b.high.iter().map(|&h| h as f32).collect(),
            buffer: Vec::new(),
            space,
            inner,
        })
    }
}

impl<V: VecEnv> VecEnv for ClipAction<V> {
    forward!(
        num_envs,
        observation_space,
        reset,
        reset_env,
        save_state,
        load_state,
        set_training,
        runtime,
        render
    );

    fn action_space(&self) -> &Space {
        &self.space
    }

    fn step(&mut self, actions: Actions<'_>, out: &mut StepBatch) -> Result<()> {
        let (low, high) = (&self.low, &self.high);
        map_continuous(
            &self.space,
            actions,
            self.inner.num_envs(),
            &mut self.buffer,
            |k, x| x.clamp(low[k], high[k]),
        )?;
        self.inner.step(Actions::Continuous(&self.buffer), out)
    }
}

/// Affinely maps actions from `[min_action, max_action]` to the env's action box (Gymnasium's
/// `RescaleAction`: `a ↦ low + (high - low)(a - min) / (max - min)`), typically so that a
/// policy acts in `[-1, 1]`. Actions outside the range are mapped by the same formula and left
/// to the env, as Gymnasium does.
#[derive(Debug, Clone)]
pub struct RescaleAction<V> {
    inner: V,
    gradient: Vec<f64>,
    intercept: Vec<f64>,
    space: Space,
    buffer: Vec<f32>,
}

impl<V: VecEnv> RescaleAction<V> {
    /// Wraps `inner`, whose action box must be bounded.
    ///
    /// # Errors
    /// If the action space is discrete or unbounded, or `min_action ≥ max_action`.
    pub fn new(inner: V, min_action: f64, max_action: f64) -> Result<Self> {
        let b = inner_box(inner.action_space(), "RescaleAction")?.clone();
        if !(min_action.is_finite() && max_action.is_finite() && min_action < max_action) {
            return Err(EnvError::Config {
                what: "RescaleAction",
                message: format!(
                    "min_action ({min_action}) must be finite and smaller than max_action ({max_action})"
                ),
            });
        }
        if let Some(i) = (0..b.dim()).find(|&i| !b.low[i].is_finite() || !b.high[i].is_finite()) {
            return Err(EnvError::Config {
                what: "RescaleAction",
                message: format!(
                    "action component {i} is unbounded ({}, {}); only a bounded box can be rescaled",
                    b.low[i], b.high[i]
                ),
            });
        }
        let gradient: Vec<f64> = b
            .low
            .iter()
            .zip(&b.high)
            .map(|(l, h)| (h - l) / (max_action - min_action))
            .collect();
        let intercept = b
            .low
            .iter()
            .zip(&gradient)
            .map(|(l, g)| l - g * min_action)
            .collect();
        let space = Space::Box(BoxSpace::with_shape(
            vec![min_action; b.dim()],
            vec![max_action; b.dim()],
            b.shape.clone(),
            DType::F32,
        )?);
        Ok(Self {
            inner,
            gradient,
            intercept,
            space,
            buffer: Vec::new(),
        })
    }
}

impl<V: VecEnv> VecEnv for RescaleAction<V> {
    forward!(
        num_envs,
        observation_space,
        reset,
        reset_env,
        save_state,
        load_state,
        set_training,
        runtime,
        render
    );

    fn action_space(&self) -> &Space {
        &self.space
    }

    fn step(&mut self, actions: Actions<'_>, out: &mut StepBatch) -> Result<()> {
        let (gradient, intercept) = (&self.gradient, &self.intercept);
        map_continuous(
            &self.space,
            actions,
            self.inner.num_envs(),
            &mut self.buffer,
            |k, x| (gradient[k] * x as f64 + intercept[k]) as f32,
        )?;
        self.inner.step(Actions::Continuous(&self.buffer), out)
    }
}
