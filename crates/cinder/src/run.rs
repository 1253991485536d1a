//! Run folders for the command line: a training config resolved from a preset, a TOML file
//! and `--set` overrides; training with progress; evaluation and resumption of a saved run.
//!
//! A run folder holds `config.json` (the resolved [`TrainConfig`]), `metrics.csv`,
//! `metrics.jsonl`, `checkpoints/update_NNNNNN/`, and after training `curve.png` and
//! `summary.json`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use burn::tensor::backend::AutodiffBackend;
use cinder_algo::{
    AgentPolicy, AlgoConfig, AlgoError, Callback, Communicator, Control, EvalResult, Lockstep,
    Metrics, MlpAgent, TrainConfig, TrainSummary, Trainer, latest_checkpoint,
};
use cinder_fisher::MlpPolicy;
use serde_json::Value;

use crate::backend::{BackendError, BackendKind};

/// A command-line failure: one line saying what went wrong and what to do.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Bad arguments or files.
    #[error("{0}")]
    Usage(String),
    /// The library refused or failed.
    #[error(transparent)]
    Algo(#[from] AlgoError),
    /// The plot could not be drawn.
    #[error("plot: {0}")]
    Plot(String),
}

/// `Result` with [`RunError`].
pub type Result<T> = std::result::Result<T, RunError>;

fn usage(msg: impl Into<String>) -> RunError {
    RunError::Usage(msg.into())
}

/// Where a run acts (rollouts and evaluations); the learner always runs on the backend of
/// `--backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorPlacement {
    /// On the learner's own networks, on the learner's backend.
    Same,
    /// On a copy of the networks on this CPU backend, refreshed once per update.
    Copy(BackendKind),
    /// The policy in plain Rust on the host, no backend ([`cinder_algo::NativeActor`]).
    Native,
}

impl ActorPlacement {
    /// Reads `--actor-backend` for a learner on `learner`: `auto` and `native` (the policy
    /// in plain Rust on the host, whatever the learner's backend), `same`, `flex` or `ndarray`
    /// (a copy on that CPU backend; `same` when it is the learner's).
    ///
    /// # Errors
    /// An unknown name, a GPU backend as the actor, or a backend not compiled in.
    pub fn parse(name: &str, learner: BackendKind) -> Result<Self> {
        let cpu = [BackendKind::Flex, BackendKind::NdArray];
        let placement = match name {
            "auto" | "native" => ActorPlacement::Native,
            "same" => ActorPlacement::Same,
            other => {
                let kind: BackendKind = other.parse().map_err(|e| match e {
                    BackendError::Unknown(_) => usage(format!(
                        "--actor-backend {other}: choose auto, native, same, flex or ndarray"
                    )),
                    e => usage(format!("--actor-backend: {e}")),
                })?;
                if !cpu.contains(&kind) {
                    return Err(usage(format!(
                        "--actor-backend {other}: the acting copy runs on a CPU backend (flex \
                         or ndarray); `same` acts on the learner's {learner}"
                    )));
                }
                if kind == learner {
                    ActorPlacement::Same
                } else {
                    ActorPlacement::Copy(kind)
                }
            }
        };
        Ok(placement)
    }

    /// Gives `agent` its acting copy (nothing for [`Same`](ActorPlacement::Same)).
    ///
    /// # Errors
    /// As [`MlpAgent::act_on`].
    pub fn install<B: AutodiffBackend>(self, agent: &mut MlpAgent<B>) -> Result<()> {
        match self {
            ActorPlacement::Same => Ok(()),
            ActorPlacement::Native => {
                agent.act_natively();
                Ok(())
            }
            #[cfg(feature = "flex")]
            ActorPlacement::Copy(BackendKind::Flex) => {
                Ok(agent.act_on::<crate::backend::Flex>(&Default::default())?)
            }
            #[cfg(feature = "ndarray")]
            ActorPlacement::Copy(BackendKind::NdArray) => {
                Ok(agent.act_on::<crate::backend::NdArray>(&Default::default())?)
            }
            ActorPlacement::Copy(kind) => Err(usage(format!(
                "backend {kind} cannot hold the acting copy in this binary"
            ))),
        }
    }

