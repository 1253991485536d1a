//! burn's Adam on the host: the state an `OptimizerAdaptor<Adam, M, B>` holds for a module,
//! read once into flat vectors, stepped in plain Rust, and written back once.
//!
//! The host fits (the critic's, [`crate::ValueFitter`], and the first-order policy step,
//! [`crate::PolicyGradient::update_natively`]) run hundreds of small Adam steps per update;
//! as burn ops each step is a dozen ops per parameter tensor. Here a step is one loop over
//! the flat parameters, and checkpoints are unchanged: they hold burn's records, which
//! [`HostAdam::read`] and [`HostAdam::write`] translate.

use burn::module::{AutodiffModule, ModuleVisitor, Param, ParamId};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::record::AdaptorRecord;
use burn::optim::{Adam, AdamState, AdaptiveMomentumState, Optimizer};
use burn::tensor::Tensor;
use burn::tensor::TensorData;
use burn::tensor::backend::{AutodiffBackend, Backend};

/// burn's Adam state of every parameter tensor of a module, on the host in flattening order
/// (the module's visiting order, as [`cinder_policy::flat::flatten`] lays parameters out).
pub(crate) struct HostAdam {
    /// Each tensor's id, dimensions, offset in the flat vectors, and steps taken.
    tensors: Vec<(ParamId, Vec<usize>, usize, usize)>,
    moment_1: Vec<f32>,
    moment_2: Vec<f32>,
}

impl HostAdam {
    /// As burn's `AdamConfig::new()`, which every cinder optimiser starts from.
    const BETA_1: f32 = 0.9;
    const BETA_2: f32 = 0.999;

    /// The state `optimizer` holds for `module`'s parameters (one read); a parameter without
    /// state (no step taken yet) starts at zero moments, which is what burn's first step
    /// computes.
    pub(crate) fn read<B: AutodiffBackend, M: AutodiffModule<B>>(
        optimizer: &OptimizerAdaptor<Adam, M, B>,
        module: &M,
    ) -> Self {
        struct Ids(Vec<(ParamId, Vec<usize>)>);
        impl<B: Backend> ModuleVisitor<B> for Ids {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
                self.0.push((param.id, param.val().dims().to_vec()));
            }
        }
        let mut ids = Ids(Vec::new());
        module.visit(&mut ids);
        let mut records = optimizer.to_record();
        let mut tensors = Vec::with_capacity(ids.0.len());
        let mut parts: Vec<Tensor<B::InnerBackend, 1>> = Vec::new();
        let mut present = Vec::new();
        let mut offset = 0;
        for (id, dims) in ids.0 {
            let len = dims.iter().product::<usize>();
            let state = records.remove(&id).map(|r| match dims.len() {
                1 => flat_state::<B, 1>(r),
                2 => flat_state::<B, 2>(r),
                n => unreachable!("a built-in MLP has no {n}-D parameters"),
            });
            let time = match state {
                Some((time, m1, m2)) => {
                    parts.push(m1);
                    parts.push(m2);
                    present.push((offset, len));
                    time
                }
                None => 0,
            };
            tensors.push((id, dims, offset, time));
            offset += len;
        }
        let mut moment_1 = vec![0.0; offset];
        let mut moment_2 = vec![0.0; offset];
        if !parts.is_empty() {
            let host: Vec<f32> = Tensor::cat(parts, 0).into_data().iter::<f32>().collect();
            let mut at = 0;
            for (start, len) in present {
                moment_1[start..start + len].copy_from_slice(&host[at..at + len]);
                moment_2[start..start + len].copy_from_slice(&host[at + len..at + 2 * len]);
                at += 2 * len;
            }
        }
        Self {
            tensors,
            moment_1,
            moment_2,
        }
    }

    /// One Adam step of every tensor, as burn's `AdaptiveMomentum` computes it: moments,
    /// bias corrections and ε scaled by `√(1 − β₂ᵗ)`, all in f32.
    pub(crate) fn step(&mut self, params: &mut [f32], grad: &[f32], lr: f64, epsilon: f32) {
        let (b1, b2, lr) = (Self::BETA_1, Self::BETA_2, lr as f32);
        for (_, dims, offset, time) in &mut self.tensors {
            let range = *offset..*offset + dims.iter().product::<usize>();
            *time += 1;
            let t = *time as i32;
            let bc2 = (1.0 - b2.powi(t)).sqrt();
            let factor = bc2 / (1.0 - b1.powi(t));
            let eps = epsilon * bc2;
            let p = &mut params[range.clone()];
            let g = &grad[range.clone()];
            let m1 = &mut self.moment_1[range.clone()];
            let m2 = &mut self.moment_2[range];
            for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m1).zip(m2) {
                *m = *m * b1 + g * (1.0 - b1);
                *v = *v * b2 + g * g * (1.0 - b2);
                *p -= *m * factor / (v.sqrt() + eps) * lr;
            }
        }
    }

    /// Writes the state back into `optimizer` (one upload).
    pub(crate) fn write<B: AutodiffBackend, M: AutodiffModule<B>>(
        &self,
        optimizer: &mut OptimizerAdaptor<Adam, M, B>,
        device: &B::Device,
    ) {
        let n = self.moment_1.len();
        let mut both = self.moment_1.clone();
        both.extend_from_slice(&self.moment_2);
        let all = Tensor::<B::InnerBackend, 1>::from_data(TensorData::new(both, [2 * n]), device);
        let mut records = optimizer.to_record();
        for (id, dims, offset, time) in &self.tensors {
            let len = dims.iter().product::<usize>();
            let m1 = all.clone().narrow(0, *offset, len);
            let m2 = all.clone().narrow(0, n + offset, len);
            let record = match dims.len() {
                1 => record_of::<B, 1>(*time, m1, m2, dims),
                2 => record_of::<B, 2>(*time, m1, m2, dims),
                d => unreachable!("a built-in MLP has no {d}-D parameters"),
            };
            records.insert(*id, record);
        }
        *optimizer = optimizer.clone().load_record(records);
    }
}

/// A parameter's Adam steps and moments, flattened.
fn flat_state<B: AutodiffBackend, const D: usize>(
    record: AdaptorRecord<Adam, B>,
) -> (
    usize,
    Tensor<B::InnerBackend, 1>,
    Tensor<B::InnerBackend, 1>,
) {
    let state: AdamState<B::InnerBackend, D> = record.into_state();
    let m = state.momentum;
    (m.time, m.moment_1.reshape([-1]), m.moment_2.reshape([-1]))
}

/// A parameter's Adam record from its steps and flat moments.
fn record_of<B: AutodiffBackend, const D: usize>(
    time: usize,
    moment_1: Tensor<B::InnerBackend, 1>,
    moment_2: Tensor<B::InnerBackend, 1>,
    dims: &[usize],
) -> AdaptorRecord<Adam, B> {
    let shape: [usize; D] = dims.try_into().expect("dimensions of the parameter");
    AdaptorRecord::from_state::<D>(AdamState::new(AdaptiveMomentumState::new(
        time,
        moment_1.reshape(shape),
        moment_2.reshape(shape),
    )))
}
