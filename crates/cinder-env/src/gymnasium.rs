//! Any Gymnasium environment as a [`VecEnv`], through an embedded Python interpreter (feature
//! `gymnasium`).
//!
//! # Which Python
//! The crate links the libpython of the interpreter given by `PYO3_PYTHON` at build time (the
//! workspace's `.cargo/config.toml` points it at `.venv/bin/python`, made by
//! `bash scripts/setup_python.sh`; binaries find that libpython through an rpath). At run time
//! the venv whose `site-packages` is put on `sys.path` is, in this order: the one of
//! `CINDER_PYTHON` (a venv's `python` or the venv folder), `VIRTUAL_ENV`, or the venv of the
//! build-time `PYO3_PYTHON`. Its Python version must be the one linked.
//!
//! # Data
//! One numpy array per quantity and batch each way, the GIL taken once per vector step.
//! Observations are handed over as `f32` whatever the env's dtype (the MuJoCo envs compute in
//! float64: their observations are rounded to float32, the precision the learner uses);
//! the original dtype is kept in [`BoxSpace::dtype`](crate::BoxSpace). Gymnasium's vector env
//! runs in its same-step autoreset mode, which is the [`VecEnv`] contract: the final
//! observation of an ended episode comes in `final_obs`, `terminated` and `truncated` stay
//! apart.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::path::PathBuf;
use std::sync::OnceLock;

use numpy::{PyArray1, PyReadonlyArrayDyn};
use pyo3::IntoPyObjectExt;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::error::{EnvError, Result};
use crate::space::{Actions, BoxSpace, DType, Space};
use crate::vec_env::{StepBatch, VecEnv, check_buffer, check_index};

const BRIDGE_SOURCE: &str = include_str!("gymnasium_bridge.py");
/// The command that makes the venv, named in errors.
pub const SETUP_COMMAND: &str = "bash scripts/setup_python.sh";

static BRIDGE: OnceLock<std::result::Result<Py<PyModule>, EnvError>> = OnceLock::new();

/// A Python exception as an error: traceback, type and message.
fn python_error(py: Python<'_>, err: PyErr) -> EnvError {
    let traceback = err
        .traceback(py)
        .and_then(|t| t.format().ok())
        .unwrap_or_default();
    EnvError::Python(format!("{traceback}{err}"))
}

/// The venv folder to import Gymnasium from, and how it was chosen.
fn venv_candidates() -> Vec<(PathBuf, &'static str)> {
    let mut out = Vec::new();
    let from_python = |p: PathBuf| -> PathBuf {
        if p.is_dir() {
            p
        } else {
            // <venv>/bin/python → <venv>
            p.parent()
                .and_then(|b| b.parent())
                .map(PathBuf::from)
                .unwrap_or(p)
        }
    };
    if let Some(p) = std::env::var_os("CINDER_PYTHON") {
        out.push((from_python(PathBuf::from(p)), "CINDER_PYTHON"));
    }
    if let Some(p) = std::env::var_os("VIRTUAL_ENV") {
        out.push((PathBuf::from(p), "VIRTUAL_ENV"));
    }
    if let Some(p) = option_env!("PYO3_PYTHON") {
        out.push((from_python(PathBuf::from(p)), "the build-time PYO3_PYTHON"));
    }
    out
}

