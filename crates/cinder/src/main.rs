//! The `cinder` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use cinder::backend::BackendKind;
use cinder::bench::{self, FvpMethod, PolicyKind, Problem};
use cinder::run;
use clap::{Args, Parser, Subcommand};

/// cinder: deep reinforcement learning on burn.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train a policy; leaves a run folder with config, metrics, checkpoints, curve and
    /// summary.
    Train(TrainArgs),
    /// Evaluate the latest checkpoint of a run folder.
    Eval(EvalArgs),
    /// Plot learning curves of run and sweep folders (runs of one env and algorithm with the
    /// same settings are averaged; a sweep folder gives one band per config).
    Plot(PlotArgs),
    /// Grid or random search over config values × seeds, as parallel `cinder train` runs;
    /// resumable (repeat the command), optionally with successive halving; ends with
    /// summary.csv, summary.md and curves.png in the sweep folder.
    Sweep(SweepArgs),
    /// List the environments of this build.
    Envs(EnvsArgs),
    /// Measure the speed of a component.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Check a component against a reference.
    #[command(subcommand)]
    Check(CheckCommand),
}

#[derive(Args, Debug)]
struct TrainArgs {
    /// Environment id, e.g. Pendulum-v1 (see `cinder envs`).
    #[arg(long = "env")]
    env: Option<String>,
    /// Algorithm: trpo, npg, ppo, ppo-kl or vpg.
    #[arg(long)]
    algo: Option<String>,
    /// Env steps to train for (default: the preset's budget).
    #[arg(long)]
    steps: Option<u64>,
    /// Seed of the run.
    #[arg(long, conflicts_with = "seeds")]
    seed: Option<u64>,
    /// Several seeds of the same config, e.g. `--seeds 0,1,2`: one run folder each
    /// (`seed_<s>/` in a group folder), trained in lockstep for TRPO and NPG (one stacked
    /// Fisher operator and one batched CG per update), one after another otherwise.
    #[arg(long, value_delimiter = ',')]
    seeds: Vec<u64>,
    /// Parallel training envs.
    #[arg(long)]
    num_envs: Option<usize>,
    /// Backend: flex, ndarray, wgpu or cuda (each needs its cargo feature).
    #[arg(long, default_value = "flex")]
    backend: String,
    /// Where rollouts and evaluations run: auto or native (the policy in plain Rust on the
    /// host, whatever the learner's backend), same (the learner's own networks), flex or
    /// ndarray (a copy of the networks on that CPU backend).
    #[arg(long, default_value = "auto")]
    actor_backend: String,
    /// TOML file of config fields (an `[algo]` table for the algorithm's hyperparameters).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Override one config field, e.g. `--set gamma=0.98 --set target_kl=0.02`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Whose values the config starts from: cinder (the default: tuned where
    /// docs/results.md says so), rl-zoo (rl-baselines3-zoo's, e.g. TRPO on MuJoCo) or cleanrl
    /// (CleanRL's PPO on MuJoCo), so published numbers can be reproduced exactly.
    #[arg(long, default_value = "cinder")]
    preset: String,
    /// Run folder (default: runs/{env}__{algo}__{seed}__{time}; with --seeds, the group
    /// folder, default runs/{env}__{algo}__seeds_{s0-s1-…}__{time}); must not exist or be
    /// empty.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue the run in this folder from its latest checkpoint (`--steps` may raise the
    /// budget); a group folder continues every seed of the group.
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(long)]
    quiet: bool,
    /// Worker threads of the CPU backend; default: one per core.
    #[arg(long)]
    threads: Option<usize>,
    /// Stop after the update that reaches this many env steps (final evaluation, checkpoint
    /// and summary as at the end), keeping the budget and its schedules: `--resume` later
    /// continues the same run. What `cinder sweep --halving` stops runs with.
    #[arg(long, conflicts_with = "seeds")]
    stop_at: Option<u64>,
    /// Record one deterministic evaluation episode every N updates as a GIF in `videos/` of
    /// the run folder (config key `video_interval`; `--set video_camera=track` follows the
    /// robot).
    #[arg(long, value_name = "N")]
    video_every: Option<usize>,
}

