//! Data-parallel training: the processes that train one policy together, and what they share.
//!
//! A [`Communicator`] connects K processes (ranks). Each collects its own shard of every
//! batch — the same number of env steps on every rank — and the update averages what it
//! computes over the shards: advantage statistics, the policy gradient, every Fisher-vector
//! product inside conjugate gradient, the line search's KL and surrogate, the critic's
//! minibatch gradients. Every rank then takes the same step (OpenAI Baselines' `trpo_mpi`
//! design). [`SingleProcess`] is the default: one rank, nothing to exchange, and every helper
//! here returns its input untouched, so a single-process run computes exactly what it
//! computed before this seam existed. [`MpiCommunicator`] (feature `mpi`) runs over MPI.
//!
//! Shards are equal in size (`n_steps × num_envs` on every rank), so the mean of the ranks'
//! means is the mean over the whole batch.

use std::fmt::Debug;
use std::sync::Arc;

use burn::module::{AutodiffModule, Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Tensor, TensorData};
use cinder_policy::flat;

use crate::error::{AlgoError, Result};

/// The processes training one policy. Collective calls must be made by every rank, in the
/// same order; every rank gets the same bits back.
pub trait Communicator: Send + Sync + Debug {
    /// This process's index, `0..size()`.
    fn rank(&self) -> usize;
    /// Number of processes.
    fn size(&self) -> usize;
    /// Element-wise sum over the ranks, in place.
    fn all_reduce_sum_f32(&self, values: &mut [f32]);
    /// Element-wise sum over the ranks, in place.
    fn all_reduce_sum_f64(&self, values: &mut [f64]);
    /// `root`'s values, on every rank (the lengths must agree).
    fn broadcast_f32(&self, values: &mut [f32], root: usize);
    /// `root`'s bytes, on every rank (any lengths).
    fn broadcast_bytes(&self, bytes: &mut Vec<u8>, root: usize);
    /// A communicator over the same ranks whose collectives are independent of this one's,
    /// for a second thread (the critic fit runs beside the policy step).
    fn duplicate(&self) -> Arc<dyn Communicator>;
    /// Ends every rank's process with `code` (a rank that failed stops the others instead of
    /// leaving them waiting in a collective).
    fn abort(&self, code: i32) -> !;
    /// Seconds this communicator and its duplicates have spent in collectives so far, waiting
    /// for other ranks included (`time/comm_s` is its growth over an update).
    fn seconds(&self) -> f64 {
        0.0
    }
}

/// One process: nothing to exchange.
#[derive(Debug, Default, Clone, Copy)]
pub struct SingleProcess;

impl Communicator for SingleProcess {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn all_reduce_sum_f32(&self, _: &mut [f32]) {}
    fn all_reduce_sum_f64(&self, _: &mut [f64]) {}
    fn broadcast_f32(&self, _: &mut [f32], _: usize) {}
    fn broadcast_bytes(&self, _: &mut Vec<u8>, _: usize) {}
    fn duplicate(&self) -> Arc<dyn Communicator> {
        Arc::new(SingleProcess)
    }
    fn abort(&self, code: i32) -> ! {
        std::process::exit(code)
    }
}

/// The single-process communicator, shared.
pub fn single_process() -> Arc<dyn Communicator> {
    Arc::new(SingleProcess)
}

/// The mean over the ranks of `values`, in place.
pub fn mean_f64(comm: &dyn Communicator, values: &mut [f64]) {
    if comm.size() > 1 {
        comm.all_reduce_sum_f64(values);
        let k = comm.size() as f64;
        values.iter_mut().for_each(|v| *v /= k);
    }
}

/// The mean over the ranks of a device tensor (read to the host, reduced, uploaded).
pub fn mean_tensor<B: Backend, const D: usize>(
    comm: &dyn Communicator,
    t: Tensor<B, D>,
) -> Tensor<B, D> {
    if comm.size() == 1 {
        return t;
    }
    let shape = t.shape();
    let device = t.device();
    let mut v: Vec<f32> = t.into_data().iter::<f32>().collect();
    comm.all_reduce_sum_f32(&mut v);
    let k = comm.size() as f32;
    v.iter_mut().for_each(|x| *x /= k);
    Tensor::from_data(TensorData::new(v, shape), &device)
}