    /// `"acting on the learner"` or `"acting on a flex copy"`, for the start line.
    pub fn describe(self) -> String {
        match self {
            ActorPlacement::Same => "acting on the learner".into(),
            ActorPlacement::Copy(kind) => format!("acting on a {kind} copy"),
            ActorPlacement::Native => "acting natively (plain Rust)".into(),
        }
    }
}

/// Where the overrides of a training run come from.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// A TOML file: top-level keys are [`TrainConfig`] fields, an `[algo]` table the
    /// algorithm's hyperparameters.
    pub config_file: Option<PathBuf>,
    /// `key=value` pairs (`gamma=0.9`, `target_kl=0.02`, `policy_hidden=[256,256]`); a key is
    /// a run field or a field of the algorithm.
    pub sets: Vec<String>,
    /// `--steps`.
    pub total_timesteps: Option<u64>,
    /// `--seed`.
    pub seed: Option<u64>,
    /// `--num-envs`.
    pub num_envs: Option<usize>,
    /// `--preset`: whose values the config starts from.
    pub preset: cinder_algo::PresetSource,
}

/// The config for `env` and `algo`: the preset (or the algorithm's defaults), then the
/// file, then `--set`, then the flags.
///
/// # Errors
/// An unknown algorithm, an unreadable file, an unknown key (the message lists the valid
/// ones), a value of the wrong type, or a config that does not validate.
pub fn resolve_config(env: &str, algo: &str, o: &Overrides) -> Result<TrainConfig> {
    let base = cinder_algo::preset_from(env, algo, o.preset).map_err(usage)?;
    let mut json = serde_json::to_value(&base).map_err(|e| usage(e.to_string()))?;
    if let Some(path) = &o.config_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| usage(format!("cannot read --config {}: {e}", path.display())))?;
        let table: toml::Table = text
            .parse()
            .map_err(|e| usage(format!("--config {}: {e}", path.display())))?;
        for (key, value) in table {
            let value = serde_json::to_value(value).map_err(|e| usage(e.to_string()))?;
            if key == "algo" {
                let Value::Object(inner) = value else {
                    return Err(usage(format!(
                        "--config {}: `algo` must be a table of hyperparameters ([algo]); \
                         choose the algorithm with --algo",
                        path.display()
                    )));
                };
                for (k, v) in inner {
                    set_key(&mut json, &format!("algo.{k}"), v)?;
                }
            } else {
                set_key(&mut json, &key, value)?;
            }
        }
    }
    for pair in &o.sets {
        let (key, raw) = pair.split_once('=').ok_or_else(|| {
            usage(format!(
                "--set {pair}: write key=value, e.g. --set gamma=0.98"
            ))
        })?;
        let value = serde_json::from_str(raw.trim())
            .unwrap_or_else(|_| Value::String(raw.trim().to_string()));
        set_key(&mut json, key.trim(), value)?;
        if let Err(e) = serde_json::from_value::<TrainConfig>(json.clone()) {
            return Err(usage(format!("--set {pair}: {e}")));
        }
    }
    if let Some(t) = o.total_timesteps {
        json["total_timesteps"] = t.into();
    }
    if let Some(s) = o.seed {
        json["seed"] = s.into();
    }
    if let Some(n) = o.num_envs {
        json["num_envs"] = n.into();
    }
    let config: TrainConfig =
        serde_json::from_value(json).map_err(|e| usage(format!("invalid value: {e}")))?;
    config.validate()?;
    Ok(config)
}

