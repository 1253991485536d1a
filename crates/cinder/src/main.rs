//! The `cinder` command line.

use std::process::ExitCode;

use cinder::backend::BackendKind;
use cinder::bench::{self, FvpMethod, PolicyKind, Problem};
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
    /// Measure the speed of a component.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Check a component against a reference.
    #[command(subcommand)]
    Check(CheckCommand),
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
    /// Vector-env stepping with random actions (auto-reset included).
    Env(EnvBenchArgs),
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
    /// Worker threads for envs that step in parallel; default: one per core. The native
    /// classic-control envs step in the calling thread (a step costs tens of nanoseconds).
    #[arg(long)]
    threads: Option<usize>,
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
    /// Backend: flex, ndarray or wgpu (each needs its cargo feature).
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
        self.backend
            .parse()
            .map_err(|e: cinder::backend::BackendError| e.to_string())
    }
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Bench(BenchCommand::Env(args)) => {
            if args.num_envs == 0 || args.steps == 0 {
                return Err("--num-envs and --steps must each be at least 1".into());
            }
            set_threads(args.threads)?;
            let r = bench::bench_env(&args.env, args.num_envs, args.steps, args.seed)
                .map_err(|e| e.to_string())?;
            let threads = args.threads.unwrap_or_else(rayon::current_num_threads);
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({
                        "bench": "env",
                        "env": args.env,
                        "num_envs": args.num_envs,
                        "steps": r.env_steps,
                        "threads": threads,
                        "seconds": r.seconds,
                        "episodes": r.episodes,
                        "steps_per_sec": r.steps_per_sec,
                    })
                );
            } else {
                println!(
                    "{} × {}: {:.0} env-steps/s ({} steps, {} episodes ended, {:.3} s)",
                    args.env, args.num_envs, r.steps_per_sec, r.env_steps, r.episodes, r.seconds
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
                bench::bench_fvp::<B>(&device, &problem, method, reps)
            });
            emit(&common, "fvp", method, kind, t, serde_json::json!({}));
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
                bench::bench_cg::<B>(&device, &problem, method, iters, reps)
            });
            emit(
                &common,
                "cg",
                method,
                kind,
                t,
                serde_json::json!({ "iters": iters }),
            );
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
    method: FvpMethod,
    kind: BackendKind,
    t: bench::Timing,
    extra: serde_json::Value,
) {
    if common.json {
        let mut v = serde_json::json!({
            "bench": bench,
            "method": method.name(),
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
            o.extend(e.clone());
        }
        println!("{v}");
    } else {
        println!(
            "{bench} {} on {kind}, batch {}, obs {} act {} hidden {:?}: median {:.3} ms, min {:.3} ms",
            method.name(),
            common.batch,
            common.obs_dim,
            common.act_dim,
            common.hidden,
            t.median_ms,
            t.min_ms
        );
    }
}

fn main() -> ExitCode {
    cinder::alloc::tune_allocator();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