/// `(x − mean) / (std + 1e-8)` with the unbiased std of the whole batch, every rank's shard
/// `x` together ([`normalize`](crate::batch::normalize) for one process).
pub fn normalize_global<B: Backend>(comm: &dyn Communicator, x: Tensor<B, 1>) -> Tensor<B, 1> {
    if comm.size() == 1 {
        return crate::batch::normalize(x);
    }
    let [n] = x.dims();
    let mut first = [x.clone().sum().into_scalar().elem::<f64>(), n as f64];
    comm.all_reduce_sum_f64(&mut first);
    let [sum, total] = first;
    if total < 2.0 {
        return x;
    }
    let mean = sum / total;
    let centered = x.sub_scalar(mean);
    let mut second = [centered
        .clone()
        .powi_scalar(2)
        .sum()
        .into_scalar()
        .elem::<f64>()];
    comm.all_reduce_sum_f64(&mut second);
    let std = (second[0] / (total - 1.0)).sqrt();
    centered.div_scalar(std + 1e-8)
}

/// Replaces every gradient of `module` in `grads` by its mean over the ranks (one read, one
/// all-reduce and one upload for all of them), so every rank's optimiser takes the same step.
pub fn mean_grads<B: AutodiffBackend, M: AutodiffModule<B>>(
    comm: &dyn Communicator,
    mut grads: GradientsParams,
    module: &M,
) -> GradientsParams {
    if comm.size() == 1 {
        return grads;
    }
    struct Take<'a, IB: Backend> {
        grads: &'a mut GradientsParams,
        parts: Vec<Tensor<IB, 1>>,
    }
    impl<B: AutodiffBackend> ModuleVisitor<B> for Take<'_, B::InnerBackend> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            let g = match self.grads.remove::<B::InnerBackend, D>(param.id) {
                Some(g) => g,
                None => {
                    let v = param.val();
                    Tensor::zeros(v.shape(), &v.device())
                }
            };
            self.parts.push(g.reshape([-1]));
        }
    }
    let mut take = Take {
        grads: &mut grads,
        parts: Vec::new(),
    };
    module.visit(&mut take);
    let all = mean_tensor(comm, Tensor::cat(take.parts, 0));
    struct Put<'a, IB: Backend> {
        grads: &'a mut GradientsParams,
        all: Tensor<IB, 1>,
        offset: usize,
    }
    impl<B: AutodiffBackend> ModuleVisitor<B> for Put<'_, B::InnerBackend> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            let shape = param.val().shape();
            let n = shape.num_elements();
            let g: Tensor<B::InnerBackend, D> =
                self.all.clone().narrow(0, self.offset, n).reshape(shape);
            self.offset += n;
            self.grads.register(param.id, g);
        }
    }
    module.visit(&mut Put {
        grads: &mut grads,
        all,
        offset: 0,
    });
    grads
}

/// `module` with `root`'s parameter values on every rank.
///
/// # Errors
/// Only if the ranks' modules differ in size, which the config check at start-up rules out.
pub fn broadcast_module<B: Backend, M: Module<B>>(
    comm: &dyn Communicator,
    module: M,
    root: usize,
) -> Result<M> {
    if comm.size() == 1 {
        return Ok(module);
    }
    let theta = flat::flatten(&module);
    let device = theta.device();
    let mut v: Vec<f32> = theta.into_data().iter::<f32>().collect();
    comm.broadcast_f32(&mut v, root);
    let n = v.len();
    Ok(flat::load(
        module,
        Tensor::from_data(TensorData::new(v, [n]), &device),
    )?)
}

/// The env wrappers whose running statistics the ranks share.
const SHARED_STATISTICS: [&str; 2] = ["normalize_observation", "normalize_reward"];

/// Merges the running normalisation statistics the ranks gathered since `base` (the state
/// they all held after the last merge) into one state, the same on every rank: `base` merged
/// with every rank's new samples, as one process that saw them all would hold it (Chan et
/// al.'s parallel moments; the result differs from a sequential merge by float rounding
/// only). Entries other than the normalisers' are this rank's.
///
/// # Errors
/// A state whose statistics do not parse (never for a state the env saved).
pub fn merge_statistics(
    comm: &dyn Communicator,
    base: &cinder_env::EnvState,
    current: &cinder_env::EnvState,
) -> Result<cinder_env::EnvState> {
    let mut moments = new_moments(base, current)?;
    comm.all_reduce_sum_f64(&mut moments);
    apply_moments(base, current, &moments)
}

/// The statistics entries (`key`, their `rms`) of `state`, in a fixed order.
fn statistics(
    state: &cinder_env::EnvState,
) -> Result<Vec<(&'static str, cinder_env::wrappers::RunningMeanStd)>> {
    let mut out = Vec::new();
    for key in SHARED_STATISTICS {
        if let Some(entry) = state.get(key) {
            let rms = entry
                .get("rms")
                .cloned()
                .map(serde_json::from_value)
                .transpose()
                .map_err(|e| AlgoError::Config(format!("`{key}` statistics: {e}")))?
                .ok_or_else(|| AlgoError::Config(format!("`{key}` has no `rms`")))?;
            out.push((key, rms));
        }
    }
    Ok(out)
}

