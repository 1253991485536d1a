//! Data-parallel TRPO, NPG, PPO (clip and KL) and VPG over MPI: one update on K ranks, each holding a shard of a
//! batch, equals the one-process update on the whole batch, and leaves every rank with the
//! same parameters bit for bit.
//!
//! Each test starts itself under `mpiexec -n K` (this test binary, that test alone) and
//! passes when every rank does. Needs the `mpi` feature and an MPI launcher (`mpiexec`).
#![cfg(feature = "mpi")]

use std::process::Command;
use std::sync::Arc;

use burn::backend::{Autodiff, Flex};
use burn::module::AutodiffModule;
use burn::tensor::backend::Backend;
use cinder_algo::TrainRng as StdRng;
use cinder_algo::comm::{Communicator, MpiCommunicator, SingleProcess};
use cinder_algo::{
    Batch, NaturalGradient, NpgConfig, PolicyGradient, PpoConfig, PpoKlConfig, RolloutCollector,
    TrpoConfig, UpdateStats, VpgConfig, family::ActionFamily, gae,
};
use cinder_env::native::{NativeVecEnv, Pendulum};
use cinder_env::wrappers::TimeLimit;
use cinder_policy::{
    GaussianFamily, GaussianMlpPolicy, GaussianMlpPolicyConfig, HostMlp, ValueMlp, ValueMlpConfig,
    flat,
};
use rand::SeedableRng;

type B = Autodiff<Flex>;