/// Every key `--set` accepts for this config: run fields, then the algorithm's.
pub fn valid_keys(json: &Value) -> Vec<String> {
    let mut keys: Vec<String> = json
        .as_object()
        .map(|o| {
            o.keys()
                .filter(|k| *k != "algo" && *k != "env_id")
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    if let Some(inner) = algo_fields(json) {
        keys.extend(inner.keys().cloned());
    }
    keys
}

fn algo_fields(json: &Value) -> Option<&serde_json::Map<String, Value>> {
    json.get("algo")?.as_object()?.values().next()?.as_object()
}

fn set_key(json: &mut Value, key: &str, value: Value) -> Result<()> {
    let unknown = |json: &Value| {
        usage(format!(
            "unknown config key `{key}`; valid keys: {}",
            valid_keys(json).join(", ")
        ))
    };
    let field = key.strip_prefix("algo.").unwrap_or(key);
    if field == "algo" || field == "env_id" {
        return Err(usage(format!(
            "`{field}` is chosen with --{}",
            if field == "algo" { "algo" } else { "env" }
        )));
    }
    let top = !key.starts_with("algo.") && json.get(field).is_some();
    if top {
        json[field] = value;
        return Ok(());
    }
    let has = algo_fields(json).is_some_and(|o| o.contains_key(field));
    if !has {
        return Err(unknown(json));
    }
    if let Some(inner) = json
        .get_mut("algo")
        .and_then(Value::as_object_mut)
        .and_then(|o| o.values_mut().next())
        .and_then(Value::as_object_mut)
    {
        inner.insert(field.to_string(), value);
    }
    Ok(())
}

/// A fresh run folder name in CleanRL's style: `{env}__{algo}__{seed}__{unix time}`.
pub fn default_run_dir(config: &TrainConfig) -> PathBuf {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    PathBuf::from("runs").join(format!(
        "{}__{}__{}__{now}",
        config.env_id,
        config.algo.name(),
        config.seed
    ))
}

/// Creates `dir` for a new run; refuses an existing non-empty folder (nothing is
/// overwritten).
///
/// # Errors
/// A non-empty folder, or one that cannot be created or written.
pub fn create_run_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !dir.is_dir() || !empty {
            return Err(usage(format!(
                "--out {} exists and is not an empty folder; choose another --out, or continue \
                 it with --resume {}",
                dir.display(),
                dir.display()
            )));
        }
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| usage(format!("cannot create run folder {}: {e}", dir.display())))?;
    let probe = dir.join(".write-test");
    std::fs::write(&probe, b"")
        .map_err(|e| usage(format!("cannot write in run folder {}: {e}", dir.display())))?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// Writes `text` to `path` atomically: a synced temporary file renamed over it, then the
/// folder synced ([`cinder_algo::fsio::write_atomic`]).
///
/// # Errors
/// I/O errors.
pub fn write_atomic(path: &Path, text: &str) -> Result<()> {
    cinder_algo::fsio::write_atomic(path, text.as_bytes())
        .map_err(|e| usage(format!("cannot write {}: {e}", path.display())))
}

/// Whether a run folder holds a checkpoint (`checkpoints/update_*`).
fn has_checkpoint(dir: &Path) -> bool {
    std::fs::read_dir(dir.join("checkpoints"))
        .map(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("update_"))
        })
        .unwrap_or(false)
}

/// Reads the `config.json` of a run folder.
///
/// # Errors
/// A missing or damaged file.
pub fn read_run_config(dir: &Path) -> Result<TrainConfig> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        usage(format!(
            "{}: {e}; is {} a run folder made by `cinder train`?",
            path.display(),
            dir.display()
        ))
    })?;
    serde_json::from_str(&text)
        .and_then(TrainConfig::from_saved)
        .map_err(|e| usage(format!("{} is damaged: {e}", path.display())))
}

/// How training reports progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// A progress bar (stdout is a terminal).
    Bar,
    /// A plain line every tenth of the budget (stdout is a file or pipe).
    Lines,
    /// Nothing.
    Quiet,
}

impl ProgressMode {
    /// `Bar` on a terminal, `Lines` otherwise, `Quiet` when asked.
    pub fn detect(quiet: bool) -> Self {
        if quiet {
            ProgressMode::Quiet
        } else if std::io::stdout().is_terminal() {
            ProgressMode::Bar
        } else {
            ProgressMode::Lines
        }
    }
}

/// The training callback that shows progress.
struct Progress {
    mode: ProgressMode,
    /// `"seed 3 · "` for a run of a group, else empty.
    label: String,
    bar: Option<indicatif::ProgressBar>,
    total: u64,
    next_line: u64,
    recent_return: Option<f64>,
    start: Instant,
    /// Stop after the update that reaches this many env steps (`cinder train --stop-at`).
    stop_at: Option<u64>,
}

impl Progress {
    fn new(mode: ProgressMode, total: u64, done: u64) -> Self {
        let bar = (mode == ProgressMode::Bar).then(|| {
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:30} {human_pos}/{human_len} steps · {msg} · ETA {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.set_position(done);
            bar
        });
        Self {
            mode,
            label: String::new(),
            bar,
            total,
            next_line: done + total / 10,
            recent_return: None,
            start: Instant::now(),
            stop_at: None,
        }
    }
}

