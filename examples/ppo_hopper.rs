//! PPO on Hopper-v5 with cinder's native MuJoCo envs, with CleanRL's `ppo_continuous_action`
//! settings: observation and reward normalisation, 2048 steps per update, 10 epochs of
//! 64-sample minibatches, clipped value loss, annealed learning rate.
//!
//! Needs the `mujoco` feature and the venv (MuJoCo's library, Gymnasium's model files):
//! `bash scripts/setup_python.sh`, then
//! `cargo run --release -p cinder --features mujoco --example ppo_hopper -- 1000000`
//! (the argument is the step budget; default 1M). Writes the run folder `runs/ppo_hopper`.

use std::path::Path;

use burn::backend::Autodiff;
use cinder::algo::{MlpAgent, NoCallback, preset};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let steps: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let config = preset("Hopper-v5", "ppo")
        .expect("known algorithm")
        .with_total_timesteps(steps);
    let dir = Path::new("runs/ppo_hopper");
    let mut agent =
        MlpAgent::<Autodiff<cinder::backend::Flex>>::new(config, Some(dir), &Default::default())?;
    let s = agent.train(&mut NoCallback)?;
    println!(
        "PPO Hopper-v5: {} steps in {:.0} s ({:.0} steps/s); evaluation {:.0} ± {:.0}; metrics in {}",
        s.steps,
        s.wall_s,
        s.sps,
        s.final_eval.mean_return,
        s.final_eval.std_return,
        dir.display()
    );
    Ok(())
}