/// Runs test `name` of this binary as `ranks` MPI processes; panics unless all pass.
fn under_mpiexec(name: &str, ranks: usize) {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("mpiexec")
        .args(["-n", &ranks.to_string()])
        .arg(exe)
        .args([
            "--exact",
            name,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .output()
        .expect("mpiexec (Debian: apt install mpich)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "mpiexec -n {ranks} failed:\n{text}");
    // Each rank reports its check; all of them ran.
    assert_eq!(
        text.matches("rank check passed").count(),
        ranks,
        "every rank must report:\n{text}"
    );
    println!("{text}");
}

/// This process's rank communicator when started by `mpiexec`.
fn world() -> Option<(mpi::environment::Universe, Arc<dyn Communicator>)> {
    std::env::var("PMI_SIZE")
        .or_else(|_| std::env::var("OMPI_COMM_WORLD_SIZE"))
        .ok()?;
    let (universe, _) = mpi::initialize_with_threading(mpi::Threading::Multiple).unwrap();
    let comm: Arc<dyn Communicator> = Arc::new(MpiCommunicator::new(&universe.world()));
    Some((universe, comm))
}

/// A Pendulum batch of `t × n` samples (the same on every rank: fixed seeds) and the networks
/// that collected it.
fn batch(t: usize, n: usize) -> (Batch<B, GaussianFamily>, GaussianMlpPolicy<B>, ValueMlp<B>) {
    let device = Default::default();
    let policy = GaussianMlpPolicyConfig::new(3, 1)
        .init::<B>(1, &device)
        .unwrap();
    let value = ValueMlpConfig::new(3).init::<B>(2, &device).unwrap();
    let mut env = TimeLimit::new(NativeVecEnv::new(Pendulum::default(), n).unwrap(), 200).unwrap();
    let mut collector = RolloutCollector::new(&mut env, 7).unwrap();
    let mut rng = StdRng::seed_from_u64(3);
    let mut r = collector
        .collect(&mut env, &policy.valid(), t, &mut rng, &device)
        .unwrap();
    r.evaluate_values(&value.valid(), &device).unwrap();
    let adv = gae(
        &r.rewards,
        &r.values,
        &r.next_values,
        &r.terminated,
        &r.truncated,
        n,
        0.99,
        0.95,
    )
    .unwrap();
    let batch = Batch::new(&r, &adv, 1.0, &device).unwrap();
    (batch, policy, value)
}

/// Rows `[start, start + len)` of `b`.
fn shard<Bk: Backend, F: ActionFamily>(b: &Batch<Bk, F>, start: usize, len: usize) -> Batch<Bk, F> {
    let d = b.host_obs.len() / b.len;
    Batch {
        obs: b.obs.clone().narrow(0, start, len),
        actions: F::narrow(&b.actions, start, len),
        old_log_probs: b.old_log_probs.clone().narrow(0, start, len),
        old_values: b.old_values.clone().narrow(0, start, len),
        advantages: b.advantages.clone().narrow(0, start, len),
        returns: b.returns.clone().narrow(0, start, len),
        host_obs: b.host_obs[start * d..(start + len) * d].to_vec(),
        host_returns: b.host_returns[start..start + len].to_vec(),
        host_values: b.host_values[start..start + len].to_vec(),
        len,
        progress_remaining: b.progress_remaining,
    }
}

fn params<M: burn::module::Module<B>>(m: &M) -> Vec<f32> {
    flat::flatten(m).into_data().iter::<f32>().collect()
}

/// max |a − b| / max |b|.
fn relative(a: &[f32], b: &[f32]) -> f64 {
    let diff = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() as f64)
        .fold(0.0, f64::max);
    let scale = b.iter().map(|y| y.abs() as f64).fold(0.0, f64::max);
    diff / scale
}

/// One update of `learner()` on this rank's shard against the one-process update on the whole
/// batch; every rank also checks that the others hold its bits.
///
/// The critic takes each rank's whole shard as its minibatch, so every Adam step uses the
/// whole batch's gradient: the one-process reference fits with the whole batch as its
/// minibatch, the same computation up to float rounding.
fn one_update_equals_the_whole_batch_s(learner: fn(usize) -> Learner, overlapped: bool) {
    let (_universe, comm) = world().expect("started by mpiexec");
    let (rank, k) = (comm.rank(), comm.size());
    // 12 envs × 128 steps: 1536 samples, 768 per rank on 2 ranks, 512 on 3.
    let (full, policy, value) = batch(128, 12);
    let m = full.len / k;
    let part = shard(&full, rank * m, m);

    let mut rng = StdRng::seed_from_u64(11);
    let (p1, v1, s1) = learner(full.len).update(
        Arc::new(SingleProcess),
        &policy,
        &value,
        &full,
        &mut rng,
        false,
    );
    let mut rng = StdRng::seed_from_u64(11 + rank as u64);
    let (pk, vk, sk) =
        learner(m).update(comm.clone(), &policy, &value, &part, &mut rng, overlapped);
    assert!(
        s1.skipped.is_none() && sk.skipped.is_none(),
        "{s1:?} {sk:?}"
    );
    assert_eq!(s1.cg_iterations, sk.cg_iterations);
    assert_eq!(s1.backtracks, sk.backtracks);
    assert_eq!(s1.epochs, sk.epochs);
    assert_eq!(s1.kl_coef, sk.kl_coef);
    if let (Some(a), Some(b)) = (s1.step_kl, sk.step_kl) {
        assert!(((a - b) / a).abs() < 1e-4, "{s1:?} {sk:?}");
    }

    let (before, single, ours) = (params(&policy), params(&p1), params(&pk));
    let step = relative(&single, &before);
    assert!(step > 1e-4, "the update moved the policy ({step})");
    let policy_error = relative(&ours, &single);
    let value_error = relative(&params(&vk), &params(&v1));
    assert!(
        policy_error <= 1e-5 && value_error <= 1e-5,
        "rank {rank}: policy {policy_error:e}, value {value_error:e} off the one-process update"
    );
    // The surrogate at θ_old with normalised advantages is 0 up to rounding: absolute.
    assert!(
        (s1.policy_loss - sk.policy_loss).abs() < 1e-6,
        "{s1:?} {sk:?}"
    );
    assert!(
        ((s1.entropy - sk.entropy) / s1.entropy).abs() < 1e-5,
        "{s1:?} {sk:?}"
    );
    assert!(
        ((s1.value_loss - sk.value_loss) / s1.value_loss).abs() < 1e-4,
        "{s1:?} {sk:?}"
    );

    // Bit-identical on every rank, before any broadcast: rank 0's bits against ours.
    for mine in [ours, params(&vk)] {
        let mut root = mine.clone();
        comm.broadcast_f32(&mut root, 0);
        assert!(
            root.iter()
                .zip(&mine)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "rank {rank} holds other parameters than rank 0"
        );
    }
    println!(
        "rank {rank} of {k}: policy {policy_error:.2e}, value {value_error:.2e} relative \
         (the update moved the policy by {step:.2e}); rank check passed"
    );
}

/// A learner of either kind; a first-order one with its epochs on the host when `native`.
enum Learner {
    Natural(NaturalGradient<B>),
    FirstOrder {
        pg: Box<PolicyGradient<B, GaussianMlpPolicy<B>>>,
        native: bool,
    },
}

impl Learner {
    fn update(
        self,
        comm: Arc<dyn Communicator>,
        policy: &GaussianMlpPolicy<B>,
        value: &ValueMlp<B>,
        batch: &Batch<B, GaussianFamily>,
        rng: &mut StdRng,
        overlapped: bool,
    ) -> (GaussianMlpPolicy<B>, ValueMlp<B>, UpdateStats) {
        let (p, v) = (policy.clone(), value.clone());
        match self {
            Learner::Natural(mut n) => {
                n.set_communicator(comm);
                if overlapped {
                    let (p, v, s, _) = n.update_overlapped(p, v, batch, rng).unwrap();
                    (p, v, s)
                } else {
                    n.update(p, v, batch, rng).unwrap()
                }
            }
            Learner::FirstOrder { mut pg, native } => {
                pg.set_communicator(comm);
                if native {
                    pg.update_natively(HostMlp::of(&policy.mlp), HostMlp::of(&value.mlp));
                }
                pg.update(p, v, batch, rng).unwrap()
            }
        }
    }
}

/// TRPO whose critic takes `minibatch` samples per Adam step.
fn trpo(minibatch: usize) -> Learner {
    Learner::Natural(
        NaturalGradient::trpo(
            &TrpoConfig::new()
                .with_batch_size(minibatch)
                .with_n_critic_updates(5)
                .with_cg_max_steps(15),
        )
        .unwrap(),
    )
}

/// NPG whose critic takes `minibatch` samples per Adam step.
fn npg(minibatch: usize) -> Learner {
    Learner::Natural(
        NaturalGradient::npg(
            &NpgConfig::new()
                .with_batch_size(minibatch)
                .with_n_critic_updates(5),
        )
        .unwrap(),
    )
}

/// A first-order learner with its epochs as burn ops.
fn first_order(pg: PolicyGradient<B, GaussianMlpPolicy<B>>) -> Learner {
    Learner::FirstOrder {
        pg: Box::new(pg),
        native: false,
    }
}

/// `learner` with its epochs on the host (`PolicyGradient::update_natively`).
fn natively(learner: Learner) -> Learner {
    match learner {
        Learner::FirstOrder { pg, .. } => Learner::FirstOrder { pg, native: true },
        natural => natural,
    }
}

/// PPO-clip with `minibatch`-sample minibatches (advantages normalised per minibatch,
/// gradients clipped to norm 0.5) and an early stop on the KL.
fn ppo(minibatch: usize) -> Learner {
    first_order(
        PolicyGradient::ppo(
            &PpoConfig::new()
                .with_batch_size(minibatch)
                .with_n_epochs(4)
                .with_target_kl(Some(0.5)),
        )
        .unwrap(),
    )
}

/// PPO with the adaptive KL penalty.
fn ppo_kl(minibatch: usize) -> Learner {
    first_order(
        PolicyGradient::ppo_kl(
            &PpoKlConfig::new()
                .with_batch_size(minibatch)
                .with_n_epochs(4),
        )
        .unwrap(),
    )
}

/// VPG with its separate critic fit.
fn vpg(minibatch: usize) -> Learner {
    first_order(
        PolicyGradient::vpg(
            &VpgConfig::new()
                .with_critic_batch_size(minibatch)
                .with_n_critic_updates(5)
                .with_max_grad_norm(Some(0.5)),
        )
        .unwrap(),
    )
}

// The `*_rank` tests are what each MPI process runs (`mpiexec` starts them with `--ignored`);
// the tests below them start `mpiexec`.

#[test]
#[ignore = "one rank of an MPI test: run by the tests that start mpiexec"]
fn trpo_rank() {
    one_update_equals_the_whole_batch_s(trpo, false);
}

#[test]
#[ignore = "one rank of an MPI test: run by the tests that start mpiexec"]
fn trpo_overlapped_rank() {
    one_update_equals_the_whole_batch_s(trpo, true);
}

#[test]
#[ignore = "one rank of an MPI test: run by the tests that start mpiexec"]
fn npg_rank() {
    one_update_equals_the_whole_batch_s(npg, false);
}

#[test]
#[ignore = "one rank of an MPI test: run by the tests that start mpiexec"]
fn ppo_rank() {
    one_update_equals_the_whole_batch_s(ppo, false);
}

#[test]
#[ignore = "one rank of an MPI test: run by the tests that start mpiexec"]
fn ppo_kl_rank() {
    one_update_equals_the_whole_batch_s(ppo_kl, false);
}

#[test]
#[ignore = "one rank of an MPI test: run by the tests that start mpiexec"]
fn vpg_rank() {
    one_update_equals_the_whole_batch_s(vpg, false);
}

#[test]
#[ignore = "one rank of an MPI test: run by the tests that start mpiexec"]
fn ppo_native_rank() {
    one_update_equals_the_whole_batch_s(|m| natively(ppo(m)), false);
}

#[test]
#[ignore = "one rank of an MPI test: run by the tests that start mpiexec"]
fn ppo_kl_native_rank() {
    one_update_equals_the_whole_batch_s(|m| natively(ppo_kl(m)), false);
}

#[test]
#[ignore = "one rank of an MPI test: run by the tests that start mpiexec"]
fn vpg_native_rank() {
    one_update_equals_the_whole_batch_s(|m| natively(vpg(m)), false);
}

/// Stops when this rank's update count reaches `at` (if any).
struct StopAt(Option<u64>);

impl cinder_algo::Callback for StopAt {
    fn on_update_end(&mut self, m: &cinder_algo::Metrics) -> cinder_algo::Control {
        match (self.0, m.get("update")) {
            (Some(at), Some(u)) if u as u64 >= at => cinder_algo::Control::Stop,
            _ => cinder_algo::Control::Continue,
        }
    }
}

/// A whole data-parallel run through the library: the ranks agree on everything at the end
/// (parameters, normaliser statistics, step count), and a callback that stops one rank stops
/// them all at the same update.
#[test]
#[ignore = "one rank of an MPI test: run by the tests that start mpiexec"]
fn trainer_rank() {
    let (_universe, comm) = world().expect("started by mpiexec");
    let rank = comm.rank();
    let config = cinder_algo::preset("Pendulum-v1", "trpo")
        .unwrap()
        .with_n_steps(256)
        .with_total_timesteps(10 * 256 * 2 * 2)
        .with_normalize_observation(true)
        .with_normalize_reward(true)
        .with_eval_episodes(2);
    let mut agent =
        cinder_algo::MlpAgent::<B>::data_parallel(config, None, &Default::default(), comm.clone())
            .unwrap();
    // Rank 1's callback alone asks to stop after update 3.
    let mut callback = StopAt((rank == 1).then_some(3));
    let summary = agent.train(&mut callback).unwrap();
    assert_eq!(summary.updates, 3, "rank {rank}");
    assert_eq!(summary.steps, 3 * 256 * 2 * 2, "steps count both ranks");
    let same = |mine: Vec<u8>, what: &str| {
        let mut root = mine.clone();
        comm.broadcast_bytes(&mut root, 0);
        assert!(root == mine, "rank {rank}'s {what} differs from rank 0's");
    };
    let bytes = |v: Vec<f32>| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    same(bytes(agent.policy_params()), "policy");
    same(bytes(agent.value_params()), "value net");
    let cinder_algo::MlpAgent::Gaussian(trainer) = &agent else {
        panic!("Pendulum has continuous actions")
    };
    let mut stats = cinder_env::EnvState::default();
    trainer.env().save_state(&mut stats).unwrap();
    same(serde_json::to_vec(&stats).unwrap(), "normaliser statistics");
    same(
        format!("{:?}", summary.final_eval.mean_return).into_bytes(),
        "evaluation",
    );
    println!("rank {rank}: stopped at update 3 with rank 0's state; rank check passed");
}

#[test]
fn a_data_parallel_run_ends_with_one_state_on_every_rank() {
    under_mpiexec("trainer_rank", 2);
}

#[test]
fn ppo_ppo_kl_and_vpg_updates_on_2_ranks_equal_the_one_process_update() {
    under_mpiexec("ppo_rank", 2);
    under_mpiexec("ppo_kl_rank", 2);
    under_mpiexec("vpg_rank", 2);
    // The same with the epochs on the host: the flat gradients all-reduced per minibatch.
    under_mpiexec("ppo_native_rank", 2);
    under_mpiexec("ppo_kl_native_rank", 2);
    under_mpiexec("vpg_native_rank", 2);
}

#[test]
fn trpo_update_on_2_and_3_ranks_equals_the_one_process_update() {
    under_mpiexec("trpo_rank", 2);
    under_mpiexec("trpo_rank", 3);
    under_mpiexec("trpo_overlapped_rank", 2);
}

#[test]
fn npg_update_on_2_ranks_equals_the_one_process_update() {
    under_mpiexec("npg_rank", 2);
}
