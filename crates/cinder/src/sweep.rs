//! `cinder sweep`: a grid or random search over config values × seeds.
//!
//! Every run is an ordinary run folder (`runs/<config>/seed_<s>/`) trained by a `cinder train`
//! child process, `jobs` at a time, each on `threads` cores. The sweep folder keeps what was
//! asked (`sweep.json`) and every result (`state.json`), so repeating the command continues
//! the sweep: finished runs are skipped, interrupted ones resumed from their checkpoints. With
//! successive halving, all configs train to the first rung's step count, the better half (by
//! the mean final evaluation over seeds) continues to twice that, and so on up to the budget;
//! a run stopped at a rung keeps its config's full budget and schedules (`train --stop-at`),
//! so continuing it is the same run as training it in one go. The sweep ends with
//! `summary.csv`, `summary.md` and `curves.png` (the best configs, mean ± std over seeds).

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::run::{self, Overrides, Result, RunError, mean_std, write_atomic};

fn usage(msg: impl Into<String>) -> RunError {
    RunError::Usage(msg.into())
}

/// What a sweep searches; saved as `sweep.json`, so that repeating the command continues the
/// same sweep and a different one is refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepSpec {
    /// Environment id.
    pub env: String,
    /// Algorithm name.
    pub algo: String,
    /// The grid: each key with the values to try, in the order given.
    pub grid: Vec<(String, Vec<String>)>,
    /// `key=value` overrides every config shares.
    pub sets: Vec<String>,
    /// Seeds of every config.
    pub seeds: Vec<u64>,
    /// Env steps per run (`None`: the preset's budget).
    pub steps: Option<u64>,
    /// Successive halving: the first rung's env steps.
    pub halving: Option<u64>,
    /// Random search: this many configs drawn from the grid (without repetition).
    pub random: Option<usize>,
    /// Seed of the random draw.
    pub random_seed: u64,
    /// `--preset` of every run (`None`: cinder's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
}

impl SweepSpec {
    /// The `--preset` of the runs.
    ///
    /// # Errors
    /// An unknown preset name.
    pub fn preset_source(&self) -> Result<cinder_algo::PresetSource> {
        self.preset
            .as_deref()
            .map_or(Ok(cinder_algo::PresetSource::Cinder), str::parse)
            .map_err(usage)
    }
}

/// How a sweep runs (may change between invocations of the same sweep).
#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// Runs at a time.
    pub jobs: usize,
    /// Worker threads of each run.
    pub threads: usize,
    /// Backend of the runs.
    pub backend: String,
    /// The `cinder` binary the runs are started with.
    pub exe: PathBuf,
    /// Print nothing but errors.
    pub quiet: bool,
}

/// One point of the grid: `(key, value)` pairs in the grid's key order.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepConfig {
    /// Position in the grid's enumeration (last key fastest).
    pub index: usize,
    /// The values of this config.
    pub pairs: Vec<(String, String)>,
}

impl SweepConfig {
    /// `key=value;key=value`, the `config` column of `summary.csv`.
    pub fn label(&self) -> String {
        self.pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(";")
    }

    /// The folder of this config's runs: its index and its values, file-name safe.
    pub fn dir_name(&self) -> String {
        if self.pairs.is_empty() {
            return format!("c{:03}", self.index);
        }
        let safe: String = self
            .label()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "=.-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .take(80)
            .collect();
        format!("c{:03}_{safe}", self.index)
    }

    /// The `--set` arguments of this config (after the sweep's own).
    fn sets(&self, spec: &SweepSpec) -> Vec<String> {
        let mut sets = spec.sets.clone();
        sets.extend(self.pairs.iter().map(|(k, v)| format!("{k}={v}")));
        sets
    }
}

