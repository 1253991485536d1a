//! Criterion benchmarks of the core numerics: one Fisher-vector product and one 10-iteration
//! CG solve, both methods, batch 2048/5000/25000, Hopper (11→3) and HalfCheetah (17→6) sizes,
//! on every compiled-in CPU backend.
//!
//! `cargo bench -p cinder --features ndarray` (add `-- fvp` or `-- cg` to pick a group).
//! The `cinder bench` command measures the same things with the reference harness's protocol
//! and prints JSON; docs/numerics.md has the table.
#![allow(missing_docs)] // criterion_group! generates an undocumented public function

use burn::tensor::backend::Backend;
use cinder::bench::{FvpMethod, Problem};
use cinder::cg::{CgConfig, conjugate_gradient};
use cinder::fisher::FisherVectorProduct;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::time::Duration;

const SIZES: [(&str, usize, usize); 2] = [("hopper", 11, 3), ("halfcheetah", 17, 6)];
const BATCHES: [usize; 3] = [2048, 5000, 25000];
const METHODS: [FvpMethod; 2] = [FvpMethod::GaussNewton, FvpMethod::DoubleBackprop];

fn operator<B: Backend>(
    method: FvpMethod,
    p: &Problem,
    device: &B::Device,
) -> (Box<dyn FisherVectorProduct<B>>, burn::tensor::Tensor<B, 2>) {
    let (policy, obs, v) = p.build::<B>(device);
    (
        cinder::bench::operator(method, &policy, obs, 0.1).unwrap(),
        v,
    )
}

fn problems() -> impl Iterator<Item = (String, Problem)> {
    SIZES.into_iter().flat_map(|(name, obs_dim, act_dim)| {
        BATCHES.into_iter().map(move |batch| {
            (
                format!("{name}/{batch}"),
                Problem {
                    obs_dim,
                    act_dim,
                    hidden: vec![64, 64],
                    batch,
                    seed: 0,
                },
            )
        })
    })
}

fn fvp_group<B: Backend>(c: &mut Criterion, backend: &str) {
    let device = B::Device::default();
    let mut group = c.benchmark_group(format!("{backend}/fvp"));
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (label, p) in problems() {
        group.throughput(Throughput::Elements(p.batch as u64));
        for method in METHODS {
            let (mut op, v) = operator::<B>(method, &p, &device);
            group.bench_with_input(BenchmarkId::new(method.name(), &label), &(), |b, _| {
                b.iter(|| {
                    let _ = op.apply(v.clone());
                    B::sync(&device).unwrap();
                })
            });
        }
    }
    group.finish();
}

fn cg_group<B: Backend>(c: &mut Criterion, backend: &str) {
    let device = B::Device::default();
    let mut group = c.benchmark_group(format!("{backend}/cg10"));
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    let cfg = CgConfig::new().with_max_iters(10).with_residual_tol(0.0);
    for (label, p) in problems() {
        group.throughput(Throughput::Elements(p.batch as u64));
        for method in METHODS {
            let (mut op, g) = operator::<B>(method, &p, &device);
            group.bench_with_input(BenchmarkId::new(method.name(), &label), &(), |b, _| {
                b.iter(|| {
                    let sol = conjugate_gradient(|v| op.apply(v), g.clone(), &cfg).unwrap();
                    let _ = sol.x;
                    B::sync(&device).unwrap();
                })
            });
        }
    }
    group.finish();
}

fn fvp(c: &mut Criterion) {
    #[cfg(feature = "flex")]
    fvp_group::<cinder::backend::Flex>(c, "flex");
    #[cfg(feature = "ndarray")]
    fvp_group::<cinder::backend::NdArray>(c, "ndarray");
}

fn cg(c: &mut Criterion) {
    #[cfg(feature = "flex")]
    cg_group::<cinder::backend::Flex>(c, "flex");
    #[cfg(feature = "ndarray")]
    cg_group::<cinder::backend::NdArray>(c, "ndarray");
}

/// One vector step of 64 native envs with random actions (auto-reset and time limit included).
fn env(c: &mut Criterion) {
    use cinder::env::{StepBatch, VecEnv, make};
    use rand::SeedableRng;
    let mut group = c.benchmark_group("env_step");
    let n = 64;
    group.throughput(Throughput::Elements(n as u64));
    for id in cinder::env::ids() {
        let mut env = make(id, n, Some(0)).expect("registered id");
        let space = env.action_space().clone();
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(0);
        let mut actions = space.action_buffer(n);
        let mut obs = vec![0.0; n * env.observation_space().flat_dim()];
        env.reset(Some(0), &mut obs).expect("reset");
        let mut out = StepBatch::for_env(&*env);
        group.bench_function(BenchmarkId::new(id, n), |b| {
            b.iter(|| {
                space.sample_into(&mut rng, actions.as_mut());
                env.step(actions.as_actions(), &mut out)
                    .expect("valid actions");
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default();
    targets = fvp, cg, env
}
criterion_main!(benches);