impl Progress {
    /// The progress of one run of a group: its lines start with `label`, its bar joins
    /// `multi` (one bar per run).
    fn labelled(mut self, label: &str, multi: &indicatif::MultiProgress) -> Self {
        self.label = format!("{label} · ");
        if let Some(bar) = self.bar.take() {
            bar.set_prefix(label.to_string());
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{prefix:>8} {bar:30} {human_pos}/{human_len} steps · {msg} · ETA {eta}",
            ) {
                bar.set_style(style);
            }
            self.bar = Some(multi.add(bar));
        }
        self
    }
}

impl Callback for Progress {
    fn on_update_end(&mut self, m: &Metrics) -> Control {
        let step = m.get("global_step").unwrap_or(0.0) as u64;
        if let Some(r) = m.get("charts/episodic_return") {
            self.recent_return = Some(r);
        }
        let sps = m.get("charts/SPS").unwrap_or(0.0);
        let ret = self
            .recent_return
            .map_or("–".to_string(), |r| format!("{r:.1}"));
        match self.mode {
            ProgressMode::Bar => {
                if let Some(bar) = &self.bar {
                    bar.set_position(step.min(self.total));
                    bar.set_message(format!("{sps:.0} SPS · return {ret}"));
                }
            }
            ProgressMode::Lines if step >= self.next_line || step >= self.total => {
                self.next_line = step + (self.total / 10).max(1);
                println!(
                    "{}step {step}/{} · {sps:.0} SPS · episodic return {ret} · {:.0} s",
                    self.label,
                    self.total,
                    self.start.elapsed().as_secs_f64()
                );
            }
            _ => {}
        }
        if self.stop_at.is_some_and(|at| step >= at) {
            return Control::Stop;
        }
        Control::Continue
    }

    fn on_warning(&mut self, message: &str) {
        // Even with --quiet: a warning says the run is not doing what the user expects.
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("warning: {message}")),
            None => eprintln!("warning: {message}"),
        }
    }

    fn on_evaluation(&mut self, r: &EvalResult) {
        let line = format!(
            "{}eval at step {}: {:.1} ± {:.1} over {} episodes",
            self.label,
            r.global_step,
            r.mean_return,
            r.std_return,
            r.returns.len()
        );
        match (&self.bar, self.mode) {
            (Some(bar), _) => bar.println(line),
            (None, ProgressMode::Lines) => println!("{line}"),
            _ => {}
        }
    }
}

/// What `cinder train` does once the config and folder are settled: train (or continue),
/// write `summary.json` and `curve.png`. With `stop_at`, training stops after the update
/// that reaches that many env steps — final evaluation, checkpoint and summary as at the end —
/// while the config keeps its budget and schedules, so that `--resume` continues the same run
/// (`cinder sweep --halving`). With several ranks in `comm` (`mpiexec`), they train the run
/// together and only rank 0 writes the folder.
///
/// # Errors
/// Training or I/O failures.
#[allow(clippy::too_many_arguments)]
pub fn train_in_dir<B: AutodiffBackend>(
    config: &TrainConfig,
    dir: &Path,
    resume: bool,
    stop_at: Option<u64>,
    mode: ProgressMode,
    actor: ActorPlacement,
    device: &B::Device,
    comm: Arc<dyn Communicator>,
) -> Result<TrainSummary> {
    let root = comm.rank() == 0;
    let mut agent = open_agent::<B>(config, dir, resume, actor, device, comm)?;
    let mut progress = Progress::new(mode, config.total_timesteps, agent.global_step());
    progress.stop_at = stop_at;
    let summary = agent.train(&mut progress)?;
    if let Some(bar) = &progress.bar {
        bar.finish_and_clear();
    }
    if root {
        finish_run_dir(dir, &summary)?;
    }
    Ok(summary)
}