/// Splits `v1,v2,…` at the commas outside brackets and quotes (`[64,64]` is one value).
fn split_values(text: &str) -> Vec<String> {
    let (mut values, mut current, mut depth, mut quoted) = (Vec::new(), String::new(), 0i32, false);
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            '[' | '{' if !quoted => depth += 1,
            ']' | '}' if !quoted => depth -= 1,
            ',' if depth == 0 && !quoted => {
                values.push(std::mem::take(&mut current).trim().to_string());
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    values.push(current.trim().to_string());
    values
}

/// Reads `--grid key=v1,v2` arguments.
///
/// # Errors
/// A missing `=`, an empty or repeated value, a key given twice, `seed`/`total_timesteps`
/// (use `--seeds`/`--steps`).
pub fn parse_grid(args: &[String]) -> Result<Vec<(String, Vec<String>)>> {
    let mut grid: Vec<(String, Vec<String>)> = Vec::new();
    for arg in args {
        let (key, values) = arg.split_once('=').ok_or_else(|| {
            usage(format!(
                "--grid {arg}: write key=v1,v2,…, e.g. --grid gamma=0.98,0.99"
            ))
        })?;
        let key = key.trim().to_string();
        if key.is_empty() {
            return Err(usage(format!("--grid {arg}: the key is empty")));
        }
        if key == "seed" || key == "total_timesteps" {
            return Err(usage(format!(
                "--grid {key}: give seeds with --seeds and the budget with --steps"
            )));
        }
        let values = split_values(values);
        if values.iter().any(String::is_empty) {
            return Err(usage(format!(
                "--grid {arg}: every value must be non-empty (e.g. --grid {key}=0.1,0.2)"
            )));
        }
        for (i, v) in values.iter().enumerate() {
            if values[..i].contains(v) {
                return Err(usage(format!("--grid {arg}: value {v} is given twice")));
            }
        }
        if grid.iter().any(|(k, _)| *k == key) {
            return Err(usage(format!(
                "--grid {key} is given twice; list all its values in one --grid"
            )));
        }
        grid.push((key, values));
    }
    Ok(grid)
}

/// The configs of a sweep: the whole grid, or `spec.random` of them drawn without
/// repetition (in grid order).
///
/// # Errors
/// A grid of more than a million points.
pub fn configs(spec: &SweepSpec) -> Result<Vec<SweepConfig>> {
    let total = spec
        .grid
        .iter()
        .try_fold(1usize, |n, (_, values)| n.checked_mul(values.len()))
        .filter(|&n| n <= 1_000_000)
        .ok_or_else(|| usage("the grid has more than a million points; use fewer values"))?;
    let indices: Vec<usize> = match spec.random {
        Some(k) if k < total => {
            // A fixed algorithm: the same `--random-seed` draws the same configs in every build.
            let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(spec.random_seed);
            let mut picked = rand::seq::index::sample(&mut rng, total, k).into_vec();
            picked.sort_unstable();
            picked
        }
        _ => (0..total).collect(),
    };
    Ok(indices
        .into_iter()
        .map(|index| {
            let mut rest = index;
            let mut pairs = vec![(String::new(), String::new()); spec.grid.len()];
            for (slot, (key, values)) in pairs.iter_mut().zip(&spec.grid).rev() {
                *slot = (key.clone(), values[rest % values.len()].clone());
                rest /= values.len();
            }
            SweepConfig { index, pairs }
        })
        .collect())
}

/// Checks every config before anything runs: each must resolve (known keys, values of the
/// right type, a valid config) and make its env. Returns the run budget in env steps.
///
/// # Errors
/// The first config that does not resolve, named; a halving rung not below the budget;
/// configs with different budgets.
pub fn validate(spec: &SweepSpec, configs: &[SweepConfig]) -> Result<u64> {
    run::check_algo(&spec.algo)?;
    run::check_seeds(&spec.seeds)?;
    if configs.is_empty() {
        return Err(usage("the sweep has no config (--random 0?)"));
    }
    cinder_env::make(&spec.env, 1, Some(0)).map_err(|e| usage(e.to_string()))?;
    let mut budget = None;
    for c in configs {
        let overrides = Overrides {
            sets: c.sets(spec),
            total_timesteps: spec.steps,
            seed: Some(spec.seeds[0]),
            preset: spec.preset_source()?,
            ..Overrides::default()
        };
        let config = run::resolve_config(&spec.env, &spec.algo, &overrides).map_err(|e| {
            if spec.grid.is_empty() {
                e
            } else {
                usage(format!("config `{}`: {e}", c.label()))
            }
        })?;
        if budget.is_none() {
            cinder_algo::make_env(&config, 1, 0).map_err(|e| usage(e.to_string()))?;
        }
        if budget.is_some_and(|b| b != config.total_timesteps) {
            return Err(usage("the configs have different budgets; give --steps"));
        }
        budget = Some(config.total_timesteps);
    }
    let budget = budget.unwrap_or_default();
    if let Some(h) = spec.halving
        && (h == 0 || h >= budget)
    {
        return Err(usage(format!(
            "--halving {h} must lie between 1 and the budget of {budget} steps (the first rung)"
        )));
    }
    Ok(budget)
}

/// The step counts at which configs are compared: `h, 2h, 4h, …` below the budget, then the
/// budget (only the budget without halving).
pub fn rungs(halving: Option<u64>, budget: u64) -> Vec<u64> {
    let mut rungs = Vec::new();
    if let Some(h) = halving {
        let mut at = h;
        while at < budget {
            rungs.push(at);
            at = at.saturating_mul(2);
        }
    }
    rungs.push(budget);
    rungs
}

/// The rungs before the budget, `"h, 2h, …"`; `None` without halving.
fn halving_points(rungs: &[u64]) -> Option<String> {
    (rungs.len() > 1).then(|| {
        rungs[..rungs.len() - 1]
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// A run's result at one rung.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RungResult {
    /// Env steps trained.
    pub steps: u64,
    /// Mean return of the final evaluation.
    pub eval_mean: f64,
    /// Its standard deviation over episodes.
    pub eval_std: f64,
    /// Wall-clock of the segment that reached this rung.
    pub wall_s: f64,
}

/// Every result so far (`state.json`): run key (`<config dir>/seed_<s>`) → rung → result.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    runs: BTreeMap<String, BTreeMap<u64, RungResult>>,
}

/// One config's line of the summary.
#[derive(Debug, Clone)]
pub struct Ranked {
    /// The config.
    pub config: SweepConfig,
    /// Env steps its runs reached (the last rung all its seeds finished).
    pub steps: u64,
    /// Seeds with a result at `steps`.
    pub seeds: Vec<u64>,
    /// Mean over seeds of the final evaluation at `steps`.
    pub mean: f64,
    /// Standard deviation over seeds.
    pub std: f64,
    /// Mean wall-clock per run (all its segments).
    pub wall_s: f64,
}

/// The sweep folder's layout.
struct Layout {
    out: PathBuf,
}

impl Layout {
    fn run_key(c: &SweepConfig, seed: u64) -> String {
        format!("{}/seed_{seed}", c.dir_name())
    }
    fn run_dir(&self, c: &SweepConfig, seed: u64) -> PathBuf {
        self.out
            .join("runs")
            .join(c.dir_name())
            .join(format!("seed_{seed}"))
    }
    fn log(&self, c: &SweepConfig, seed: u64) -> PathBuf {
        self.out
            .join("logs")
            .join(format!("{}_seed_{seed}.log", c.dir_name()))
    }
}

/// Opens (or continues) the sweep folder: writes `sweep.json`, or checks that the saved one
/// is this sweep.
fn open_folder(out: &Path, spec: &SweepSpec) -> Result<State> {
    let spec_path = out.join("sweep.json");
    if spec_path.is_file() {
        let text = std::fs::read_to_string(&spec_path)
            .map_err(|e| usage(format!("cannot read {}: {e}", spec_path.display())))?;
        let saved: SweepSpec = serde_json::from_str(&text)
            .map_err(|e| usage(format!("{} is damaged: {e}", spec_path.display())))?;
        if saved != *spec {
            let (a, b) = (
                serde_json::to_value(&saved).unwrap_or_default(),
                serde_json::to_value(spec).unwrap_or_default(),
            );
            let field = a
                .as_object()
                .and_then(|o| o.iter().find(|(k, v)| b.get(k.as_str()) != Some(v)))
                .map_or("?".to_string(), |(k, v)| {
                    format!("`{k}`: saved {v}, given {}", b[k.as_str()])
                });
            return Err(usage(format!(
                "{} holds another sweep ({field}); repeat its command to continue it, or choose \
                 another --out",
                out.display()
            )));
        }
        let state_path = out.join("state.json");
        if !state_path.is_file() {
            return Ok(State::default());
        }
        let text = std::fs::read_to_string(&state_path)
            .map_err(|e| usage(format!("cannot read {}: {e}", state_path.display())))?;
        return serde_json::from_str(&text)
            .map_err(|e| usage(format!("{} is damaged: {e}", state_path.display())));
    }
    let empty = std::fs::read_dir(out).map_or(true, |mut d| d.next().is_none());
    if !empty {
        return Err(usage(format!(
            "--out {} exists and is not a sweep folder; choose another --out",
            out.display()
        )));
    }
    std::fs::create_dir_all(out.join("logs"))
        .map_err(|e| usage(format!("cannot create {}: {e}", out.display())))?;
    let text = serde_json::to_string_pretty(spec).map_err(|e| usage(e.to_string()))?;
    write_atomic(&spec_path, &format!("{text}\n"))?;
    Ok(State::default())
}

fn save_state(out: &Path, state: &State) -> Result<()> {
    let text = serde_json::to_string_pretty(state).map_err(|e| usage(e.to_string()))?;
    write_atomic(&out.join("state.json"), &format!("{text}\n"))
}

/// The `summary.json` of a run folder: steps, final evaluation, wall-clock.
fn read_summary(dir: &Path) -> Option<RungResult> {
    let text = std::fs::read_to_string(dir.join("summary.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(RungResult {
        steps: v["steps"].as_u64()?,
        eval_mean: v["final_eval_mean"].as_f64()?,
        eval_std: v["final_eval_std"].as_f64()?,
        wall_s: v["wall_s"].as_f64()?,
    })
}

/// A run to train up to a rung.
struct Job {
    config: SweepConfig,
    seed: u64,
    rung: u64,
    last_rung: bool,
}

/// Starts `job` as a `cinder train` child: a new run, or the continuation of its folder.
fn start(job: &Job, spec: &SweepSpec, opts: &SweepOptions, layout: &Layout) -> Result<Child> {
    let dir = layout.run_dir(&job.config, job.seed);
    let mut cmd = Command::new(&opts.exe);
    cmd.arg("train");
    if dir.join("config.json").is_file() {
        cmd.arg("--resume").arg(&dir);
    } else {
        // A folder without a config holds nothing of a run (it died before writing one).
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .map_err(|e| usage(format!("cannot clear {}: {e}", dir.display())))?;
        }
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| usage(format!("cannot create {}: {e}", parent.display())))?;
        }
        cmd.args(["--env", &spec.env, "--algo", &spec.algo])
            .arg("--seed")
            .arg(job.seed.to_string())
            .arg("--out")
            .arg(&dir);
        if let Some(p) = &spec.preset {
            cmd.arg("--preset").arg(p);
        }
        for set in job.config.sets(spec) {
            cmd.arg("--set").arg(set);
        }
    }
    if let Some(steps) = spec.steps {
        cmd.arg("--steps").arg(steps.to_string());
    }
    if !job.last_rung {
        cmd.arg("--stop-at").arg(job.rung.to_string());
    }
    cmd.args(["--backend", &opts.backend, "--quiet", "--threads"])
        .arg(opts.threads.to_string());
    let log_path = layout.log(&job.config, job.seed);
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| usage(format!("cannot open {}: {e}", log_path.display())))?;
    let _ = writeln!(log, "# {cmd:?}");
    let err = log
        .try_clone()
        .map_err(|e| usage(format!("{}: {e}", log_path.display())))?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(err));
    die_with_parent(&mut cmd);
    cmd.spawn()
        .map_err(|e| usage(format!("cannot start {}: {e}", opts.exe.display())))
}

