//! `cinder bench suite`: the rows of `scripts/bench_gpu.sh` for one backend, in one process.
//!
//! A GPU backend compiles each kernel the first time a shape is seen in a process; one
//! process per backend compiles the shared kernels once (on lavapipe a fresh process for a
//! single FVP row spent 40–190 s compiling). The rows, printed as one JSON object each:
//!
//! - `fvp` and `cg` (10 iterations, operator construction included) for both Fisher
//!   products, for every batch size (smallest first) × hidden size, within a time budget;
//! - for each actor placement (`auto` and `same` are one on a CPU backend), `train`: a TRPO run of `--train-steps` env steps on
//!   `--train-env` with its preset (steps/s, wall-clock, final evaluation), and
//!   `trpo_update`: that run's median update (policy step + critic fit), the first update
//!   left out (it compiles the kernels).
//!
//! A FVP/CG row that has no time left in the budget, or that would not fit in what is left
//! (estimated from the rows measured before it), is printed with `"skipped"` and the reason,
//! so a report always says what was not measured. The training rows always run.

use std::time::Instant;

use burn::tensor::backend::AutodiffBackend;
use cinder_algo::{Callback, Control, Metrics, MlpAgent};
use serde_json::{Value, json};

use crate::backend::BackendKind;
use crate::bench::{self, FvpMethod, Problem};
use crate::run::{self, ActorPlacement, Overrides};

/// What one suite run measures.
#[derive(Debug, Clone)]
pub struct SuiteConfig {
    /// Observation and action dimensions of the FVP/CG problems.
    pub obs_dim: usize,
    /// Action dimension.
    pub act_dim: usize,
    /// Hidden sizes of the FVP/CG problems.
    pub hiddens: Vec<Vec<usize>>,
    /// Batch sizes of the FVP/CG problems.
    pub batches: Vec<usize>,
    /// CG iterations (no early stop).
    pub cg_iters: usize,
    /// Most timed repetitions of a row.
    pub reps: usize,
    /// A row stops repeating after this many seconds (with at least two timed runs).
    pub row_s: f64,
    /// Training env (TRPO with its preset) and env steps; 0 steps: no training rows.
    pub train_env: String,
    /// Env steps of each training row.
    pub train_steps: u64,
    /// `--set` overrides of the training config (e.g. a smaller batch for a smoke run).
    pub train_sets: Vec<String>,
    /// Actor placements of the training rows (`auto`, `same`, `flex`, `ndarray`).
    pub actors: Vec<String>,
    /// Seconds the FVP/CG rows may take; those that would not fit are skipped.
    pub budget_s: f64,
}

/// Collects the per-update timings of a training run.
#[derive(Default)]
struct UpdateTimes {
    policy_s: Vec<f64>,
    value_s: Vec<f64>,
}

impl Callback for UpdateTimes {
    fn on_update_end(&mut self, metrics: &Metrics) -> Control {
        let get = |k: &str| metrics.values.get(k).copied().unwrap_or(f64::NAN);
        self.policy_s.push(get("time/policy_s"));
        self.value_s.push(get("time/value_s"));
        Control::Continue
    }
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    v.sort_by(|a, b| a.total_cmp(b));
    (!v.is_empty()).then(|| v[v.len() / 2])
}