#[derive(Args, Debug)]
struct EvalArgs {
    /// Run folder made by `cinder train`.
    #[arg(long)]
    run: PathBuf,
    /// Episodes to run.
    #[arg(long, default_value_t = 10)]
    episodes: usize,
    /// Mode actions (`--deterministic false` samples from the policy).
    #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    deterministic: bool,
    /// Seed of the evaluation envs.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Backend: flex, ndarray, wgpu or cuda.
    #[arg(long, default_value = "flex")]
    backend: String,
    /// Where the episodes run: auto or native (the policy in plain Rust on the host), same,
    /// flex or ndarray.
    #[arg(long, default_value = "auto")]
    actor_backend: String,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Also record the episodes, one after another, as an animated GIF at this path (GIF
    /// only: MP4 would need a system video encoder). MuJoCo tasks render offscreen through
    /// EGL (a GPU driver's, or Mesa's on the CPU: Debian's libegl1 + libegl-mesa0).
    #[arg(long, value_name = "FILE.gif")]
    video: Option<PathBuf>,
    /// Frame width in pixels (default: the env's, e.g. 480 for MuJoCo, 600 for CartPole).
    #[arg(long, requires = "video")]
    width: Option<usize>,
    /// Frame height in pixels (default: the env's).
    #[arg(long, requires = "video")]
    height: Option<usize>,
    /// Frames per second of the video, at most 50 (default: 25, or the env's rate if lower);
    /// it plays in real time.
    #[arg(long, requires = "video")]
    fps: Option<f64>,
    /// Camera of a MuJoCo task: `default` (Gymnasium's, fixed) or `track` (follows the robot).
    #[arg(long, requires = "video", default_value = "default")]
    camera: String,
}

#[derive(Args, Debug)]
struct PlotArgs {
    /// Run folders and sweep folders: a sweep gives one band per config, run folders one band
    /// per env, algorithm and settings (seeds averaged).
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// Output PNG (default: curve.png in the run folder or curves.png in the sweep folder when
    /// there is one, else curves.png).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Metric column of metrics.csv.
    #[arg(long, default_value = "charts/episodic_return")]
    metric: String,
}

#[derive(Args, Debug)]
struct SweepArgs {
    /// Environment id.
    #[arg(long = "env")]
    env: String,
    /// Algorithm: trpo, npg, ppo, ppo-kl or vpg (the env's preset is the starting point).
    #[arg(long, default_value = "trpo")]
    algo: String,
    /// Values to try for one config key, e.g. `--grid gamma=0.98,0.99` (repeatable; commas
    /// inside brackets belong to a value: `--grid policy_hidden=[64,64],[256,256]`).
    #[arg(long = "grid", value_name = "KEY=V1,V2,…")]
    grid: Vec<String>,
    /// Override shared by every config, as `cinder train --set` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Whose values every config starts from: cinder (the default: tuned where
    /// docs/results.md says so), rl-zoo or cleanrl.
    #[arg(long)]
    preset: Option<String>,
    /// Seeds of every config.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    seeds: Vec<u64>,
    /// Env steps per run (default: the preset's budget).
    #[arg(long)]
    steps: Option<u64>,
    /// Runs at a time (default: one per core).
    #[arg(long)]
    jobs: Option<usize>,
    /// Worker threads of each run (default: the cores shared out between the jobs).
    #[arg(long)]
    threads: Option<usize>,
    /// Successive halving: every config trains this many steps, the better half (mean final
    /// evaluation over seeds) continues to twice as many, and so on up to the budget.
    #[arg(long, value_name = "STEPS")]
    halving: Option<u64>,
    /// Random search: this many configs of the grid, drawn without repetition.
    #[arg(long, value_name = "K")]
    random: Option<usize>,
    /// Seed of the random draw of `--random`.
    #[arg(long, default_value_t = 0)]
    random_seed: u64,
    /// Backend of the runs.
    #[arg(long, default_value = "flex")]
    backend: String,
    /// Sweep folder (repeat the command with the same --out to continue a sweep).
    #[arg(long)]
    out: PathBuf,
    /// Print nothing but errors.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args, Debug)]
struct EnvsArgs {
    /// Show one env (made once to read its spaces; works for Gymnasium ids too).
    #[arg(long = "env")]
    env: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// One Fisher-vector product.
    Fvp {
        #[command(flatten)]
        common: Common,
        /// How to compute the product.
        #[arg(long, value_enum, default_value = "gauss-newton")]
        method: FvpMethod,
        /// Timed repetitions.
        #[arg(long, default_value_t = 20)]
        reps: usize,
    },
    /// One conjugate-gradient solve (operator construction included).
    Cg {
        #[command(flatten)]
        common: Common,
        /// Which Fisher-vector product the solve uses.
        #[arg(long, value_enum, default_value = "gauss-newton")]
        method: FvpMethod,
        /// CG iterations (all are done: no early stop).
        #[arg(long, default_value_t = 10)]
        iters: usize,
        /// Timed repetitions.
        #[arg(long, default_value_t = 20)]
        reps: usize,
    },
    /// One pass of TRPO's critic fit (minibatch Adam on the value net; `--act-dim` unused):
    /// the time of the pass and of one Adam step.
    Critic {
        #[command(flatten)]
        common: Common,
        /// Minibatch size of the fit (`batch_size`).
        #[arg(long, default_value_t = 128)]
        minibatch: usize,
        /// Time the fit as burn ops on the backend instead of the host fit the trainer runs
        /// (the same Adam steps; for comparison).
        #[arg(long)]
        burn_ops: bool,
        /// Timed repetitions.
        #[arg(long, default_value_t = 20)]
        reps: usize,
    },
    /// Vector-env stepping with random actions (auto-reset included).
    Env(EnvBenchArgs),
    /// The GPU benchmark's rows for one backend in one process (kernels compile once): FVP
    /// and CG for both products over hidden × batch sizes, then TRPO training and its update
    /// time for each actor placement. One JSON object per row (scripts/bench_gpu.sh).
    Suite(SuiteArgs),
    /// Learner overhead: a training run's wall clock against its envs stepped alone (same
    /// env, env count, threads and steps, random actions), as one JSON object.
    Overhead(OverheadArgs),
    /// Rendering: frames per second of `render` for one env, stepped with random actions.
    Render(RenderBenchArgs),
}

#[derive(Args, Debug)]
struct RenderBenchArgs {
    /// Environment id.
    #[arg(long = "env")]
    env: String,
    /// Frames to draw (timed).
    #[arg(long, default_value_t = 200)]
    frames: usize,
    /// Frame width (default: the env's).
    #[arg(long)]
    width: Option<usize>,
    /// Frame height (default: the env's).
    #[arg(long)]
    height: Option<usize>,
    /// Camera of a MuJoCo task: default or track.
    #[arg(long, default_value = "default")]
    camera: String,
    /// Seed of the env and the random actions.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct OverheadArgs {
    /// Environment id.
    #[arg(long = "env")]
    env: String,
    /// Algorithm: trpo, npg, ppo, ppo-kl or vpg (with the env's preset).
    #[arg(long, default_value = "trpo")]
    algo: String,
    /// Env steps (default: the preset's budget).
    #[arg(long)]
    steps: Option<u64>,
    /// Seed of the run and of the random actions.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Overrides of the training config, as `cinder train --set` (repeatable).
    #[arg(long = "set")]
    sets: Vec<String>,
    /// Backend of the learner.
    #[arg(long, default_value = "flex")]
    backend: String,
    /// Where the run acts, as `cinder train --actor-backend`.
    #[arg(long, default_value = "auto")]
    actor_backend: String,
    /// PPO, PPO-KL and VPG: run the update's epochs as burn ops on the backend, not in plain
    /// Rust on the host as `cinder train` does (to measure what the host epochs save).
    #[arg(long)]
    burn_ops: bool,
    /// Worker threads (CPU backend and env stepping); default: one per core.
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Args, Debug)]
struct SuiteArgs {
    /// Backend: flex, ndarray, wgpu or cuda.
    #[arg(long, default_value = "flex")]
    backend: String,
    /// Observation dimension of the FVP/CG problems (Hopper's by default).
    #[arg(long, default_value_t = 11)]
    obs_dim: usize,
    /// Action dimension of the FVP/CG problems.
    #[arg(long, default_value_t = 3)]
    act_dim: usize,
    /// Hidden sizes of the FVP/CG problems, comma separated, widths joined by `x`.
    #[arg(long, value_delimiter = ',', default_value = "64x64,256x256")]
    hiddens: Vec<String>,
    /// Batch sizes of the FVP/CG problems.
    #[arg(long, value_delimiter = ',', default_value = "2048,20000,200000")]
    batches: Vec<usize>,
    /// CG iterations (no early stop).
    #[arg(long, default_value_t = 10)]
    cg_iters: usize,
    /// Most timed repetitions of a row.
    #[arg(long, default_value_t = 20)]
    reps: usize,
    /// A row stops repeating after this many seconds of timed runs (at least two run).
    #[arg(long, default_value_t = 3.0)]
    row_s: f64,
    /// Training env of the `train` rows (TRPO with the env's preset).
    #[arg(long, default_value = "Hopper-v5")]
    train_env: String,
    /// Env steps of each `train` row; 0 leaves the training rows out.
    #[arg(long, default_value_t = 100_000)]
    train_steps: u64,
    /// Overrides of the training config, as `cinder train --set` (repeatable).
    #[arg(long = "set")]
    sets: Vec<String>,
    /// Actor placements of the training rows, comma separated (auto, same, flex, ndarray).
    #[arg(long, value_delimiter = ',', default_value = "auto,same")]
    actors: Vec<String>,
    /// Seconds the FVP/CG rows may take; a row that would not fit is printed as skipped (the
    /// training rows always run).
    #[arg(long, default_value_t = 60.0)]
    budget_s: f64,
    /// Worker threads of the CPU backends and the env stepping; default: one per core.
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Args, Debug)]
struct EnvBenchArgs {
    /// Environment id (see the registry, e.g. Pendulum-v1, CartPole-v1).
    #[arg(long = "env")]
    env: String,
    /// Environments stepped together.
    #[arg(long, default_value_t = 64)]
    num_envs: usize,
    /// Env steps in total (vector steps × num_envs).
    #[arg(long, default_value_t = 200_000)]
    steps: usize,
    /// Seed of the resets and the random actions.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Worker threads for envs that step in parallel (the MuJoCo envs); default: one per
    /// core. The native classic-control envs step in the calling thread (a step costs tens of
    /// nanoseconds).
    #[arg(long)]
    threads: Option<usize>,
    /// MuJoCo envs: also time the bare `mj_step` loop of the same model (frame skip, random
    /// controls, resets at the measured mean episode length; one thread) and report the ratio.
    #[arg(long)]
    mj_step_loop: bool,
    /// Print one JSON object instead of a sentence.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum CheckCommand {
    /// Both Fisher-vector products against the dense f64 Fisher matrix.
    Fvp {
        #[command(flatten)]
        common: Common,
        /// Policy type.
        #[arg(long, value_enum, default_value = "gaussian")]
        policy: PolicyKind,
        /// Random vectors to test.
        #[arg(long, default_value_t = 5)]
        vectors: usize,
    },
}