/// The agent of a run folder: continued from its latest checkpoint (`resume` and one
/// exists), else fresh with `config` written to `config.json`; acting as `actor` says.
fn open_agent<B: AutodiffBackend>(
    config: &TrainConfig,
    dir: &Path,
    resume: bool,
    actor: ActorPlacement,
    device: &B::Device,
    comm: Arc<dyn Communicator>,
) -> Result<MlpAgent<B>> {
    // A run stopped before its first checkpoint has nothing to continue: it starts over
    // with its saved config (and writes its metrics anew).
    let resume = resume && has_checkpoint(dir);
    // Data-parallel (mpiexec): rank 0 writes the folder.
    let root = comm.rank() == 0;
    let mut agent = if resume {
        let checkpoint = latest_checkpoint(dir)?;
        cinder_algo::check_checkpoint_config(&checkpoint, config)?;
        MlpAgent::<B>::resume_data_parallel(
            &checkpoint,
            Some(config.total_timesteps),
            Some(dir),
            device,
            comm,
        )?
    } else {
        if root {
            write_atomic(
                &dir.join("config.json"),
                &serde_json::to_string_pretty(config).map_err(|e| usage(e.to_string()))?,
            )?;
        }
        MlpAgent::<B>::data_parallel(config.clone(), Some(dir), device, comm)?
    };
    actor.install(&mut agent)?;
    // TRPO/NPG fit the critic on a thread of its own, beside the policy step and the next
    // rollout (CPU backends); `--threads 1` (one core per run, e.g. a job of a sweep) keeps the learner on one.
    if rayon::current_num_threads() == 1 {
        agent.set_overlap(false);
    }
    if resume && root {
        write_atomic(
            &dir.join("config.json"),
            &serde_json::to_string_pretty(config).map_err(|e| usage(e.to_string()))?,
        )?;
    }
    Ok(agent)
}

/// Writes a finished run's `summary.json` and `curve.png`.
fn finish_run_dir(dir: &Path, summary: &TrainSummary) -> Result<()> {
    let line = serde_json::json!({
        "env": summary.env,
        "algo": summary.algo,
        "steps": summary.steps,
        "wall_s": summary.wall_s,
        "final_eval_mean": summary.final_eval.mean_return,
        "final_eval_std": summary.final_eval.std_return,
    });
    write_atomic(&dir.join("summary.json"), &format!("{line}\n"))?;
    crate::plot::plot_runs(
        &[dir.to_path_buf()],
        "charts/episodic_return",
        &dir.join("curve.png"),
    )?;
    Ok(())
}

/// The manifest of a group folder (`group.json`): several seeds of one config trained by one
/// `cinder train --seeds` command, each in an ordinary run folder `seed_<seed>/`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Group {
    /// Environment id.
    pub env: String,
    /// Algorithm name.
    pub algo: String,
    /// The seeds, in the order given.
    pub seeds: Vec<u64>,
}

impl Group {
    /// The file in a group folder.
    pub const FILE: &'static str = "group.json";

    /// The run folder of `seed` in group folder `dir`.
    pub fn run_dir(dir: &Path, seed: u64) -> PathBuf {
        dir.join(format!("seed_{seed}"))
    }

    /// The group in `dir`, or `None` when `dir` is not a group folder.
    ///
    /// # Errors
    /// A damaged `group.json`.
    pub fn read(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join(Self::FILE);
        if !path.is_file() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| usage(format!("{} is damaged: {e}", path.display())))
    }

    /// Writes `group.json` into `dir`.
    ///
    /// # Errors
    /// I/O errors.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(|e| usage(e.to_string()))?;
        write_atomic(&dir.join(Self::FILE), &format!("{text}\n"))
    }
}

/// Reads `--seeds`: distinct seeds, at least one.
///
/// # Errors
/// An empty list or a repeated seed.
pub fn check_seeds(seeds: &[u64]) -> Result<()> {
    if seeds.is_empty() {
        return Err(usage("--seeds needs at least one seed, e.g. --seeds 0,1,2"));
    }
    for (i, s) in seeds.iter().enumerate() {
        if seeds[..i].contains(s) {
            return Err(usage(format!(
                "--seeds lists seed {s} twice; each seed is one run folder"
            )));
        }
    }
    Ok(())
}

/// A fresh group folder name: `runs/{env}__{algo}__seeds_{s0-s1-…}__{unix time}`.
pub fn default_group_dir(config: &TrainConfig, seeds: &[u64]) -> PathBuf {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let seeds: Vec<String> = seeds.iter().map(u64::to_string).collect();
    PathBuf::from("runs").join(format!(
        "{}__{}__seeds_{}__{now}",
        config.env_id,
        config.algo.name(),
        seeds.join("-")
    ))
}

/// How the seeds of a group were trained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupMode {
    /// Together: one stacked Fisher operator and one batched CG per update
    /// ([`cinder_algo::Lockstep`]).
    Lockstep,
    /// One after another, for the reason given.
    OneByOne(String),
}

