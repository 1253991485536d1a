//! Tuned hyperparameters per env and algorithm (rl-baselines3-zoo's where it has them).

use crate::config::{AlgoConfig, TrainConfig};
use crate::natural::{NpgConfig, TrpoConfig};
use crate::pg::{PpoConfig, PpoKlConfig, VpgConfig};

/// The preset for `env_id` and `algo` (`trpo`, `npg`, `ppo`, `ppo-kl`, `vpg`), or the
/// algorithm's defaults when there is none. `None` for an unknown algorithm name.
pub fn preset(env_id: &str, algo: &str) -> Option<TrainConfig> {
    let algo = AlgoConfig::from_name(algo).ok()?;
    let env = env_id.split('-').next().unwrap_or(env_id);
    let new = |a: AlgoConfig| TrainConfig::new(env_id.to_string(), a);
    Some(match (env, algo) {
        // rl-zoo TRPO Pendulum-v1 (without gSDE).
        ("Pendulum", AlgoConfig::Trpo(_)) => new(AlgoConfig::Trpo(
            TrpoConfig::new().with_n_critic_updates(15),
        ))
        .with_num_envs(2)
        .with_n_steps(1024)
        .with_gamma(0.9)
        .with_total_timesteps(150_000),
        ("Pendulum", AlgoConfig::Npg(_)) => {
            new(AlgoConfig::Npg(NpgConfig::new().with_n_critic_updates(15)))
                .with_num_envs(2)
                .with_n_steps(1024)
                .with_gamma(0.9)
                .with_total_timesteps(150_000)
        }
        // rl-zoo PPO Pendulum-v1 settings.
        ("Pendulum", AlgoConfig::PpoKl(_)) => new(AlgoConfig::PpoKl(
            PpoKlConfig::new()
                .with_learning_rate(1e-3)
                .with_batch_size(64)
                .with_n_epochs(10),
        ))
        .with_num_envs(4)
        .with_n_steps(1024)
        .with_gamma(0.9)
        .with_total_timesteps(200_000),
        ("Pendulum", AlgoConfig::Ppo(_)) => new(AlgoConfig::Ppo(
            PpoConfig::new()
                .with_learning_rate(1e-3)
                .with_batch_size(64)
                .with_clip_range_vf(None),
        ))
        .with_num_envs(4)
        .with_n_steps(1024)
        .with_gamma(0.9)
        .with_total_timesteps(200_000),
        // rl-zoo TRPO CartPole-v1.
        ("CartPole", AlgoConfig::Trpo(_)) => new(AlgoConfig::Trpo(
            TrpoConfig::new()
                .with_batch_size(512)
                .with_cg_damping(1e-3)
                .with_n_critic_updates(20),
        ))
        .with_num_envs(2)
        .with_n_steps(512)
        .with_gae_lambda(0.98)
        .with_total_timesteps(100_000),
        // rl-zoo PPO CartPole-v1.
        ("CartPole", AlgoConfig::Ppo(_)) => new(AlgoConfig::Ppo(
            PpoConfig::new()
                .with_learning_rate(1e-3)
                .with_batch_size(256)
                .with_n_epochs(20)
                .with_clip_range_vf(None),
        ))
        .with_num_envs(8)
        .with_n_steps(32)
        .with_gamma(0.98)
        .with_gae_lambda(0.8)
        .with_total_timesteps(100_000),
        ("CartPole", AlgoConfig::Vpg(_)) => {
            new(AlgoConfig::Vpg(VpgConfig::new().with_learning_rate(1e-2)))
                .with_num_envs(4)
                .with_n_steps(500)
                .with_gae_lambda(0.97)
                .with_total_timesteps(200_000)
        }
        // MuJoCo locomotion, TRPO: rl-zoo's tuned values (normalised observations and
        // rewards, 2 × 1024 steps, 25 CG steps, 20 critic epochs of 128). rl-zoo tuned them
        // on sb3-contrib, whose Gaussian KL is the mean over the d action dimensions, not
        // their sum: its `target_kl` δ and `cg_damping` λ are cinder's d·δ and d·λ (the
        // same step, tests/trainer.rs::trpo_step_equals_sb3_contrib_s_on_recorded_data).
        // rl-zoo has no TRPO entry for HumanoidStandup and Pusher (its default would be
        // unnormalised): they get the same MuJoCo values as the others, for the same reason
        // (rewards of very different scales: HumanoidStandup's are ~100 per step).
        (m, AlgoConfig::Trpo(_)) if MUJOCO.contains(&m) => {
            let d = mujoco_action_dim(m) as f64;
            let sb3_target_kl = if m == "HalfCheetah" { 0.04 } else { 0.01 };
            let algo = TrpoConfig::new()
                .with_target_kl(sb3_target_kl * d)
                .with_cg_damping(0.1 * d)
                .with_batch_size(128)
                .with_cg_max_steps(25)
                .with_n_critic_updates(20);
            new(AlgoConfig::Trpo(algo))
                .with_num_envs(2)
                .with_n_steps(1024)
                .with_gamma(if m == "Swimmer" { 0.9999 } else { 0.99 })
                .with_normalize_observation(true)
                .with_normalize_reward(true)
                // rl-zoo trains Humanoid for 2M steps.
                .with_total_timesteps(if m == "Humanoid" {
                    2_000_000
                } else {
                    1_000_000
                })
        }
        // MuJoCo locomotion, PPO: CleanRL's `ppo_continuous_action` (its defaults are
        // PpoConfig's), with its observation and reward normalisation.
        (m, a @ (AlgoConfig::Ppo(_) | AlgoConfig::PpoKl(_))) if MUJOCO.contains(&m) => new(a)
            .with_normalize_observation(true)
            .with_normalize_reward(true)
            .with_total_timesteps(1_000_000),
        (m, a) if MUJOCO.contains(&m) => new(a)
            .with_normalize_observation(true)
            .with_normalize_reward(true)
            .with_total_timesteps(1_000_000),
        (_, a) => new(a),
    })
}

/// The action dimension of Gymnasium's MuJoCo task `name` (any version).
fn mujoco_action_dim(name: &str) -> usize {
    match name {
        "Hopper" => 3,
        "HalfCheetah" | "Walker2d" => 6,
        "Ant" => 8,
        "Swimmer" | "Reacher" => 2,
        "Humanoid" | "HumanoidStandup" => 17,
        "Pusher" => 7,
        _ => 1, // InvertedPendulum, InvertedDoublePendulum
    }
}

/// Gymnasium's MuJoCo locomotion tasks (any version).
const MUJOCO: &[&str] = &[
    "Hopper",
    "HalfCheetah",
    "Walker2d",
    "Ant",
    "Swimmer",
    "Humanoid",
    "HumanoidStandup",
    "Pusher",
    "InvertedPendulum",
    "InvertedDoublePendulum",
    "Reacher",
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The TRPO conversion from sb3-contrib's per-dimension KL needs each task's action size.
    #[test]
    fn every_native_mujoco_task_has_its_action_size() {
        let mut checked = 0;
        for spec in cinder_env::registry() {
            let name = spec.id.split('-').next().unwrap_or(spec.id);
            if spec.id.ends_with("-v5") {
                assert!(MUJOCO.contains(&name), "{} has no preset family", spec.id);
                assert_eq!(
                    mujoco_action_dim(name),
                    spec.action_space.flat_dim(),
                    "{}",
                    spec.id
                );
                checked += 1;
            }
        }
        assert_eq!(checked, if cfg!(feature = "mujoco") { 11 } else { 0 });
    }
}