#[derive(Args, Debug)]
struct Common {
    /// Observation dimension.
    #[arg(long, default_value_t = 11)]
    obs_dim: usize,
    /// Action dimension (number of actions for a categorical policy).
    #[arg(long, default_value_t = 3)]
    act_dim: usize,
    /// Hidden layer widths, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "64,64")]
    hidden: Vec<usize>,
    /// Observations in the batch.
    #[arg(long, default_value_t = 5000)]
    batch: usize,
    /// Backend: flex, ndarray, wgpu or cuda (each needs its cargo feature).
    #[arg(long, default_value = "flex")]
    backend: String,
    /// Seed of weights and data.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Worker threads of the CPU backends (rayon's global pool); default: one per core.
    /// burn's CPU matmul does not always gain from a second thread at these sizes.
    #[arg(long)]
    threads: Option<usize>,
    /// Print one JSON object instead of a sentence.
    #[arg(long)]
    json: bool,
}

impl Common {
    fn problem(&self) -> Result<Problem, String> {
        if self.obs_dim == 0 || self.act_dim == 0 || self.batch == 0 {
            return Err("--obs-dim, --act-dim and --batch must each be at least 1".into());
        }
        if self.hidden.contains(&0) {
            return Err("--hidden widths must each be at least 1, e.g. --hidden 64,64".into());
        }
        Ok(Problem {
            obs_dim: self.obs_dim,
            act_dim: self.act_dim,
            hidden: self.hidden.clone(),
            batch: self.batch,
            seed: self.seed,
        })
    }

    /// Sizes rayon's global pool, before any backend work starts.
    fn apply_threads(&self) -> Result<(), String> {
        set_threads(self.threads)
    }

    fn backend(&self) -> Result<BackendKind, String> {
        parse_backend(&self.backend)
    }
}