fn load_bridge() -> std::result::Result<Py<PyModule>, EnvError> {
    Python::attach(|py| {
        let sys = py.import("sys").map_err(|e| python_error(py, e))?;
        let (major, minor): (u32, u32) = sys
            .getattr("version_info")
            .and_then(|v| {
                Ok((
                    v.getattr("major")?.extract()?,
                    v.getattr("minor")?.extract()?,
                ))
            })
            .map_err(|e| python_error(py, e))?;
        let candidates = venv_candidates();
        let chosen = candidates.iter().find_map(|(venv, why)| {
            let site = venv
                .join("lib")
                .join(format!("python{major}.{minor}"))
                .join("site-packages");
            site.is_dir().then_some((site, *why))
        });
        let Some((site, why)) = chosen else {
            let tried: Vec<String> = candidates
                .iter()
                .map(|(p, why)| format!("{} ({why})", p.display()))
                .collect();
            return Err(EnvError::Python(format!(
                "no venv with Python {major}.{minor} packages found (looked in: {}). Run `{SETUP_COMMAND}` in the \
                 cinder checkout, or set CINDER_PYTHON to the python of a venv made with Python {major}.{minor} \
                 that has gymnasium installed",
                if tried.is_empty() {
                    "nothing configured".to_string()
                } else {
                    tried.join(", ")
                }
            )));
        };
        let site_str = site.to_string_lossy().into_owned();
        py.import("site")
            .and_then(|s| s.call_method1("addsitedir", (site_str.as_str(),)))
            .map_err(|e| python_error(py, e))?;
        if let Err(e) = py.import("gymnasium") {
            return Err(EnvError::Python(format!(
                "cannot import gymnasium from {} (chosen through {why}): {e}. Run `{SETUP_COMMAND}` or point \
                 CINDER_PYTHON at a venv with gymnasium==1.4.0",
                site.display()
            )));
        }
        let code = CString::new(BRIDGE_SOURCE).map_err(|e| EnvError::Python(e.to_string()))?;
        let module = PyModule::from_code(
            py,
            &code,
            c"cinder_gymnasium_bridge.py",
            c"cinder_gymnasium_bridge",
        )
        .map_err(|e| python_error(py, e))?;
        Ok(module.unbind())
    })
}

fn bridge_module() -> Result<&'static Py<PyModule>> {
    BRIDGE
        .get_or_init(load_bridge)
        .as_ref()
        .map_err(Clone::clone)
}

/// The ids Gymnasium can make (its registry, after importing gymnasium and whatever the venv
/// registers on import).
///
/// # Errors
/// If Python or Gymnasium cannot be loaded.
pub fn registered_ids() -> Result<Vec<String>> {
    let module = bridge_module()?;
    Python::attach(|py| {
        module
            .bind(py)
            .call_method0("registered_ids")
            .and_then(|ids| ids.extract())
            .map_err(|e| python_error(py, e))
    })
}

/// Runs Python code in the bridge's interpreter, e.g. to define and `gymnasium.register` an
/// environment of your own before making it by id.
///
/// # Errors
/// The Python exception, with its traceback.
pub fn run_python(code: &str) -> Result<()> {
    bridge_module()?;
    let code = CString::new(code)
        .map_err(|e| EnvError::Python(format!("code contains a NUL byte: {e}")))?;
    Python::attach(|py| {
        let globals = PyDict::new(py);
        py.run(&code, Some(&globals), None)
            .map_err(|e| python_error(py, e))
    })
}

fn to_python<'py>(py: Python<'py>, value: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    use serde_json::Value;
    match value {
        Value::Null => Ok(py.None().into_bound(py)),
        Value::Bool(b) => b.into_bound_py_any(py),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.into_bound_py_any(py),
            None => n.as_f64().unwrap_or(f64::NAN).into_bound_py_any(py),
        },
        Value::String(s) => s.into_bound_py_any(py),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_python(py, item)?)?;
            }
            Ok(list.into_any())
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, to_python(py, v)?)?;
            }
            Ok(dict.into_any())
        }
    }
}

type SpaceInfo = (String, usize, Vec<f64>, Vec<f64>, Vec<usize>, String);

/// The Python bridge object, its spaces, observation size and episode limit.
type BridgeParts = (Py<PyAny>, SpaceInfo, SpaceInfo, usize, Option<usize>);

fn to_space(info: SpaceInfo) -> Result<Space> {
    let (kind, n, low, high, shape, dtype) = info;
    if kind == "discrete" {
        return Ok(Space::Discrete(n));
    }
    let dtype = match dtype.as_str() {
        "float64" => DType::F64,
        _ => DType::F32,
    };
    let shape = if shape.is_empty() { vec![1] } else { shape };
    Ok(Space::Box(BoxSpace::with_shape(low, high, shape, dtype)?))
}