/// Runs the suite on backend `B` (`kind` names it), handing each row to `emit`.
///
/// # Errors
/// A training config that does not resolve (unknown env, bad `--set`), an actor placement
/// that does not parse, or a training failure.
pub fn run_suite<B: AutodiffBackend>(
    kind: BackendKind,
    device: &B::Device,
    config: &SuiteConfig,
    emit: &mut dyn FnMut(Value),
) -> run::Result<()> {
    let start = Instant::now();
    // Check what can fail before anything is timed.
    // Names that resolve to the same placement (`auto` and `native`) run once.
    let mut placements: Vec<(String, ActorPlacement)> = Vec::new();
    for name in &config.actors {
        let placement = ActorPlacement::parse(name, kind)?;
        if placements.iter().all(|(_, p)| *p != placement) {
            placements.push((name.clone(), placement));
        }
    }
    let train_config = (config.train_steps > 0)
        .then(|| {
            run::resolve_config(
                &config.train_env,
                "trpo",
                &Overrides {
                    sets: config.train_sets.clone(),
                    total_timesteps: Some(config.train_steps),
                    ..Overrides::default()
                },
            )
        })
        .transpose()?;

    // (bench, method, hidden, batch, median ms) of the rows run so far.
    let mut measured: Vec<(&str, FvpMethod, Vec<usize>, usize, f64)> = Vec::new();
    // Smallest batches first, so a budget that runs out leaves out the largest problems.
    for &batch in &config.batches {
        for hidden in &config.hiddens {
            let problem = Problem {
                obs_dim: config.obs_dim,
                act_dim: config.act_dim,
                hidden: hidden.clone(),
                batch,
                seed: 0,
            };
            for bench_name in ["fvp", "cg"] {
                for method in [FvpMethod::GaussNewton, FvpMethod::DoubleBackprop] {
                    let mut row = json!({
                        "bench": bench_name,
                        "backend": kind.name(),
                        "method": method.name(),
                        "batch": batch,
                        "hidden": hidden,
                        "obs_dim": config.obs_dim,
                        "act_dim": config.act_dim,
                    });
                    if bench_name == "cg" {
                        row["iters"] = config.cg_iters.into();
                    }
                    // A row cannot be stopped once started, so one that would not fit is
                    // not started: its cost is estimated from the same product measured at a
                    // smaller batch (linear in the batch) or, for CG, from this batch's FVP.
                    let per_call_ms = match bench_name {
                        "fvp" => measured
                            .iter()
                            .rev()
                            .find(|m| m.0 == "fvp" && m.1 == method && &m.2 == hidden)
                            .map(|m| m.4 * batch as f64 / m.3 as f64),
                        _ => measured
                            .iter()
                            .rev()
                            .find(|m| {
                                m.0 == "fvp" && m.1 == method && &m.2 == hidden && m.3 == batch
                            })
                            .map(|m| m.4 * config.cg_iters as f64),
                    };
                    // Warm-up and the two timed runs every row makes.
                    let calls = if bench_name == "fvp" { 5.0 } else { 4.0 };
                    let estimate_s = per_call_ms.map_or(0.0, |ms| calls * ms / 1e3);
                    let left_s = config.budget_s - start.elapsed().as_secs_f64();
                    if estimate_s > left_s {
                        row["skipped"] = if left_s > 0.0 {
                            format!("budget: about {estimate_s:.0} s needed, {left_s:.0} s left")
                        } else {
                            "budget".to_string()
                        }
                        .into();
                        emit(row);
                        continue;
                    }
                    let t0 = Instant::now();
                    let reps = bench::Reps {
                        reps: config.reps,
                        max_s: config.row_s,
                    };
                    let timing = if bench_name == "fvp" {
                        bench::bench_fvp::<B::InnerBackend>(device, &problem, method, reps)
                    } else {
                        bench::bench_cg::<B::InnerBackend>(
                            device,
                            &problem,
                            method,
                            config.cg_iters,
                            reps,
                        )
                    };
                    measured.push((bench_name, method, hidden.clone(), batch, timing.median_ms));
                    row["median_ms"] = timing.median_ms.into();
                    row["min_ms"] = timing.min_ms.into();
                    row["reps"] = timing.reps.into();
                    row["row_s"] = t0.elapsed().as_secs_f64().into();
                    emit(row);
                }
            }
        }
    }

    let Some(train_config) = train_config else {
        return Ok(());
    };
    for (name, placement) in placements {
        let mut row = json!({
            "bench": "train",
            "backend": kind.name(),
            "actor": name,
            "acting": placement.describe(),
            "env": train_config.env_id,
            "algo": "trpo",
            "batch": train_config.n_steps * train_config.num_envs,
            "steps": train_config.total_timesteps,
        });
        let mut agent = MlpAgent::<B>::new(train_config.clone(), None, device)?;
        placement.install(&mut agent)?;
        // The update's halves in sequence, so that each is timed alone: with the overlap
        // (`cinder train`'s default on the CPU backends) the critic fit runs beside the next
        // rollout and an update has no wall clock of its own.
        agent.set_overlap(false);
        let mut times = UpdateTimes::default();
        let summary = agent.train(&mut times)?;
        row["steps"] = summary.steps.into();
        row["updates"] = summary.updates.into();
        row["wall_s"] = summary.wall_s.into();
        row["steps_per_sec"] = summary.sps.into();
        row["final_eval_mean"] = summary.final_eval.mean_return.into();
        emit(row);
        // An update: its policy step and critic fit.
        let totals: Vec<f64> = times
            .policy_s
            .iter()
            .zip(&times.value_s)
            .map(|(p, v)| p + v)
            .collect();
        let steady = |v: &[f64]| median(v.iter().skip(1).map(|s| s * 1e3).collect());
        emit(json!({
            "bench": "trpo_update",
            "backend": kind.name(),
            "actor": name,
            "env": train_config.env_id,
            "batch": train_config.n_steps * train_config.num_envs,
            "hidden": train_config.policy_hidden,
            "updates_timed": totals.len().saturating_sub(1),
            "overlap": false,
            "median_ms": steady(&totals),
            "policy_median_ms": steady(&times.policy_s),
            "value_median_ms": steady(&times.value_s),
            "first_update_ms": totals.first().map(|s| s * 1e3),
        }));
    }
    Ok(())
}

