//! The same training run on two backends: flex (CPU, the default) and, when built with
//! `--features wgpu`, wgpu (a GPU, or Mesa's lavapipe without one). The library code is generic
//! over the backend; only this file names one.
//!
//! Run: `cargo run --release -p cinder --example backend_swap`
//!      `cargo run --release -p cinder --features wgpu --example backend_swap`

use burn::backend::Autodiff;
use burn::tensor::backend::AutodiffBackend;
use cinder::algo::{MlpAgent, NoCallback, TrainSummary, preset};

/// TRPO on CartPole-v1 for 20k steps on backend `B`.
fn run<B: AutodiffBackend>(device: &B::Device) -> Result<TrainSummary, cinder::algo::AlgoError> {
    let config = preset("CartPole-v1", "trpo")
        .expect("known algorithm")
        .with_total_timesteps(20_480);
    MlpAgent::<B>::new(config, None, device)?.train(&mut NoCallback)
}

fn report(name: &str, s: &TrainSummary) {
    println!(
        "{name:>5}: {} steps in {:6.1} s ({:6.0} steps/s), evaluation {:.1}",
        s.steps, s.wall_s, s.sps, s.final_eval.mean_return
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let flex = run::<Autodiff<cinder::backend::Flex>>(&Default::default())?;
    report("flex", &flex);
    #[cfg(feature = "wgpu")]
    {
        let wgpu = run::<Autodiff<cinder::backend::Wgpu>>(&Default::default())?;
        report("wgpu", &wgpu);
    }
    #[cfg(not(feature = "wgpu"))]
    println!(" wgpu: not compiled in; rebuild with `--features wgpu`");
    Ok(())
}