/// Copies a numpy array of float32 or float64 (any shape, any strides) into `dst`, converting
/// to f32.
fn copy_as_f32(what: &str, array: &Bound<'_, PyAny>, dst: &mut [f32]) -> Result<()> {
    let wrong = |got: usize| {
        EnvError::Python(format!(
            "{what} from Gymnasium: {got} values, expected {}",
            dst.len()
        ))
    };
    if let Ok(a) = array.extract::<PyReadonlyArrayDyn<f64>>() {
        let a = a.as_array();
        if a.len() != dst.len() {
            return Err(wrong(a.len()));
        }
        dst.iter_mut()
            .zip(a.iter())
            .for_each(|(d, &x)| *d = x as f32);
    } else if let Ok(a) = array.extract::<PyReadonlyArrayDyn<f32>>() {
        let a = a.as_array();
        if a.len() != dst.len() {
            return Err(wrong(a.len()));
        }
        dst.iter_mut().zip(a.iter()).for_each(|(d, &x)| *d = x);
    } else {
        return Err(EnvError::Python(format!(
            "{what} from Gymnasium: expected a float32 or float64 numpy array, got {}",
            array.get_type()
        )));
    }
    Ok(())
}

/// Copies a numpy bool array into `dst`.
fn copy_bools(what: &str, array: &Bound<'_, PyAny>, dst: &mut [bool]) -> Result<()> {
    let a: PyReadonlyArrayDyn<bool> = array
        .extract()
        .map_err(|e| EnvError::Python(format!("{what} from Gymnasium: {e}")))?;
    let a = a.as_array();
    if a.len() != dst.len() {
        return Err(EnvError::Python(format!(
            "{what} from Gymnasium: {} values, expected {}",
            a.len(),
            dst.len()
        )));
    }
    dst.iter_mut().zip(a.iter()).for_each(|(d, &x)| *d = x);
    Ok(())
}

/// `gymnasium.make_vec(id, num_envs, vectorization_mode="sync", **kwargs)` behind the
/// [`VecEnv`] contract.
pub struct GymnasiumVecEnv {
    bridge: Py<PyAny>,
    id: String,
    num_envs: usize,
    obs_dim: usize,
    observation_space: Space,
    action_space: Space,
    max_episode_steps: Option<usize>,
    default_seed: Option<u64>,
    ready: bool,
}

impl std::fmt::Debug for GymnasiumVecEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GymnasiumVecEnv")
            .field("id", &self.id)
            .field("num_envs", &self.num_envs)
            .field("observation_space", &self.observation_space)
            .field("action_space", &self.action_space)
            .finish()
    }
}

impl GymnasiumVecEnv {
    /// Makes `num_envs` copies of Gymnasium env `id` with `gymnasium.make` keyword arguments
    /// `kwargs` (`max_episode_steps` among them); `seed` is used by the first `reset(None)`.
    ///
    /// # Errors
    /// [`EnvError::Python`] with Gymnasium's message and traceback (unknown id, bad keyword
    /// arguments, missing dependencies), or when Python cannot be set up (the message names
    /// the command that fixes it).
    pub fn new(
        id: &str,
        num_envs: usize,
        seed: Option<u64>,
        kwargs: &BTreeMap<String, serde_json::Value>,
    ) -> Result<Self> {
        crate::error::at_least_one("num_envs", num_envs)?;
        let module = bridge_module()?;
        Python::attach(|py| {
            let build = || -> PyResult<BridgeParts> {
                let py_kwargs = PyDict::new(py);
                for (k, v) in kwargs {
                    py_kwargs.set_item(k, to_python(py, v)?)?;
                }
                let bridge = module
                    .bind(py)
                    .getattr("Bridge")?
                    .call1((id, num_envs, py_kwargs))?;
                Ok((
                    bridge.clone().unbind(),
                    bridge.getattr("obs_space")?.extract()?,
                    bridge.getattr("act_space")?.extract()?,
                    bridge.getattr("obs_dim")?.extract()?,
                    bridge.getattr("max_episode_steps")?.extract()?,
                ))
            };
            let (bridge, obs, act, obs_dim, max_episode_steps) =
                build().map_err(|e| python_error(py, e))?;
            Ok(Self {
                bridge,
                id: id.to_string(),
                num_envs,
                obs_dim,
                observation_space: to_space(obs)?,
                action_space: to_space(act)?,
                max_episode_steps,
                default_seed: seed,
                ready: false,
            })
        })
    }