/// What `cinder bench overhead` measured: a training run against its envs stepped alone.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Overhead {
    /// Seconds of the env stack alone: the same env, env count, threads and steps, with
    /// random actions ([`bench::bench_env`]).
    pub env_alone_s: f64,
    /// Seconds of the training call (its final evaluation included).
    pub train_s: f64,
    /// `train_s / env_alone_s`.
    pub ratio: f64,
    /// Seconds per phase of the training: collect, gae, policy, value.
    pub time_split: [f64; 4],
    /// Env steps trained.
    pub steps: u64,
    /// Final deterministic evaluation's mean return (a check that it learned as usual).
    pub final_eval_mean: f64,
}

/// Trains `config` on backend `B`, acting where `actor` says (no run folder) and with the
/// first-order epochs on the host or as burn ops (`native_updates`, see
/// [`MlpAgent::set_native_updates`]), and steps its envs alone with random actions for as
/// many steps, in that order, in this process.
///
/// # Errors
/// Env or training failures.
pub fn bench_overhead<B: AutodiffBackend>(
    config: &cinder_algo::TrainConfig,
    actor: ActorPlacement,
    native_updates: bool,
    device: &B::Device,
) -> run::Result<Overhead> {
    let mut agent = MlpAgent::<B>::new(config.clone(), None, device)?;
    actor.install(&mut agent)?;
    agent.set_native_updates(native_updates);
    if rayon::current_num_threads() == 1 {
        agent.set_overlap(false);
    }
    let summary = agent.train(&mut cinder_algo::NoCallback)?;
    let steps = usize::try_from(summary.steps).unwrap_or(usize::MAX);
    let alone = bench::bench_env(&config.env_id, config.num_envs, steps, config.seed)
        .map_err(|e| run::RunError::Usage(e.to_string()))?;
    Ok(Overhead {
        env_alone_s: alone.seconds,
        train_s: summary.wall_s,
        ratio: summary.wall_s / alone.seconds.max(1e-9),
        time_split: summary.time_split,
        steps: summary.steps,
        final_eval_mean: summary.final_eval.mean_return,
    })
}