/// What `cinder train --seeds` does once the group folder is settled: trains (or continues)
/// the run folder of every seed of `group` — `configs[i]` is seed `group.seeds[i]`'s config
/// — in lockstep for TRPO and NPG, one after another otherwise (or when lockstep refuses
/// the configs), then writes each run's `summary.json` and `curve.png`, and the group's
/// `curve.png` (mean and band over the seeds).
///
/// # Errors
/// Training or I/O failures.
pub fn train_group_in_dir<B: AutodiffBackend>(
    configs: &[TrainConfig],
    group: &Path,
    seeds: &[u64],
    resume: bool,
    mode: ProgressMode,
    actor: ActorPlacement,
    device: &B::Device,
) -> Result<(Vec<TrainSummary>, GroupMode)> {
    let dirs: Vec<PathBuf> = seeds.iter().map(|&s| Group::run_dir(group, s)).collect();
    let mut agents = Vec::with_capacity(configs.len());
    for (config, dir) in configs.iter().zip(&dirs) {
        if !resume {
            create_run_dir(dir)?;
        }
        agents.push(open_agent::<B>(
            config,
            dir,
            resume,
            actor,
            device,
            cinder_algo::comm::single_process(),
        )?);
    }
    let multi = indicatif::MultiProgress::new();
    let mut progress: Vec<Progress> = agents
        .iter()
        .zip(seeds)
        .map(|(a, s)| {
            Progress::new(mode, a.config().total_timesteps, a.global_step())
                .labelled(&format!("seed {s}"), &multi)
        })
        .collect();
    let natural = matches!(configs[0].algo, AlgoConfig::Trpo(_) | AlgoConfig::Npg(_));
    let start = Instant::now();
    let (summaries, how) = if agents.iter().all(|a| matches!(a, MlpAgent::Gaussian(_))) {
        train_together(
            agents
                .into_iter()
                .filter_map(|a| match a {
                    MlpAgent::Gaussian(t) => Some(t),
                    MlpAgent::Categorical(_) => None,
                })
                .collect(),
            &mut progress,
            natural,
        )?
    } else {
        train_together(
            agents
                .into_iter()
                .filter_map(|a| match a {
                    MlpAgent::Categorical(t) => Some(t),
                    MlpAgent::Gaussian(_) => None,
                })
                .collect(),
            &mut progress,
            natural,
        )?
    };
    for p in &progress {
        if let Some(bar) = &p.bar {
            bar.finish_and_clear();
        }
    }
    for (dir, summary) in dirs.iter().zip(&summaries) {
        finish_run_dir(dir, summary)?;
    }
    crate::plot::plot_runs(&dirs, "charts/episodic_return", &group.join("curve.png"))?;
    let means: Vec<f64> = summaries.iter().map(|s| s.final_eval.mean_return).collect();
    let (mean, std) = mean_std(&means);
    let line = serde_json::json!({
        "env": configs[0].env_id,
        "algo": configs[0].algo.name(),
        "seeds": seeds,
        "lockstep": how == GroupMode::Lockstep,
        "steps": summaries.iter().map(|s| s.steps).collect::<Vec<_>>(),
        "wall_s": start.elapsed().as_secs_f64(),
        "final_eval_means": means,
        "final_eval_mean": mean,
        "final_eval_std": std,
    });
    write_atomic(&group.join("summary.json"), &format!("{line}\n"))?;
    Ok((summaries, how))
}

/// Mean and (population) standard deviation.
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// Trains `trainers` in lockstep when `natural` (TRPO, NPG) and [`Lockstep::check`] accepts
/// them, else one after another.
fn train_together<B, P>(
    trainers: Vec<Trainer<B, P>>,
    progress: &mut [Progress],
    natural: bool,
) -> Result<(Vec<TrainSummary>, GroupMode)>
where
    B: AutodiffBackend,
    P: AgentPolicy<B>,
    P::InnerModule: MlpPolicy<B::InnerBackend>,
{
    let refused = if natural {
        Lockstep::check(&trainers).err().map(|e| e.to_string())
    } else {
        Some("lockstep batches the Fisher solves of TRPO and NPG; this algorithm has none".into())
    };
    match refused {
        None => {
            let mut group = Lockstep::new(trainers)?;
            let mut callbacks: Vec<&mut dyn Callback> = progress
                .iter_mut()
                .map(|p| p as &mut dyn Callback)
                .collect();
            Ok((group.train(&mut callbacks)?, GroupMode::Lockstep))
        }
        Some(why) => {
            let mut summaries = Vec::with_capacity(trainers.len());
            for (mut trainer, p) in trainers.into_iter().zip(progress.iter_mut()) {
                summaries.push(trainer.train(p)?);
            }
            Ok((summaries, GroupMode::OneByOne(why)))
        }
    }
}