/// A run must not outlive the sweep that started it: if the sweep is killed, so is the run
/// (its checkpoint lets the next invocation continue it), and it cannot then write into a
/// folder a new invocation is using.
#[cfg(target_os = "linux")]
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches only the child's own process state.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_cmd: &mut Command) {}

/// The last lines of a run's log, for an error message.
fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().filter(|l| !l.starts_with("# ")).collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Runs a sweep to its end (or continues it) and writes the summary; returns the ranking.
///
/// # Errors
/// A bad sweep (nothing runs then), a folder of another sweep, runs that failed (the others
/// finish first; their logs are named), I/O errors.
pub fn run_sweep(spec: &SweepSpec, opts: &SweepOptions, out: &Path) -> Result<Vec<Ranked>> {
    let configs = configs(spec)?;
    let budget = validate(spec, &configs)?;
    let mut state = open_folder(out, spec)?;
    let layout = Layout {
        out: out.to_path_buf(),
    };
    let rungs = rungs(spec.halving, budget);
    let say = |line: String| {
        if !opts.quiet {
            println!("{line}");
        }
    };
    say(format!(
        "sweep: {} configs × {} seeds of {} on {}, {budget} steps{}; {} jobs × {} threads → {}",
        configs.len(),
        spec.seeds.len(),
        spec.algo,
        spec.env,
        halving_points(&rungs).map_or(String::new(), |at| format!(", halving at {at}")),
        opts.jobs,
        opts.threads,
        out.display()
    ));
    let mut alive: Vec<SweepConfig> = configs.clone();
    let mut failures = Vec::new();
    for (r, &rung) in rungs.iter().enumerate() {
        let last_rung = r + 1 == rungs.len();
        let mut queue = VecDeque::new();
        let mut done = 0;
        for c in &alive {
            for &seed in &spec.seeds {
                let key = Layout::run_key(c, seed);
                if state.runs.get(&key).is_some_and(|m| m.contains_key(&rung)) {
                    done += 1;
                    continue;
                }
                // A run that finished while no sweep was watching (the sweep was killed
                // after it): its summary is this rung's result.
                if let Some(s) = read_summary(&layout.run_dir(c, seed))
                    && s.steps >= rung
                    && (last_rung || s.steps < rungs[r + 1])
                {
                    state.runs.entry(key).or_default().insert(rung, s);
                    done += 1;
                    continue;
                }
                queue.push_back(Job {
                    config: c.clone(),
                    seed,
                    rung,
                    last_rung,
                });
            }
        }
        save_state(out, &state)?;
        let total = done + queue.len();
        if done > 0 {
            say(format!(
                "rung {rung} steps: {done}/{total} runs done already"
            ));
        }
        let mut running: Vec<(Job, Child, Instant)> = Vec::new();
        while !queue.is_empty() || !running.is_empty() {
            while running.len() < opts.jobs
                && let Some(job) = queue.pop_front()
            {
                let child = start(&job, spec, opts, &layout)?;
                running.push((job, child, Instant::now()));
            }
            std::thread::sleep(Duration::from_millis(20));
            let mut i = 0;
            while i < running.len() {
                let status = running[i]
                    .1
                    .try_wait()
                    .map_err(|e| usage(format!("waiting for a run: {e}")))?;
                let Some(status) = status else {
                    i += 1;
                    continue;
                };
                let (job, _, started) = running.swap_remove(i);
                let wall = started.elapsed().as_secs_f64();
                let dir = layout.run_dir(&job.config, job.seed);
                let result = read_summary(&dir).filter(|s| s.steps >= job.rung);
                match (status.success(), result) {
                    (true, Some(mut s)) => {
                        s.wall_s = wall;
                        done += 1;
                        say(format!(
                            "[{done}/{total}] {} seed {}: {:.1} ± {:.1} at {} steps ({wall:.0} s)",
                            job.config.label(),
                            job.seed,
                            s.eval_mean,
                            s.eval_std,
                            s.steps
                        ));
                        state
                            .runs
                            .entry(Layout::run_key(&job.config, job.seed))
                            .or_default()
                            .insert(job.rung, s);
                        save_state(out, &state)?;
                    }
                    _ => {
                        let log = layout.log(&job.config, job.seed);
                        failures.push(format!(
                            "{} seed {} ({status}); log {}:\n{}",
                            job.config.label(),
                            job.seed,
                            log.display(),
                            tail(&log, 5)
                        ));
                    }
                }
            }
        }
        if !failures.is_empty() {
            break;
        }
        if !last_rung {
            let ranked = rank(&alive, spec, &state, &[rung]);
            let before = alive.len();
            let keep = before.div_ceil(2);
            alive = ranked.into_iter().take(keep).map(|r| r.config).collect();
            alive.sort_by_key(|c| c.index);
            say(format!(
                "rung {rung} steps: the best {keep} of {before} configs continue"
            ));
        }
    }
    let ranked = rank(&configs, spec, &state, &rungs);
    write_summary(out, spec, budget, &rungs, &ranked, &configs)?;
    plot_best(out, spec, &layout, &ranked)?;
    say(format!(
        "wrote {}, {} and {}",
        out.join("summary.csv").display(),
        out.join("summary.md").display(),
        out.join("curves.png").display()
    ));
    if !failures.is_empty() {
        return Err(usage(format!(
            "{} run(s) failed; repeat the command to retry them:\n{}",
            failures.len(),
            failures.join("\n")
        )));
    }
    Ok(ranked)
}