/// The samples merged into `current` since `base`, as sums around `base`'s mean: per
/// statistic, `[n, Σ(x − μ₀)…, Σ(x − μ₀)²…]`. Sums over ranks add up.
fn new_moments(base: &cinder_env::EnvState, current: &cinder_env::EnvState) -> Result<Vec<f64>> {
    let (base, current) = (statistics(base)?, statistics(current)?);
    let mut out = Vec::new();
    for ((_, b), (_, c)) in base.iter().zip(&current) {
        let n = c.count - b.count;
        out.push(n);
        for (&m0, &m1) in b.mean.iter().zip(&c.mean) {
            out.push(c.count * (m1 - m0));
        }
        for ((&m0, &v0), (&m1, &v1)) in b.mean.iter().zip(&b.var).zip(c.mean.iter().zip(&c.var)) {
            out.push(c.count * (v1 + (m1 - m0) * (m1 - m0)) - b.count * v0);
        }
    }
    Ok(out)
}

/// `base` merged with the new samples whose summed moments are `moments`.
fn apply_moments(
    base: &cinder_env::EnvState,
    current: &cinder_env::EnvState,
    moments: &[f64],
) -> Result<cinder_env::EnvState> {
    let mut out = current.clone();
    let mut rest = moments;
    for (key, mut rms) in statistics(base)? {
        let d = rms.mean.len();
        let (n, tail) = (rest[0], &rest[1..]);
        let (sum, tail) = tail.split_at(d);
        let (sq, tail) = tail.split_at(d);
        rest = tail;
        if n > 0.0 {
            let shift: Vec<f64> = sum.iter().map(|s| s / n).collect();
            let mean: Vec<f64> = rms.mean.iter().zip(&shift).map(|(m, s)| m + s).collect();
            let var: Vec<f64> = sq
                .iter()
                .zip(&shift)
                .map(|(q, s)| (q / n - s * s).max(0.0))
                .collect();
            rms.merge(&mean, &var, n);
        }
        let entry = out
            .0
            .get_mut(key)
            .ok_or_else(|| AlgoError::Config(format!("no `{key}` statistics on this rank")))?;
        entry["rms"] = serde_json::to_value(&rms)
            .map_err(|e| AlgoError::Config(format!("`{key}` statistics: {e}")))?;
    }
    Ok(out)
}

#[cfg(feature = "mpi")]
pub use mpi_impl::MpiCommunicator;

#[cfg(feature = "mpi")]
mod mpi_impl {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Instant;

    use mpi::collective::SystemOperation;
    use mpi::topology::{Communicator as _, SimpleCommunicator};
    use mpi::traits::{CommunicatorCollectives, Root};

    use super::Communicator;

    /// The ranks of an MPI communicator (`MPI_COMM_WORLD` for `mpiexec -n K cinder train`).
    ///
    /// MPI must have been initialised with `MPI_THREAD_MULTIPLE` (the critic fit and the
    /// policy step exchange data from two threads, each on its own duplicate communicator);
    /// keep the `mpi::environment::Universe` alive while this is used.
    pub struct MpiCommunicator {
        comm: SimpleCommunicator,
        /// Nanoseconds in collectives, shared with the duplicates.
        busy: Arc<AtomicU64>,
    }