/// What `cinder eval --video` records.
#[derive(Debug, Clone)]
pub struct VideoSpec {
    /// The GIF to write.
    pub path: PathBuf,
    /// Size and camera.
    pub options: cinder_env::RenderOptions,
    /// Frames per second of the video (default: 25, or the env's rate if lower).
    pub fps: Option<f64>,
}

impl VideoSpec {
    /// Checks the file name before anything runs.
    ///
    /// # Errors
    /// A path that is not a `.gif`, a folder that does not exist, a bad fps or size.
    pub fn check(&self) -> Result<()> {
        match self.path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("gif") => {}
            Some(e) if e.eq_ignore_ascii_case("mp4") => {
                return Err(usage(format!(
                    "--video {}: cinder writes GIF only (MP4 needs an H.264 encoder, which                      no pure-Rust crate provides without a system library); use a .gif path",
                    self.path.display()
                )));
            }
            _ => {
                return Err(usage(format!(
                    "--video {}: give a .gif path",
                    self.path.display()
                )));
            }
        }
        let parent = cinder_algo::fsio::parent_of(&self.path);
        if !parent.is_dir() {
            return Err(usage(format!(
                "--video {}: the folder {} does not exist",
                self.path.display(),
                parent.display()
            )));
        }
        if let Some(f) = self.fps {
            cinder_algo::video::check_fps(f)?;
        }
        self.options
            .size((1, 1))
            .map_err(|e| usage(format!("--width/--height: {e}")))?;
        Ok(())
    }
}

/// `cinder eval`: loads the latest checkpoint of a run folder and evaluates it with the
/// saved normaliser statistics. With `video`, the same episodes are also drawn and written,
/// one after another, into one GIF; the number of frames written comes back.
///
/// # Errors
/// A folder without checkpoints, a damaged checkpoint, env failures; with `video`, a bad
/// video path or options, an env that cannot draw itself (no EGL for MuJoCo), I/O.
pub fn eval_run<B: AutodiffBackend>(
    dir: &Path,
    episodes: usize,
    deterministic: bool,
    seed: u64,
    actor: ActorPlacement,
    video: Option<&VideoSpec>,
    device: &B::Device,
) -> Result<(EvalResult, Option<usize>)> {
    if let Some(v) = video {
        v.check()?;
    }
    if !dir.is_dir() {
        return Err(usage(format!("--run {}: no such folder", dir.display())));
    }
    let checkpoint = latest_checkpoint(dir)?;
    let mut agent = MlpAgent::<B>::open_checkpoint(&checkpoint, device)?;
    actor.install(&mut agent)?;
    let Some(video) = video else {
        return Ok((
            agent.evaluate_episodes(episodes, deterministic, seed)?,
            None,
        ));
    };
    let env_fps = agent
        .render_fps()
        .unwrap_or(cinder_algo::video::DEFAULT_FPS);
    let stride = cinder_algo::video::frame_stride(env_fps, video.fps)?;
    let record = cinder_algo::Recording {
        options: video.options,
        stride,
    };
    let (result, episodes_frames) =
        agent.record_episodes(episodes, deterministic, seed, Some(&record))?;
    let frames: Vec<_> = episodes_frames.into_iter().flatten().collect();
    cinder_algo::video::write_gif(&video.path, &frames, env_fps / stride as f64)?;
    Ok((result, Some(frames.len())))
}

/// The algorithm name of a config, as `--algo` takes it.
pub fn algo_name(config: &TrainConfig) -> &'static str {
    config.algo.name()
}

/// Checks a `--algo` name early, with the list of known ones.
///
/// # Errors
/// An unknown name.
pub fn check_algo(name: &str) -> Result<()> {
    AlgoConfig::from_name(name)
        .map(|_| ())
        .map_err(RunError::from)
}