/// Ranks `configs` by how far all their seeds got (the last of `rungs` with a result for
/// every seed), then by mean evaluation there, then by grid order.
fn rank(configs: &[SweepConfig], spec: &SweepSpec, state: &State, rungs: &[u64]) -> Vec<Ranked> {
    let mut ranked: Vec<Ranked> = configs
        .iter()
        .filter_map(|c| {
            let runs: Vec<&BTreeMap<u64, RungResult>> = spec
                .seeds
                .iter()
                .filter_map(|&s| state.runs.get(&Layout::run_key(c, s)))
                .collect();
            let reached = rungs.iter().rev().find(|r| {
                runs.len() == spec.seeds.len() && runs.iter().all(|m| m.contains_key(r))
            })?;
            let evals: Vec<f64> = runs.iter().map(|m| m[reached].eval_mean).collect();
            let walls: Vec<f64> = runs
                .iter()
                .map(|m| m.values().map(|r| r.wall_s).sum())
                .collect();
            let (mean, std) = mean_std(&evals);
            Some(Ranked {
                config: c.clone(),
                steps: *reached,
                seeds: spec.seeds.clone(),
                mean,
                std,
                wall_s: mean_std(&walls).0,
            })
        })
        .collect();
    ranked.sort_by(|a, b| {
        b.steps
            .cmp(&a.steps)
            .then(b.mean.total_cmp(&a.mean))
            .then(a.config.index.cmp(&b.config.index))
    });
    ranked
}