    impl std::fmt::Debug for MpiCommunicator {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(
                f,
                "MpiCommunicator(rank {} of {})",
                self.rank(),
                self.size()
            )
        }
    }

    impl MpiCommunicator {
        /// A duplicate of `comm` (so that cinder's collectives never mix with yours).
        pub fn new(comm: &SimpleCommunicator) -> Self {
            Self {
                comm: comm.duplicate(),
                busy: Arc::default(),
            }
        }

        /// Runs `f`, counting its time as time in collectives.
        fn timed<T>(&self, f: impl FnOnce() -> T) -> T {
            let t = Instant::now();
            let out = f();
            self.busy
                .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
            out
        }
    }

    impl Communicator for MpiCommunicator {
        fn rank(&self) -> usize {
            self.comm.rank() as usize
        }
        fn size(&self) -> usize {
            self.comm.size() as usize
        }
        fn all_reduce_sum_f32(&self, values: &mut [f32]) {
            let send = values.to_vec();
            self.timed(|| {
                self.comm
                    .all_reduce_into(&send[..], values, SystemOperation::sum())
            });
        }
        fn all_reduce_sum_f64(&self, values: &mut [f64]) {
            let send = values.to_vec();
            self.timed(|| {
                self.comm
                    .all_reduce_into(&send[..], values, SystemOperation::sum())
            });
        }
        fn broadcast_f32(&self, values: &mut [f32], root: usize) {
            self.timed(|| {
                self.comm
                    .process_at_rank(root as i32)
                    .broadcast_into(values)
            });
        }
        fn broadcast_bytes(&self, bytes: &mut Vec<u8>, root: usize) {
            self.timed(|| {
                let mut len = [bytes.len() as u64];
                let process = self.comm.process_at_rank(root as i32);
                process.broadcast_into(&mut len[..]);
                bytes.resize(len[0] as usize, 0);
                process.broadcast_into(&mut bytes[..]);
            });
        }
        fn duplicate(&self) -> Arc<dyn Communicator> {
            Arc::new(MpiCommunicator {
                comm: self.comm.duplicate(),
                busy: self.busy.clone(),
            })
        }
        fn seconds(&self) -> f64 {
            self.busy.load(Ordering::Relaxed) as f64 * 1e-9
        }
        fn abort(&self, code: i32) -> ! {
            self.comm.abort(code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};

    type B = Autodiff<Flex>;

    #[test]
    fn one_process_changes_nothing() {
        let device = Default::default();
        let x = Tensor::<Flex, 1>::from_floats([1.0, 4.0, -2.0, 0.5], &device);
        let comm = SingleProcess;
        assert_eq!(
            normalize_global(&comm, x.clone()).into_data(),
            crate::batch::normalize(x.clone()).into_data()
        );
        assert_eq!(mean_tensor(&comm, x.clone()).into_data(), x.into_data());
        let mut v = [1.0, 2.0];
        mean_f64(&comm, &mut v);
        assert_eq!(v, [1.0, 2.0]);
        let value = cinder_policy::ValueMlpConfig::new(3)
            .init::<B>(0, &device)
            .unwrap();
        let before = flat::flatten(&value).into_data();
        let value = broadcast_module(&comm, value, 0).unwrap();
        assert_eq!(flat::flatten(&value).into_data(), before);
    }

    /// Two ranks' statistics, merged from their moments, equal one process that saw both
    /// ranks' samples after the shared base.
    #[test]
    fn merged_statistics_are_those_of_all_samples() {
        use cinder_env::EnvState;
        use cinder_env::wrappers::RunningMeanStd;
        let state = |rms: &RunningMeanStd| {
            let mut s = EnvState::default();
            s.insert(
                "normalize_observation",
                serde_json::json!({ "rms": rms, "epsilon": 1e-8, "clip": 10.0 }),
            )
            .unwrap();
            s
        };
        let rows = |seed: u32, n: usize| -> Vec<f32> {
            (0..n * 2)
                .map(|i| {
                    (((i as u32).wrapping_mul(2654435761) ^ seed) % 1000) as f32 / 100.0 - 3.0
                        + seed as f32
                })
                .collect()
        };
        let mut base = RunningMeanStd::new(2);
        base.update(&rows(1, 7));
        let (mut a, mut b, mut all) = (base.clone(), base.clone(), base.clone());
        for step in 0..5 {
            let (xa, xb) = (rows(10 + step, 3), rows(20 + step, 3));
            a.update(&xa);
            b.update(&xb);
            all.update(&[xa, xb].concat());
        }
        let base_state = state(&base);
        let mut moments = new_moments(&base_state, &state(&a)).unwrap();
        for (m, o) in moments
            .iter_mut()
            .zip(new_moments(&base_state, &state(&b)).unwrap())
        {
            *m += o;
        }
        let merged = apply_moments(&base_state, &state(&a), &moments).unwrap();
        let rms: RunningMeanStd =
            serde_json::from_value(merged.get("normalize_observation").unwrap()["rms"].clone())
                .unwrap();
        assert!((rms.count - all.count).abs() < 1e-9);
        for i in 0..2 {
            assert!((rms.mean[i] - all.mean[i]).abs() < 1e-9, "{rms:?} {all:?}");
            assert!(
                (rms.var[i] - all.var[i]).abs() < 1e-9 * all.var[i],
                "{rms:?} {all:?}"
            );
        }
        assert_eq!(
            merged.get("normalize_observation").unwrap()["clip"],
            serde_json::json!(10.0)
        );
    }
}