    /// The Gymnasium id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The episode limit Gymnasium applies (`None`: unlimited).
    pub fn max_episode_steps(&self) -> Option<usize> {
        self.max_episode_steps
    }

    /// Attribute `name` of every env (`SyncVectorEnv.get_attr`, e.g. `"state"` of a classic
    /// control env), each flattened to float64.
    ///
    /// # Errors
    /// The Python exception if an env lacks the attribute or it is not numeric.
    pub fn get_attr(&self, name: &str) -> Result<Vec<Vec<f64>>> {
        Python::attach(|py| {
            self.bridge
                .bind(py)
                .call_method1("get_attr", (name,))
                .and_then(|v| v.extract())
                .map_err(|e| python_error(py, e))
        })
    }
}

impl VecEnv for GymnasiumVecEnv {
    fn num_envs(&self) -> usize {
        self.num_envs
    }

    fn observation_space(&self) -> &Space {
        &self.observation_space
    }

    fn action_space(&self) -> &Space {
        &self.action_space
    }

    fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) -> Result<()> {
        check_buffer(
            "reset observations",
            obs.len(),
            self.num_envs * self.obs_dim,
        )?;
        let seed = seed.or(if self.ready { None } else { self.default_seed });
        Python::attach(|py| {
            let arr = self
                .bridge
                .bind(py)
                .call_method1("reset", (seed,))
                .map_err(|e| python_error(py, e))?;
            copy_as_f32("reset observations", &arr, obs)
        })?;
        self.ready = true;
        Ok(())
    }

    fn step(&mut self, actions: Actions<'_>, out: &mut StepBatch) -> Result<()> {
        let n = self.num_envs;
        self.action_space.validate_actions(actions, n)?;
        if !self.ready {
            return Err(EnvError::NotReset);
        }
        out.prepare(n, self.obs_dim)?;
        let result = Python::attach(|py| -> Result<()> {
            let actions = match actions {
                Actions::Continuous(a) => PyArray1::from_slice(py, a).into_any(),
                Actions::Discrete(a) => PyArray1::from_slice(py, a).into_any(),
            };
            let stepped = self
                .bridge
                .bind(py)
                .call_method1("step", (actions,))
                .map_err(|e| python_error(py, e))?;
            let item = |k: usize| stepped.get_item(k).map_err(|e| python_error(py, e));
            copy_as_f32("observations", &item(0)?, &mut out.obs)?;
            copy_as_f32("rewards", &item(1)?, &mut out.rewards)?;
            copy_bools("terminated", &item(2)?, &mut out.terminated)?;
            copy_bools("truncated", &item(3)?, &mut out.truncated)?;
            let fin = item(4)?;
            if !fin.is_none() {
                copy_as_f32("final observations", &fin, &mut out.final_obs)?;
            }
            Ok(())
        });
        if let Err(e) = result {
            // Some sub-envs may have stepped: the batch must be reset before it steps again.
            self.ready = false;
            return Err(e);
        }
        Ok(())
    }

    fn reset_env(&mut self, index: usize, obs: &mut [f32]) -> Result<()> {
        check_index(index, self.num_envs)?;
        check_buffer("reset observation", obs.len(), self.obs_dim)?;
        if !self.ready {
            return Err(EnvError::NotReset);
        }
        Python::attach(|py| {
            let row = self
                .bridge
                .bind(py)
                .call_method1("reset_one", (index,))
                .map_err(|e| python_error(py, e))?;
            copy_as_f32("reset observation", &row, obs)
        })
    }
}

impl Drop for GymnasiumVecEnv {
    fn drop(&mut self) {
        Python::attach(|py| {
            // Closing releases simulator resources; an error here has nowhere to go.
            let _ = self.bridge.bind(py).call_method0("close");
        });
    }
}