/// A CSV cell: quoted when it holds a comma or a quote.
fn csv_cell(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

fn write_summary(
    out: &Path,
    spec: &SweepSpec,
    budget: u64,
    rungs: &[u64],
    ranked: &[Ranked],
    configs: &[SweepConfig],
) -> Result<()> {
    let mut csv = String::from("config,seeds,mean,std,wall_s,steps\n");
    for r in ranked {
        csv.push_str(&format!(
            "{},{},{},{},{:.1},{}\n",
            csv_cell(&r.config.label()),
            r.seeds.len(),
            r.mean,
            r.std,
            r.wall_s,
            r.steps
        ));
    }
    write_atomic(&out.join("summary.csv"), &csv)?;
    let seeds = spec
        .seeds
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let mut md = format!(
        "# Sweep: {} on {}\n\n{} configs × seeds {seeds}, {budget} env steps per run{}. Each \
         run's score is its final deterministic evaluation; mean ± std over seeds; wall-clock \
         per run (of the training processes this sweep watched). Best first{}.\n\n| rank | config | mean ± std | seeds | steps | wall-clock |\n\
         |---|---|---|---|---|---|\n",
        spec.algo,
        spec.env,
        configs.len(),
        halving_points(rungs).map_or(String::new(), |at| format!(
            ", successive halving at {at} steps (the better half of each rung continues)"
        )),
        if rungs.len() > 1 {
            "; configs stopped at a rung follow those that reached the budget"
        } else {
            ""
        }
    );
    for (i, r) in ranked.iter().enumerate() {
        let label = r.config.label();
        md.push_str(&format!(
            "| {} | {} | {:.1} ± {:.1} | {} | {}{} | {:.0} s |\n",
            i + 1,
            if label.is_empty() {
                config_name(&r.config, spec)
            } else {
                format!("`{label}`")
            },
            r.mean,
            r.std,
            r.seeds.len(),
            r.steps,
            if r.steps < budget { " (stopped)" } else { "" },
            r.wall_s
        ));
    }
    let missing: Vec<String> = configs
        .iter()
        .filter(|c| !ranked.iter().any(|r| r.config.index == c.index))
        .map(|c| format!("`{}`", c.label()))
        .collect();
    if !missing.is_empty() {
        md.push_str(&format!(
            "\nNot finished (a run failed or is still to run): {}.\n",
            missing.join(", ")
        ));
    }
    if let Some(best) = ranked.first() {
        let mut command = format!("cinder train --env {} --algo {}", spec.env, spec.algo);
        for set in best.config.sets(spec) {
            command.push_str(&format!(" --set '{set}'"));
        }
        if let Some(steps) = spec.steps {
            command.push_str(&format!(" --steps {steps}"));
        }
        md.push_str(&format!(
            "\nThe best config, as one run:\n\n```bash\n{command} --seed S\n```\n"
        ));
    }
    write_atomic(&out.join("summary.md"), &md)
}

/// How many configs `curves.png` shows (the best ones): more lines are not readable.
const PLOTTED: usize = 8;

fn plot_best(out: &Path, spec: &SweepSpec, layout: &Layout, ranked: &[Ranked]) -> Result<()> {
    let mut curves = Vec::new();
    for r in ranked.iter().take(PLOTTED) {
        for &seed in &spec.seeds {
            let mut curve = crate::plot::read_curve(
                &layout.run_dir(&r.config, seed),
                "charts/episodic_return",
            )?;
            curve.group = if r.config.pairs.is_empty() {
                format!("{} · {}", spec.algo, spec.env)
            } else {
                r.config.label()
            };
            curves.push(curve);
        }
    }
    crate::plot::plot_curves(&curves, "charts/episodic_return", &out.join("curves.png"))
}

/// How a config reads in a legend or in `summary.md`: its grid values (`key=value;…`), or,
/// in a sweep without `--grid`, `the preset` and the sweep's `--set` values that change what
/// is learned (not `eval_episodes` and the others a plot leaves out).
fn config_name(c: &SweepConfig, spec: &SweepSpec) -> String {
    if !c.pairs.is_empty() {
        return c.label();
    }
    let learned: Vec<&str> = spec
        .sets
        .iter()
        .map(String::as_str)
        .filter(|set| {
            let key = set.split_once('=').map_or(*set, |(k, _)| k);
            !crate::plot::RECORDING.contains(&key.trim())
        })
        .collect();
    if learned.is_empty() {
        "the preset".to_string()
    } else {
        format!("the preset with {}", learned.join(";"))
    }
}

/// The curves of a sweep folder's runs that have started, grouped by config: each curve's
/// [`group`](crate::plot::Curve::group) is the config's name ([`config_name`]: its grid
/// values, or `the preset` and the sweep's learning `--set` values for a sweep without
/// `--grid`), after `prefix · ` when one is given.
///
/// # Errors
/// A folder that is not a sweep folder, unreadable runs, a metric a run did not log.
pub fn sweep_curves(
    dir: &Path,
    metric: &str,
    prefix: Option<&str>,
) -> Result<Vec<crate::plot::Curve>> {
    let text = std::fs::read_to_string(dir.join("sweep.json"))
        .map_err(|e| usage(format!("{}: {e}", dir.join("sweep.json").display())))?;
    let spec: SweepSpec = serde_json::from_str(&text)
        .map_err(|e| usage(format!("{}/sweep.json is damaged: {e}", dir.display())))?;
    let layout = Layout {
        out: dir.to_path_buf(),
    };
    let mut curves = Vec::new();
    for c in configs(&spec)? {
        let label = config_name(&c, &spec);
        let group = match prefix {
            Some(p) => format!("{p} · {label}"),
            None => label,
        };
        for &seed in &spec.seeds {
            let run = layout.run_dir(&c, seed);
            if !run.join("config.json").is_file() {
                continue;
            }
            let mut curve = crate::plot::read_curve(&run, metric)?;
            curve.group.clone_from(&group);
            curves.push(curve);
        }
    }
    Ok(curves)
}

/// Whether `dir` is a sweep folder.
pub fn is_sweep(dir: &Path) -> bool {
    dir.join("sweep.json").is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(grid: &[&str]) -> SweepSpec {
        SweepSpec {
            env: "CartPole-v1".into(),
            algo: "ppo".into(),
            grid: parse_grid(&grid.iter().map(|g| g.to_string()).collect::<Vec<_>>()).unwrap(),
            sets: vec![],
            seeds: vec![0, 1],
            steps: Some(4096),
            halving: None,
            random: None,
            random_seed: 0,
            preset: None,
        }
    }

    #[test]
    fn the_preset_is_parsed_checked_and_optional_in_sweep_json() {
        let mut s = spec(&[]);
        assert_eq!(
            s.preset_source().unwrap(),
            cinder_algo::PresetSource::Cinder
        );
        // A sweep.json written before `preset` existed reads as cinder's preset.
        let mut old = serde_json::to_value(&s).unwrap();
        assert!(old.get("preset").is_none());
        old.as_object_mut().unwrap().remove("preset");
        assert_eq!(serde_json::from_value::<SweepSpec>(old).unwrap(), s);
        s.preset = Some("rl-zoo".into());
        assert_eq!(s.preset_source().unwrap(), cinder_algo::PresetSource::RlZoo);
        s.preset = Some("zoo".into());
        assert!(
            s.preset_source()
                .unwrap_err()
                .to_string()
                .contains("unknown preset")
        );
    }

    #[test]
    fn a_sweep_without_a_grid_is_named_by_what_its_sets_change() {
        let mut s = spec(&[]);
        let c = &configs(&s).unwrap()[0];
        assert_eq!(config_name(c, &s), "the preset");
        s.sets = vec!["eval_episodes=20".into(), "checkpoint_interval=5".into()];
        assert_eq!(config_name(c, &s), "the preset");
        s.sets.push("log_std_init=-1.0".into());
        s.sets.push("gamma=0.9999".into());
        assert_eq!(
            config_name(c, &s),
            "the preset with log_std_init=-1.0;gamma=0.9999"
        );
        // A grid's values name its configs; the sets are the whole sweep's.
        let g = spec(&["gamma=0.9,0.99"]);
        assert_eq!(config_name(&configs(&g).unwrap()[1], &g), "gamma=0.99");
    }

    #[test]
    fn the_grid_is_enumerated_last_key_fastest() {
        let s = spec(&["gamma=0.9,0.99", "policy_hidden=[32,32],[64,64],[8]"]);
        let c = configs(&s).unwrap();
        assert_eq!(c.len(), 6);
        assert_eq!(c[0].label(), "gamma=0.9;policy_hidden=[32,32]");
        assert_eq!(c[1].label(), "gamma=0.9;policy_hidden=[64,64]");
        assert_eq!(c[5].label(), "gamma=0.99;policy_hidden=[8]");
        assert_eq!(c[1].dir_name(), "c001_gamma=0.9_policy_hidden=_64_64_");
        assert!(c.iter().enumerate().all(|(i, c)| c.index == i));
    }

    #[test]
    fn a_random_search_draws_distinct_points_reproducibly() {
        let mut s = spec(&["gamma=0.9,0.95,0.99", "gae_lambda=0.9,0.95,0.98,1.0"]);
        s.random = Some(5);
        let a = configs(&s).unwrap();
        assert_eq!(a.len(), 5);
        assert!(a.windows(2).all(|w| w[0].index < w[1].index));
        assert_eq!(a, configs(&s).unwrap());
        s.random_seed = 1;
        assert_ne!(a, configs(&s).unwrap());
        s.random = Some(50);
        assert_eq!(configs(&s).unwrap().len(), 12);
    }

    #[test]
    fn bad_grids_are_refused_with_what_to_fix() {
        let err = |g: &str| parse_grid(&[g.to_string()]).unwrap_err().to_string();
        assert!(err("gamma").contains("write key=v1,v2"));
        assert!(err("gamma=").contains("every value must be non-empty"));
        assert!(err("gamma=0.9,,0.99").contains("every value must be non-empty"));
        assert!(err("gamma=0.9,0.9").contains("given twice"));
        assert!(err("seed=1,2").contains("--seeds"));
        let twice = parse_grid(&["gamma=0.9".into(), "gamma=0.99".into()]).unwrap_err();
        assert!(twice.to_string().contains("given twice"), "{twice}");
        // Unknown keys and values of the wrong type are found before anything runs.
        let s = spec(&["gamm=0.9,0.99"]);
        let msg = validate(&s, &configs(&s).unwrap()).unwrap_err().to_string();
        assert!(
            msg.contains("config `gamm=0.9`") && msg.contains("valid keys"),
            "{msg}"
        );
        let s = spec(&["n_epochs=2,many"]);
        let msg = validate(&s, &configs(&s).unwrap()).unwrap_err().to_string();
        assert!(msg.contains("config `n_epochs=many`"), "{msg}");
        let mut s = spec(&["gamma=0.9,0.99"]);
        s.halving = Some(4096);
        let msg = validate(&s, &configs(&s).unwrap()).unwrap_err().to_string();
        assert!(msg.contains("--halving 4096"), "{msg}");
    }

    #[test]
    fn rungs_double_up_to_the_budget() {
        assert_eq!(rungs(None, 1000), vec![1000]);
        assert_eq!(rungs(Some(200), 1000), vec![200, 400, 800, 1000]);
        assert_eq!(rungs(Some(500), 1000), vec![500, 1000]);
    }

    #[test]
    fn configs_rank_by_rung_then_mean() {
        let s = spec(&["gamma=0.9,0.95,0.99"]);
        let c = configs(&s).unwrap();
        let mut state = State::default();
        let r = |steps, eval_mean| RungResult {
            steps,
            eval_mean,
            eval_std: 0.0,
            wall_s: 1.0,
        };
        for (config, evals) in [(0, [10.0, 20.0]), (1, [30.0, 50.0]), (2, [5.0, 5.0])] {
            for (seed, e) in [0, 1].into_iter().zip(evals) {
                let runs = state
                    .runs
                    .entry(Layout::run_key(&c[config], seed))
                    .or_default();
                runs.insert(100, r(100, e));
                if config == 0 {
                    runs.insert(200, r(200, e - 5.0));
                }
            }
        }
        let ranked = rank(&c, &s, &state, &[100, 200]);
        let order: Vec<usize> = ranked.iter().map(|r| r.config.index).collect();
        // Config 0 reached the budget; 1 and 2 stopped at the first rung, 1 ahead of 2.
        assert_eq!(order, vec![0, 1, 2]);
        assert_eq!(
            (ranked[0].steps, ranked[0].mean, ranked[0].std),
            (200, 10.0, 5.0)
        );
        assert_eq!(ranked[0].wall_s, 2.0);
        assert_eq!((ranked[1].mean, ranked[1].std), (40.0, 10.0));
    }

    #[test]
    fn csv_cells_with_commas_are_quoted() {
        assert_eq!(csv_cell("gamma=0.9"), "gamma=0.9");
        assert_eq!(
            csv_cell("policy_hidden=[64,64]"),
            "\"policy_hidden=[64,64]\""
        );
    }
}