/// Starts `kind`'s device once (a one-element tensor read back) so that a machine without
/// the driver a GPU backend needs (no `libcuda.so`, no Vulkan adapter) gets one line before
/// any run folder is made, not a panic from the device thread after. CPU backends need no
/// probe.
fn probe_device(kind: BackendKind) -> Result<(), String> {
    if matches!(kind, BackendKind::Flex | BackendKind::NdArray) {
        return Ok(());
    }
    use std::sync::{Arc, Mutex};
    let first: Arc<Mutex<Option<String>>> = Arc::default();
    let seen = first.clone();
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let mut slot = seen.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            let msg = info
                .payload()
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            *slot = Some(msg);
        }
    }));
    let started = std::panic::catch_unwind(|| {
        cinder::with_backend!(kind, |B, device| {
            let _ = burn::tensor::Tensor::<B, 1>::zeros([1], &device).into_data();
        })
    });
    std::panic::set_hook(hook);
    started.map_err(|_| {
        let msg = first
            .lock()
            .map(|m| m.clone())
            .ok()
            .flatten()
            .unwrap_or_default();
        let reason = msg
            .split(" - ")
            .next()
            .and_then(|m| m.lines().next())
            .filter(|m| !m.is_empty())
            .unwrap_or("its device did not start")
            .to_string();
        format!(
            "backend {kind} cannot start its device ({reason}); install the driver it needs \
             or choose --backend flex"
        )
    })
}

fn suite(args: SuiteArgs) -> Result<(), String> {
    let kind = parse_backend(&args.backend)?;
    let hiddens = args
        .hiddens
        .iter()
        .map(|h| {
            h.split('x')
                .map(|w| w.trim().parse::<usize>().ok().filter(|&w| w > 0))
                .collect::<Option<Vec<usize>>>()
                .ok_or_else(|| format!("--hiddens {h}: widths joined by x, e.g. 64x64,256x256"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if args.obs_dim == 0 || args.act_dim == 0 || args.batches.contains(&0) || args.reps == 0 {
        return Err("--obs-dim, --act-dim, --batches and --reps must each be at least 1".into());
    }
    set_threads(args.threads)?;
    probe_device(kind)?;
    let config = cinder::suite::SuiteConfig {
        obs_dim: args.obs_dim,
        act_dim: args.act_dim,
        hiddens,
        batches: args.batches,
        cg_iters: args.cg_iters,
        reps: args.reps,
        row_s: args.row_s,
        train_env: args.train_env,
        train_steps: args.train_steps,
        train_sets: args.sets,
        actors: args.actors,
        budget_s: args.budget_s,
    };
    let threads = args.threads.unwrap_or_else(rayon::current_num_threads);
    let mut emit = |mut row: serde_json::Value| {
        row["threads"] = threads.into();
        println!("{row}");
    };
    cinder::with_backend!(kind, |B, device| {
        cinder::suite::run_suite::<burn::backend::Autodiff<B>>(kind, &device, &config, &mut emit)
    })
    .map_err(|e| e.to_string())
}

fn overhead(args: OverheadArgs) -> Result<(), String> {
    let kind = parse_backend(&args.backend)?;
    let actor = run::ActorPlacement::parse(&args.actor_backend, kind).map_err(|e| e.to_string())?;
    run::check_algo(&args.algo).map_err(|e| e.to_string())?;
    let config = run::resolve_config(
        &args.env,
        &args.algo,
        &run::Overrides {
            sets: args.sets.clone(),
            total_timesteps: args.steps,
            seed: Some(args.seed),
            ..run::Overrides::default()
        },
    )
    .map_err(|e| e.to_string())?;
    cinder::algo::make_env(&config, 1, 0).map_err(|e| e.to_string())?;
    set_threads(args.threads)?;
    probe_device(kind)?;
    let o = cinder::with_backend!(kind, |B, device| {
        cinder::suite::bench_overhead::<burn::backend::Autodiff<B>>(
            &config,
            actor,
            !args.burn_ops,
            &device,
        )
    })
    .map_err(|e| e.to_string())?;
    let mut row = serde_json::to_value(&o).map_err(|e| e.to_string())?;
    row["bench"] = "overhead".into();
    row["env"] = config.env_id.clone().into();
    row["algo"] = run::algo_name(&config).into();
    row["backend"] = kind.name().into();
    row["actor"] = actor.describe().into();
    row["native_updates"] = (!args.burn_ops).into();
    row["num_envs"] = config.num_envs.into();
    row["threads"] = args
        .threads
        .unwrap_or_else(rayon::current_num_threads)
        .into();
    println!("{row}");
    Ok(())
}

fn train(args: TrainArgs) -> Result<(), String> {
    // Started by `mpiexec -n K` (K > 1): the K processes train one run together.
    let ranks = cinder::distributed::Ranks::join()?;
    let result = train_on(args, &ranks);
    if let Err(e) = &result
        && ranks.size() > 1
    {
        // Every other rank would wait for this one in its next collective: stop them all.
        eprintln!("error (rank {} of {}): {e}", ranks.rank(), ranks.size());
        ranks.abort_others(2);
    }
    result
}

fn train_on(args: TrainArgs, ranks: &cinder::distributed::Ranks) -> Result<(), String> {
    let kind = parse_backend(&args.backend)?;
    let actor = run::ActorPlacement::parse(&args.actor_backend, kind).map_err(|e| e.to_string())?;
    set_threads(args.threads)?;
    probe_device(kind)?;
    let root = ranks.rank() == 0;
    let mode = if root {
        run::ProgressMode::detect(args.quiet)
    } else {
        run::ProgressMode::Quiet
    };
    if ranks.size() > 1 && !args.seeds.is_empty() {
        return Err(format!(
            "--seeds trains several runs, each in one process; under mpiexec ({} processes) \
             train one run (a --seed)",
            ranks.size()
        ));
    }
    let (config, dir, resume) = match &args.resume {
        Some(dir) => {
            if !dir.is_dir() {
                return Err(format!("--resume {}: no such run folder", dir.display()));
            }
            let group = run::Group::read(dir).map_err(|e| e.to_string())?;
            let first = match &group {
                Some(g) => run::Group::run_dir(dir, g.seeds[0]),
                None => dir.clone(),
            };
            let saved = run::read_run_config(&first).map_err(|e| e.to_string())?;
            for (flag, given, saved_value) in [
                ("--env", args.env.as_deref(), saved.env_id.as_str()),
                ("--algo", args.algo.as_deref(), run::algo_name(&saved)),
            ] {
                if let Some(g) = given
                    && g != saved_value
                {
                    return Err(format!(
                        "{flag} {g} differs from the run's {saved_value}; --resume continues \
                         the saved run (start a new one with --out)"
                    ));
                }
            }
            if args.config.is_some()
                || !args.sets.is_empty()
                || args.seed.is_some()
                || !args.seeds.is_empty()
                || args.num_envs.is_some()
                || args.out.is_some()
                || args.video_every.is_some()
                || args.preset != "cinder"
            {
                return Err(
                    "--resume continues the saved config; only --steps (a larger budget), \
                     --backend and --actor-backend may be given with it"
                        .into(),
                );
            }
            let mut config = saved;
            if let Some(steps) = args.steps {
                config.total_timesteps = steps;
            }
            if let Some(g) = group {
                if args.stop_at.is_some() {
                    return Err("--stop-at stops one run; resume the group's runs \
                                (seed_<s>/) one by one to stop them"
                        .into());
                }
                if ranks.size() > 1 {
                    return Err(format!(
                        "{} is a group of several runs, each resumed in one process; resume \
                         it without mpiexec",
                        dir.display()
                    ));
                }
                return train_group(kind, actor, mode, config, dir, g.seeds, true);
            }
            (config, dir.clone(), true)
        }
        None => {
            let env = args.env.clone().ok_or(
                "--env is required, e.g. `cinder train --env Pendulum-v1 --algo trpo` \
                 (`cinder envs` lists them)",
            )?;
            let algo = args.algo.clone().unwrap_or_else(|| "trpo".into());
            run::check_algo(&algo).map_err(|e| e.to_string())?;
            // Unknown env ids fail here, with suggestions, before a folder is made.
            cinder::env::make(&env, 1, Some(0)).map_err(|e| e.to_string())?;
            let mut sets = args.sets.clone();
            if let Some(n) = args.video_every {
                sets.push(format!("video_interval={n}"));
            }
            let overrides = run::Overrides {
                config_file: args.config.clone(),
                sets,
                total_timesteps: args.steps,
                seed: args.seed,
                num_envs: args.num_envs,
                preset: args.preset.parse()?,
            };
            let config = run::resolve_config(&env, &algo, &overrides).map_err(|e| e.to_string())?;
            // So do the env's keyword arguments (unknown names, bad values, missing files).
            cinder::algo::make_env(&config, 1, 0).map_err(|e| e.to_string())?;
            if !args.seeds.is_empty() {
                run::check_seeds(&args.seeds).map_err(|e| e.to_string())?;
                let dir = args
                    .out
                    .clone()
                    .unwrap_or_else(|| run::default_group_dir(&config, &args.seeds));
                run::create_run_dir(&dir).map_err(|e| e.to_string())?;
                run::Group {
                    env: config.env_id.clone(),
                    algo: run::algo_name(&config).to_string(),
                    seeds: args.seeds.clone(),
                }
                .write(&dir)
                .map_err(|e| e.to_string())?;
                let seeds = args.seeds.clone();
                return train_group(kind, actor, mode, config, &dir, seeds, false);
            }
            let dir = args
                .out
                .clone()
                .unwrap_or_else(|| run::default_run_dir(&config));
            if root {
                run::create_run_dir(&dir).map_err(|e| e.to_string())?;
            }
            (config, dir, false)
        }
    };
    if mode != run::ProgressMode::Quiet {
        let processes = if ranks.size() > 1 {
            format!(", {} processes", ranks.size())
        } else {
            String::new()
        };
        println!(
            "training {} on {} for {} steps ({kind}, {}{processes}) → {}",
            config.algo.name(),
            config.env_id,
            config.total_timesteps,
            actor.describe(),
            dir.display()
        );
    }
    let summary = cinder::with_backend!(kind, |B, device| {
        run::train_in_dir::<burn::backend::Autodiff<B>>(
            &config,
            &dir,
            resume,
            args.stop_at,
            mode,
            actor,
            &device,
            ranks.comm(),
        )
    })
    .map_err(|e| e.to_string())?;
    if mode != run::ProgressMode::Quiet {
        println!(
            "done: {} steps in {:.1} s ({:.0} steps/s); final eval {:.1} ± {:.1}; {}",
            summary.steps,
            summary.wall_s,
            summary.sps,
            summary.final_eval.mean_return,
            summary.final_eval.std_return,
            dir.display()
        );
    }
    Ok(())
}

/// `cinder train --seeds …` and `--resume GROUP`: the seeds of `config` in `dir`.
fn train_group(
    kind: BackendKind,
    actor: run::ActorPlacement,
    mode: run::ProgressMode,
    config: cinder::algo::TrainConfig,
    dir: &std::path::Path,
    seeds: Vec<u64>,
    resume: bool,
) -> Result<(), String> {
    // A fresh group: the one config with each seed. A resumed one: each run's saved config
    // (they differ only in the seed), with the new budget.
    let configs = seeds
        .iter()
        .map(|&seed| {
            if !resume {
                return Ok(cinder::algo::TrainConfig {
                    seed,
                    ..config.clone()
                });
            }
            let mut saved = run::read_run_config(&run::Group::run_dir(dir, seed))?;
            saved.total_timesteps = config.total_timesteps;
            Ok(saved)
        })
        .collect::<run::Result<Vec<_>>>()
        .map_err(|e| e.to_string())?;
    if mode != run::ProgressMode::Quiet {
        println!(
            "training {} on {} for {} steps, seeds {:?} ({kind}, {}) → {}",
            config.algo.name(),
            config.env_id,
            config.total_timesteps,
            seeds,
            actor.describe(),
            dir.display()
        );
    }
    let (summaries, how) = cinder::with_backend!(kind, |B, device| {
        run::train_group_in_dir::<burn::backend::Autodiff<B>>(
            &configs, dir, &seeds, resume, mode, actor, &device,
        )
    })
    .map_err(|e| e.to_string())?;
    if mode != run::ProgressMode::Quiet {
        match &how {
            run::GroupMode::Lockstep => println!(
                "trained in lockstep: one stacked Fisher operator and one batched CG per update"
            ),
            run::GroupMode::OneByOne(why) => println!("trained one after another: {why}"),
        }
        for (seed, s) in seeds.iter().zip(&summaries) {
            println!(
                "seed {seed}: {} steps in {:.1} s; final eval {:.1} ± {:.1}; {}",
                s.steps,
                s.wall_s,
                s.final_eval.mean_return,
                s.final_eval.std_return,
                run::Group::run_dir(dir, *seed).display()
            );
        }
        let means: Vec<f64> = summaries.iter().map(|s| s.final_eval.mean_return).collect();
        let (mean, std) = run::mean_std(&means);
        println!(
            "done: final eval {mean:.1} ± {std:.1} over {} seeds; curves in {}",
            seeds.len(),
            dir.join("curve.png").display()
        );
    }
    Ok(())
}

fn sweep(args: SweepArgs) -> Result<(), String> {
    use cinder::sweep;
    parse_backend(&args.backend)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = args.jobs.unwrap_or(cores);
    if jobs == 0 || args.threads == Some(0) {
        return Err("--jobs and --threads must each be at least 1".into());
    }
    let spec = sweep::SweepSpec {
        env: args.env,
        algo: args.algo,
        grid: sweep::parse_grid(&args.grid).map_err(|e| e.to_string())?,
        sets: args.sets,
        seeds: args.seeds,
        steps: args.steps,
        halving: args.halving,
        random: args.random,
        random_seed: args.random_seed,
        preset: args.preset,
    };
    let opts = sweep::SweepOptions {
        jobs,
        threads: args.threads.unwrap_or((cores / jobs).max(1)),
        backend: args.backend,
        exe: std::env::current_exe().map_err(|e| format!("cannot find the cinder binary: {e}"))?,
        quiet: args.quiet,
    };
    let ranked = sweep::run_sweep(&spec, &opts, &args.out).map_err(|e| e.to_string())?;
    if !args.quiet
        && let Some(best) = ranked.first()
    {
        println!(
            "best: {} — {:.1} ± {:.1} over {} seeds at {} steps",
            best.config.label(),
            best.mean,
            best.std,
            best.seeds.len(),
            best.steps
        );
    }
    Ok(())
}

fn eval(args: EvalArgs) -> Result<(), String> {
    let kind = parse_backend(&args.backend)?;
    if args.episodes == 0 {
        return Err("--episodes must be at least 1".into());
    }
    let actor = run::ActorPlacement::parse(&args.actor_backend, kind).map_err(|e| e.to_string())?;
    probe_device(kind)?;
    let video = match &args.video {
        Some(path) => {
            let spec = run::VideoSpec {
                path: path.clone(),
                options: cinder::env::RenderOptions {
                    width: args.width,
                    height: args.height,
                    camera: args.camera.parse().map_err(|e| format!("--camera: {e}"))?,
                },
                fps: args.fps,
            };
            spec.check().map_err(|e| e.to_string())?;
            Some(spec)
        }
        None => None,
    };
    let (r, frames) = cinder::with_backend!(kind, |B, device| {
        run::eval_run::<burn::backend::Autodiff<B>>(
            &args.run,
            args.episodes,
            args.deterministic,
            args.seed,
            actor,
            video.as_ref(),
            &device,
        )
    })
    .map_err(|e| e.to_string())?;
    let mode = if args.deterministic {
        "deterministic"
    } else {
        "sampled actions"
    };
    if args.json {
        let mut record = serde_json::json!({
            "mean_return": r.mean_return,
            "std_return": r.std_return,
            "episodes": r.returns.len(),
            "returns": r.returns,
            "lengths": r.lengths,
            "deterministic": args.deterministic,
        });
        if let (Some(spec), Some(n)) = (&video, frames) {
            record["video"] = spec.path.display().to_string().into();
            record["frames"] = n.into();
        }
        println!("{record}");
    } else {
        let shown = match (&video, frames) {
            (Some(spec), Some(n)) => format!("; video {} ({n} frames)", spec.path.display()),
            _ => String::new(),
        };
        println!(
            "{}: {:.1} ± {:.1} over {} episodes ({mode}){shown}",
            args.run.display(),
            r.mean_return,
            r.std_return,
            r.returns.len(),
        );
    }
    Ok(())
}

fn envs(args: EnvsArgs) -> Result<(), String> {
    if let Some(id) = &args.env {
        let env = cinder::env::make(id, 1, Some(0)).map_err(|e| e.to_string())?;
        let horizon = cinder::env::spec(id).ok().map(|s| s.max_episode_steps);
        if args.json {
            println!(
                "{}",
                serde_json::json!({
                    "id": id,
                    "observation_space": env.observation_space().to_string(),
                    "action_space": env.action_space().to_string(),
                    "max_episode_steps": horizon,
                })
            );
        } else {
            println!(
                "{id}: observations {}, actions {}{}",
                env.observation_space(),
                env.action_space(),
                horizon.map_or(String::new(), |h| format!(", {h} steps per episode"))
            );
        }
        return Ok(());
    }
    let specs = cinder::env::registry();
    let gym = gymnasium_ids();
    if args.json {
        let native: Vec<_> = specs
            .iter()
            .map(|s| {
                serde_json::json!({
                    "id": s.id,
                    "observation_space": s.observation_space.to_string(),
                    "action_space": s.action_space.to_string(),
                    "max_episode_steps": s.max_episode_steps,
                    "reward_threshold": s.reward_threshold,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({ "native": native, "gymnasium": gym })
        );
        return Ok(());
    }
    println!("native (Rust):");
    for s in &specs {
        println!(
            "  {:<26} obs {}  act {}  horizon {}{}",
            s.id,
            s.observation_space,
            s.action_space,
            s.max_episode_steps,
            s.reward_threshold
                .map_or(String::new(), |t| format!("  solved at {t}"))
        );
    }
    match gym {
        Some(ids) => {
            println!(
                "through Gymnasium ({} ids; `cinder envs --env ID` shows one):",
                ids.len()
            );
            for chunk in ids.chunks(4) {
                println!("  {}", chunk.join("  "));
            }
        }
        None => println!(
            "Other Gymnasium ids (Humanoid-v4, Swimmer-v4, …): rebuild with `--features gymnasium` after \
             `bash scripts/setup_python.sh`"
        ),
    }
    Ok(())
}

#[cfg(feature = "gymnasium")]
fn gymnasium_ids() -> Option<Vec<String>> {
    let native = cinder::env::ids();
    cinder::env::gymnasium::registered_ids().ok().map(|ids| {
        ids.into_iter()
            .filter(|i| !native.contains(&i.as_str()))
            .collect()
    })
}

#[cfg(not(feature = "gymnasium"))]
fn gymnasium_ids() -> Option<Vec<String>> {
    None
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Train(args) => train(args)?,
        Command::Eval(args) => eval(args)?,
        Command::Sweep(args) => sweep(args)?,
        Command::Envs(args) => envs(args)?,
        Command::Plot(args) => {
            let out = args
                .out
                .clone()
                .unwrap_or_else(|| match args.runs.as_slice() {
                    [one] if cinder::sweep::is_sweep(one) => one.join("curves.png"),
                    [one] => one.join("curve.png"),
                    _ => PathBuf::from("curves.png"),
                });
            cinder::plot::plot_runs(&args.runs, &args.metric, &out).map_err(|e| e.to_string())?;
            println!("wrote {}", out.display());
        }
        Command::Bench(BenchCommand::Env(args)) => {
            if args.num_envs == 0 || args.steps == 0 {
                return Err("--num-envs and --steps must each be at least 1".into());
            }
            set_threads(args.threads)?;
            let r = bench::bench_env(&args.env, args.num_envs, args.steps, args.seed)
                .map_err(|e| e.to_string())?;
            let threads = args.threads.unwrap_or_else(rayon::current_num_threads);
            let mut record = serde_json::json!({
                "bench": "env",
                "env": args.env,
                "num_envs": args.num_envs,
                "steps": r.env_steps,
                "threads": threads,
                "seconds": r.seconds,
                "episodes": r.episodes,
                "steps_per_sec": r.steps_per_sec,
            });
            let mut sentence = format!(
                "{} × {}: {:.0} env-steps/s ({} steps, {} episodes ended, {:.3} s, {threads} threads)",
                args.env, args.num_envs, r.steps_per_sec, r.env_steps, r.episodes, r.seconds
            );
            if args.mj_step_loop {
                let raw = mj_step_loop(&args, &r)?;
                record["mj_step_loop_steps_per_sec"] = raw.steps_per_sec.into();
                record["mj_step_loop_episode_length"] = (r.env_steps / r.episodes.max(1)).into();
                record["ratio_to_mj_step_loop"] = (r.steps_per_sec / raw.steps_per_sec).into();
                sentence.push_str(&format!(
                    "; bare mj_step loop {:.0} steps/s (one thread): {:.2}×",
                    raw.steps_per_sec,
                    r.steps_per_sec / raw.steps_per_sec
                ));
            }
            if args.json {
                println!("{record}");
            } else {
                println!("{sentence}");
            }
        }
        Command::Bench(BenchCommand::Suite(args)) => suite(args)?,
        Command::Bench(BenchCommand::Overhead(args)) => overhead(args)?,
        Command::Bench(BenchCommand::Render(args)) => {
            if args.frames == 0 {
                return Err("--frames must be at least 1".into());
            }
            let options = cinder::env::RenderOptions {
                width: args.width,
                height: args.height,
                camera: args.camera.parse().map_err(|e| format!("--camera: {e}"))?,
            };
            let r = bench::bench_render(&args.env, args.frames, &options, args.seed)
                .map_err(|e| e.to_string())?;
            if args.json {
                let mut record = serde_json::to_value(&r).map_err(|e| e.to_string())?;
                record["bench"] = "render".into();
                record["env"] = args.env.clone().into();
                println!("{record}");
            } else {
                println!(
                    "{} at {}×{}: {:.1} frames/s ({} frames, {:.3} s; first frame {:.0} ms)",
                    args.env,
                    r.size.0,
                    r.size.1,
                    r.frames_per_sec,
                    r.frames,
                    r.seconds,
                    r.first_frame_ms
                );
            }
        }
        Command::Bench(BenchCommand::Fvp {
            common,
            method,
            reps,
        }) => {
            let (problem, kind) = (common.problem()?, common.backend()?);
            common.apply_threads()?;
            let t = cinder::with_backend!(kind, |B, device| {
                bench::bench_fvp::<B>(&device, &problem, method, bench::Reps::exactly(reps))
            });
            emit(&common, "fvp", Some(method), kind, t, serde_json::json!({}));
        }
        Command::Bench(BenchCommand::Cg {
            common,
            method,
            iters,
            reps,
        }) => {
            let (problem, kind) = (common.problem()?, common.backend()?);
            common.apply_threads()?;
            let t = cinder::with_backend!(kind, |B, device| {
                bench::bench_cg::<B>(&device, &problem, method, iters, bench::Reps::exactly(reps))
            });
            emit(
                &common,
                "cg",
                Some(method),
                kind,
                t,
                serde_json::json!({ "iters": iters }),
            );
        }
        Command::Bench(BenchCommand::Critic {
            common,
            minibatch,
            burn_ops,
            reps,
        }) => {
            let (problem, kind) = (common.problem()?, common.backend()?);
            if minibatch == 0 {
                return Err("--minibatch must be at least 1".into());
            }
            common.apply_threads()?;
            let t = cinder::with_backend!(kind, |B, device| {
                bench::bench_critic::<burn::backend::Autodiff<B>>(
                    &device,
                    &problem,
                    minibatch,
                    !burn_ops,
                    bench::Reps::exactly(reps),
                )
            });
            let steps = problem.batch.div_ceil(minibatch);
            let extra = serde_json::json!({
                "minibatch": minibatch,
                "on_host": !burn_ops,
                "adam_steps": steps,
                "ms_per_step": t.median_ms / steps as f64,
            });
            emit(&common, "critic", None, kind, t, extra);
        }
        Command::Check(CheckCommand::Fvp {
            common,
            policy,
            vectors,
        }) => {
            let (problem, kind) = (common.problem()?, common.backend()?);
            common.apply_threads()?;
            let c = cinder::with_backend!(kind, |B, device| {
                bench::check_fvp::<B>(&device, &problem, policy, vectors.max(1))
            });
            if common.json {
                println!(
                    "{}",
                    serde_json::json!({
                        "check": "fvp",
                        "backend": kind.name(),
                        "policy": policy,
                        "obs_dim": problem.obs_dim,
                        "act_dim": problem.act_dim,
                        "batch": problem.batch,
                        "max_rel_err_double_backprop": c.max_rel_err_double_backprop,
                        "max_rel_err_gauss_newton": c.max_rel_err_gauss_newton,
                    })
                );
            } else {
                println!(
                    "FVP vs dense f64 Fisher ({kind}, {policy:?}): double backprop rel. err {:.2e}, Gauss-Newton {:.2e}",
                    c.max_rel_err_double_backprop, c.max_rel_err_gauss_newton
                );
            }
        }
    }
    Ok(())
}

/// `--backend`: a backend compiled into this binary.
fn parse_backend(name: &str) -> Result<BackendKind, String> {
    name.parse()
        .map_err(|e: cinder::backend::BackendError| e.to_string())
}

/// Sizes rayon's global pool (before any work starts).
fn set_threads(threads: Option<usize>) -> Result<(), String> {
    match threads {
        Some(0) => Err("--threads must be at least 1".into()),
        Some(n) => rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .map_err(|e| format!("cannot set --threads {n}: {e}")),
        None => Ok(()),
    }
}

fn emit(
    common: &Common,
    bench: &str,
    method: Option<FvpMethod>,
    kind: BackendKind,
    t: bench::Timing,
    extra: serde_json::Value,
) {
    if common.json {
        let mut v = serde_json::json!({
            "bench": bench,
            "method": method.map(FvpMethod::name),
            "backend": kind.name(),
            "batch": common.batch,
            "obs_dim": common.obs_dim,
            "act_dim": common.act_dim,
            "hidden": common.hidden,
            "threads": common.threads.unwrap_or_else(rayon::current_num_threads),
            "median_ms": t.median_ms,
            "min_ms": t.min_ms,
        });
        if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            if method.is_none() {
                o.remove("method");
            }
            o.extend(e.clone());
        }
        println!("{v}");
    } else {
        println!(
            "{bench} {}on {kind}, batch {}, obs {} act {} hidden {:?}: median {:.3} ms, min {:.3} ms",
            method.map_or(String::new(), |m| format!("{} ", m.name())),
            common.batch,
            common.obs_dim,
            common.act_dim,
            common.hidden,
            t.median_ms,
            t.min_ms
        );
    }
}

#[cfg(feature = "mujoco")]
fn mj_step_loop(args: &EnvBenchArgs, env: &bench::EnvBench) -> Result<bench::EnvBench, String> {
    // The same mean episode length as the env run, so both reset equally often.
    let episode_length = (env.env_steps / env.episodes.max(1)).max(1);
    bench::bench_mj_step_loop(
        &args.env,
        args.num_envs,
        args.steps,
        episode_length,
        args.seed,
    )
    .map_err(|e| e.to_string())
}

#[cfg(not(feature = "mujoco"))]
fn mj_step_loop(_args: &EnvBenchArgs, _env: &bench::EnvBench) -> Result<bench::EnvBench, String> {
    Err("--mj-step-loop needs the native MuJoCo envs: build with `--features mujoco`".into())
}

fn main() -> ExitCode {
    cinder::alloc::tune_allocator();
    #[cfg(feature = "mujoco")]
    // SAFETY: first thing in main, before any thread exists. MuJoCo would otherwise append
    // its warnings to MUJOCO_LOG.TXT in the working directory; they still reach the console.
    unsafe {
        use cinder::env::mujoco::mujoco_rs::wrappers::mj_logging::{log_config, set_log_config};
        set_log_config(log_config().with_logto_file(false));
    }
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
