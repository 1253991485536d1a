//! The `cinder` command line: a train → eval → resume → plot cycle leaves every file of a run
//! folder with valid contents; each failure is one line on stderr, a non-zero exit, and
//! touches no existing file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn cinder(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cinder"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("cinder runs")
}

#[path = "support/scratch.rs"]
mod support;
use support::Scratch;

/// An empty folder for one test, removed when it passes.
fn scratch(name: &str) -> Scratch {
    let dir = Scratch::new("cinder-cli", name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Fails with one line on stderr that contains every one of `needles`.
fn fails(out: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected failure; stderr {err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    for n in needles {
        assert!(err.contains(n), "`{n}` in {err}");
    }
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every file's bytes, to show a failing command changed nothing.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn train_eval_resume_plot_cycle() {
    let cwd = scratch("cycle");
    let common = [
        "--env",
        "Pendulum-v1",
        "--algo",
        "trpo",
        "--set",
        "n_steps=256",
        "--set",
        "eval_episodes=3",
        "--set",
        "checkpoint_interval=2",
    ];
    let mut args = vec!["train"];
    args.extend(common);
    args.extend(["--steps", "2048", "--seed", "3", "--out", "run"]);
    let stdout = ok(&cinder(&args, &cwd));
    assert!(stdout.contains("final eval"), "{stdout}");
    let run = cwd.join("run");
    let config = json(&run.join("config.json"));
    assert_eq!(config["env_id"], "Pendulum-v1");
    assert_eq!(config["seed"], 3);
    assert_eq!(config["n_steps"], 256);
    assert_eq!(config["gamma"], 0.9, "the Pendulum preset");
    assert!(config["algo"]["Trpo"]["target_kl"].is_number());
    let summary = json(&run.join("summary.json"));
    for key in [
        "env",
        "algo",
        "steps",
        "wall_s",
        "final_eval_mean",
        "final_eval_std",
    ] {
        assert!(!summary[key].is_null(), "{key} in {summary}");
    }
    assert_eq!(summary["steps"], 2048);
    let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert_eq!(
        csv.lines().count(),
        1 + 4,
        "header + one row per update (batch 2 × 256)"
    );
    assert_eq!(
        std::fs::read_to_string(run.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .count(),
        4
    );
    for ck in ["update_000002", "update_000004"] {
        assert!(run.join("checkpoints").join(ck).join("state.json").exists());
    }
    let png = std::fs::read(run.join("curve.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");

    // Evaluation with the saved normaliser statistics.
    let out = ok(&cinder(
        &["eval", "--run", "run", "--episodes", "4", "--json"],
        &cwd,
    ));
    let eval: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(eval["episodes"], 4);
    // The summary statistics are those of the episodes it lists; each Pendulum return lies in
    // [−200 · (π² + 0.1 · 8² + 0.001 · 2²), 0] = [−3259.5, 0] and episodes of different starts
    // differ; the evaluation is deterministic (same seed, same numbers).
    let returns: Vec<f64> = eval["returns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_f64().unwrap())
        .collect();
    assert_eq!(returns.len(), 4);
    assert!(
        returns.iter().all(|r| (-3259.5..=0.0).contains(r)),
        "{returns:?}"
    );
    let mean = returns.iter().sum::<f64>() / 4.0;
    let std = (returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / 4.0).sqrt();
    assert!((eval["mean_return"].as_f64().unwrap() - mean).abs() < 1e-9 * mean.abs().max(1.0));
    assert!((eval["std_return"].as_f64().unwrap() - std).abs() < 1e-9 * std.max(1.0));
    assert!(std > 0.0, "four different starts: {returns:?}");
    let again = ok(&cinder(
        &["eval", "--run", "run", "--episodes", "4", "--json"],
        &cwd,
    ));
    assert_eq!(out, again, "deterministic evaluation");

    // Resume to a larger budget: the folder grows, config.json records the new budget.
    let stdout = ok(&cinder(
        &["train", "--resume", "run", "--steps", "3072"],
        &cwd,
    ));
    assert!(stdout.contains("final eval"), "{stdout}");
    assert_eq!(json(&run.join("summary.json"))["steps"], 3072);
    assert_eq!(json(&run.join("config.json"))["total_timesteps"], 3072);
    let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 6);
    assert!(run.join("checkpoints/update_000006/state.json").exists());

    // A second seed, with the KL radius annealed, and a plot of both.
    let mut args = vec!["train"];
    args.extend(common);
    args.extend(["--set", "anneal_target_kl=true"]);
    args.extend(["--steps", "2048", "--seed", "4", "--out", "run2", "--quiet"]);
    let out = cinder(&args, &cwd);
    assert!(ok(&out).is_empty(), "--quiet prints nothing");
    // `--set` reaches the algorithm: update u of 4 takes a step of KL ≤ δ · (1 − (u − 1)/4),
    // the last one a quarter of the radius an unannealed TRPO step is scaled to.
    let trpo = &json(&cwd.join("run2/config.json"))["algo"]["Trpo"];
    assert_eq!(trpo["anneal_target_kl"], true);
    let delta = trpo["target_kl"].as_f64().unwrap();
    let updates = metrics_rows(&cwd.join("run2"));
    assert_eq!(updates.len(), 4);
    for (u, m) in updates.iter().enumerate() {
        let radius = delta * (1.0 - u as f64 / 4.0);
        if let Some(kl) = m["trpo/step_kl"].as_f64() {
            assert!(
                kl <= radius * (1.0 + 1e-9),
                "update {u}: KL {kl} > {radius}"
            );
        }
    }
    let last = updates[3]["trpo/step_kl"].as_f64();
    assert!(
        last.is_some_and(|kl| kl > 0.0),
        "the last update took a step: {:?}",
        updates[3]
    );
    ok(&cinder(&["plot", "run", "run2", "--out", "both.png"], &cwd));
    assert_eq!(
        &std::fs::read(cwd.join("both.png")).unwrap()[..4],
        b"\x89PNG"
    );
    ok(&cinder(
        &[
            "plot",
            "run",
            "--metric",
            "losses/value_loss",
            "--out",
            "v.png",
        ],
        &cwd,
    ));
}

/// The files of a run folder, relative to it (checkpoint contents and event-file names
/// aside: those carry times).
fn run_files(dir: &Path) -> Vec<String> {
    let mut files: Vec<String> = snapshot(dir)
        .into_iter()
        .map(|(p, _)| p.strip_prefix(dir).unwrap().to_string_lossy().to_string())
        .map(|p| {
            if p.starts_with("events.out.tfevents.") {
                "events.out.tfevents.*".to_string()
            } else {
                p
            }
        })
        .collect();
    files.sort();
    files
}

/// `--backend wgpu` (lavapipe here) runs the whole command line — train, resume, eval, plot —
/// and leaves the run folder flex leaves: the same files, the same metric columns, the same
/// steps. The learner runs on wgpu and acts natively, in plain Rust on the host (the
/// default); evaluating a checkpoint that way gives exactly what `--backend flex` gives for
/// the same checkpoint, and acting through a flex copy of the networks or on wgpu itself
/// (`--actor-backend flex`, `same`) the same within float noise. Tiny networks and batches:
/// lavapipe compiles each kernel on the CPU, in every process again.
#[cfg(feature = "wgpu")]
#[test]
fn the_cli_trains_resumes_and_evaluates_on_wgpu() {
    let cwd = scratch("wgpu");
    let sets = [
        "num_envs=2",
        "n_steps=16",
        "policy_hidden=[8,8]",
        "value_hidden=[8,8]",
        "eval_episodes=2",
        "max_episode_steps=25",
        "n_critic_updates=2",
        "cg_max_steps=5",
        "checkpoint_interval=1",
    ];
    let train = |backend: &str, out: &str| {
        let mut args = vec![
            "train",
            "--env",
            "Pendulum-v1",
            "--algo",
            "trpo",
            "--steps",
            "64",
            "--backend",
            backend,
            "--out",
            out,
        ];
        for s in &sets {
            args.extend(["--set", s]);
        }
        ok(&cinder(&args, &cwd))
    };
    let stdout = train("wgpu", "gpu");
    assert!(
        stdout.contains("(wgpu, acting natively (plain Rust))"),
        "{stdout}"
    );
    train("flex", "cpu");
    for (run, backend) in [("gpu", "wgpu"), ("cpu", "flex")] {
        let out = ok(&cinder(
            &[
                "train",
                "--resume",
                run,
                "--steps",
                "96",
                "--backend",
                backend,
            ],
            &cwd,
        ));
        assert!(out.contains("final eval"), "{out}");
    }
    let (gpu, cpu) = (cwd.join("gpu"), cwd.join("cpu"));
    assert_eq!(run_files(&gpu), run_files(&cpu));
    assert!(gpu.join("checkpoints/update_000003/state.json").exists());
    assert_eq!(json(&gpu.join("summary.json"))["steps"], 96);
    let header = |dir: &Path| {
        std::fs::read_to_string(dir.join("metrics.csv"))
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(header(&gpu), header(&cpu));
    let rows = std::fs::read_to_string(gpu.join("metrics.csv")).unwrap();
    assert_eq!(rows.lines().count(), 1 + 3, "{rows}");
    let eval = |backend: &str, actor: &str| {
        let out = ok(&cinder(
            &[
                "eval",
                "--run",
                "gpu",
                "--episodes",
                "3",
                "--json",
                "--backend",
                backend,
                "--actor-backend",
                actor,
            ],
            &cwd,
        ));
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        v["mean_return"].as_f64().unwrap()
    };
    let native = eval("flex", "auto");
    assert_eq!(
        eval("wgpu", "native"),
        native,
        "native acting does not depend on the learner's backend"
    );
    for (what, r) in [
        ("a flex copy", eval("wgpu", "flex")),
        ("wgpu", eval("wgpu", "same")),
    ] {
        assert!(
            (r - native).abs() <= 1e-3 * native.abs().max(1.0),
            "acting on {what}: {r}, natively: {native}"
        );
    }
    ok(&cinder(&["plot", "gpu", "cpu", "--out", "both.png"], &cwd));
}

#[test]
fn failures_are_one_line_non_zero_and_touch_nothing() {
    let cwd = scratch("failures");
    ok(&cinder(
        &[
            "train",
            "--env",
            "CartPole-v1",
            "--algo",
            "ppo",
            "--steps",
            "512",
            "--out",
            "run",
            "--quiet",
            "--set",
            "eval_episodes=2",
        ],
        &cwd,
    ));
    let before = snapshot(&cwd);
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec!["train", "--env", "Pendulm-v1"],
            vec!["unknown environment id", "Pendulum-v1"],
        ),
        (
            vec!["train", "--env", "Pendulum-v1", "--set", "gama=0.9"],
            vec!["unknown config key `gama`", "gamma", "target_kl"],
        ),
        (
            vec!["train", "--env", "Pendulum-v1", "--set", "target_kl=abc"],
            vec!["target_kl=abc"],
        ),
        (
            vec![
                "train",
                "--env",
                "Pendulum-v1",
                "--set",
                r#"env_kwargs={"gravity": 3.0}"#,
            ],
            vec!["unknown keyword argument `gravity`", "accepted: g"],
        ),
        (
            vec![
                "train",
                "--env",
                "CartPole-v1",
                "--algo",
                "ppo",
                "--set",
                "batch_size=100",
            ],
            vec!["batch_size = 100", "divisor"],
        ),
        (
            vec!["train", "--env", "Pendulum-v1", "--algo", "sac"],
            vec!["ppo-kl"],
        ),
        (
            vec!["train", "--env", "Pendulum-v1", "--out", "run"],
            vec!["not an empty folder", "--resume"],
        ),
        (
            vec!["train", "--env", "Pendulum-v1", "--config", "missing.toml"],
            vec!["missing.toml"],
        ),
        (vec!["eval", "--run", "nowhere"], vec!["nowhere"]),
        (vec!["plot", "nowhere"], vec!["nowhere", "run folder"]),
        (
            vec![
                "plot",
                "run",
                "--metric",
                "charts/nothing",
                "--out",
                "x.png",
            ],
            vec!["charts/nothing", "charts/episodic_return"],
        ),
        (vec!["train", "--resume", "nowhere"], vec!["nowhere"]),
        (
            vec!["train", "--resume", "run", "--set", "gamma=0.5"],
            vec!["--resume", "--steps"],
        ),
        (
            vec!["train", "--env", "Pendulum-v1", "--backend", "cuda"],
            vec!["cuda"],
        ),
    ];
    for (args, needles) in &cases {
        fails(&cinder(args, &cwd), needles);
        assert_eq!(snapshot(&cwd), before, "{args:?} changed files");
    }

    // An unwritable out folder.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let locked = cwd.join("locked");
        std::fs::create_dir(&locked).unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o500)).unwrap();
        let probe = locked.join("probe");
        // root ignores permissions; the check only means something for other users.
        if std::fs::write(&probe, b"").is_err() {
            fails(
                &cinder(
                    &["train", "--env", "Pendulum-v1", "--out", "locked/run"],
                    &cwd,
                ),
                &["locked/run"],
            );
        } else {
            let _ = std::fs::remove_file(probe);
        }
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::remove_dir(&locked).unwrap();
    }
    let before = snapshot(&cwd);

    // A corrupted checkpoint: eval and resume refuse it and write nothing.
    let ck = cwd.join("run/checkpoints/update_000002");
    std::fs::write(ck.join("policy.bin"), b"garbage").unwrap();
    let corrupted = snapshot(&cwd);
    fails(&cinder(&["eval", "--run", "run"], &cwd), &["policy.bin"]);
    fails(
        &cinder(&["train", "--resume", "run", "--steps", "1024"], &cwd),
        &["policy.bin"],
    );
    assert_eq!(snapshot(&cwd), corrupted);
    std::fs::write(ck.join("state.json"), b"{").unwrap();
    fails(
        &cinder(&["eval", "--run", "run"], &cwd),
        &["state.json", "damaged"],
    );
    let _ = before;
}

#[test]
fn envs_lists_the_build() {
    let cwd = scratch("envs");
    let out = ok(&cinder(&["envs"], &cwd));
    for id in ["CartPole-v1", "Pendulum-v1", "Acrobot-v1", "MountainCar-v0"] {
        assert!(out.contains(id), "{out}");
    }
    let one = ok(&cinder(&["envs", "--env", "Pendulum-v1", "--json"], &cwd));
    let v: serde_json::Value = serde_json::from_str(one.trim()).unwrap();
    assert_eq!(v["max_episode_steps"], 200);
    #[cfg(not(feature = "gymnasium"))]
    {
        assert!(out.contains("--features gymnasium"), "{out}");
        // Hopper-v5 is native with the `mujoco` feature; Humanoid-v4 needs the bridge.
        let id = if cfg!(feature = "mujoco") {
            "Humanoid-v4"
        } else {
            "Hopper-v5"
        };
        fails(
            &cinder(&["train", "--env", id], &cwd),
            &["gymnasium", "setup_python.sh"],
        );
    }
    #[cfg(feature = "gymnasium")]
    assert!(out.contains("Humanoid-v5"), "{out}");
    #[cfg(feature = "mujoco")]
    for id in [
        "Hopper-v5",
        "Ant-v5",
        "Reacher-v5",
        "Humanoid-v5",
        "Pusher-v5",
    ] {
        assert!(out.contains(id), "{out}");
    }
}

/// Every algorithm hyperparameter out of its range is refused before anything is written: no
/// run folder, not even `config.json`.
#[test]
fn an_out_of_range_hyperparameter_leaves_no_run_folder() {
    let cwd = scratch("validate");
    let cases = [
        ("trpo", "target_kl=-1", "target_kl"),
        ("trpo", "cg_damping=-0.1", "cg_damping"),
        (
            "trpo",
            "line_search_shrinking_factor=1.5",
            "line_search_shrinking_factor",
        ),
        ("trpo", "n_critic_updates=0", "n_critic_updates"),
        ("trpo", "adam_epsilon=0", "adam_epsilon"),
        ("npg", "adam_epsilon=-1e-8", "adam_epsilon"),
        ("npg", "target_kl=0", "target_kl"),
        ("npg", "learning_rate=-1", "learning_rate"),
        ("ppo", "clip_range=-0.2", "clip_range"),
        ("ppo", "learning_rate=0", "learning_rate"),
        ("ppo", "ent_coef=-1", "ent_coef"),
        ("ppo-kl", "target_kl=-1", "target_kl"),
        ("ppo-kl", "kl_coef=0", "kl_coef"),
        ("vpg", "learning_rate=-3", "learning_rate"),
        ("vpg", "n_critic_updates=0", "n_critic_updates"),
        ("vpg", "max_grad_norm=-1", "max_grad_norm"),
    ];
    for (algo, set, name) in cases {
        let out = cinder(
            &[
                "train",
                "--env",
                "Pendulum-v1",
                "--algo",
                algo,
                "--set",
                set,
                "--out",
                "run",
            ],
            &cwd,
        );
        fails(&out, &[name]);
        assert!(
            !cwd.join("run").exists(),
            "{algo} --set {set} left a run folder"
        );
    }
}

/// What a finished run leaves: its final `state.json` (every counter, random stream, env
/// state and normaliser statistic), its metrics rows without the wall-clock columns, and a
/// deterministic evaluation of its final policy (the weights themselves: `policy.bin` also
/// holds parameter ids that differ from process to process).
fn run_outcome(
    cwd: &Path,
    run: &str,
    last_update: u64,
) -> (Vec<u8>, Vec<serde_json::Value>, String) {
    let dir = cwd.join(run);
    let ck = dir
        .join("checkpoints")
        .join(format!("update_{last_update:06}"));
    let state = std::fs::read(ck.join("state.json")).unwrap();
    let rows = std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.as_object_mut()
                .unwrap()
                .retain(|k, _| !k.starts_with("time/") && k != "charts/SPS");
            v
        })
        .collect();
    let eval = ok(&cinder(
        &["eval", "--run", run, "--episodes", "3", "--json"],
        cwd,
    ));
    (state, rows, eval)
}

/// `cinder train` arguments for a short PPO Pendulum-v1 run: `updates` updates of 2 envs ×
/// 64 steps, a checkpoint after each, 2 evaluation episodes, `--quiet`, the extra `--set`
/// values, into `out`.
fn pendulum_ppo_args(updates: u64, sets: &[&str], out: &str) -> Vec<String> {
    let steps = (updates * 2 * 64).to_string();
    let mut args: Vec<String> = [
        "train",
        "--env",
        "Pendulum-v1",
        "--algo",
        "ppo",
        "--steps",
        &steps,
        "--num-envs",
        "2",
        "--set",
        "n_steps=64",
        "--set",
        "batch_size=64",
        "--set",
        "checkpoint_interval=1",
        "--set",
        "eval_episodes=2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for set in sets {
        args.extend(["--set".to_string(), set.to_string()]);
    }
    args.extend(["--quiet", "--out", out].map(String::from));
    args
}

/// SIGKILL at many moments — inside checkpoint writes too (one after every update) — and
/// `--resume` after each: the finished run equals one never interrupted (final checkpoint byte
/// for byte, every metrics row), and every folder a kill left behind could be resumed.
#[cfg(unix)]
#[test]
fn a_run_killed_at_any_moment_resumes_to_the_same_result() {
    use std::time::{Duration, Instant};
    let cwd = scratch("kill");
    // Long enough that the process start is a small part of the run: with PPO's epochs on
    // the host 24 updates took ≈ 40 ms, and every kill (≤ 10% of the run) landed in the start.
    let updates = 240u64;
    let train = |out: &str| {
        pendulum_ppo_args(
            updates,
            &["normalize_observation=true", "normalize_reward=true"],
            out,
        )
    };
    let whole = train("whole");
    let args: Vec<&str> = whole.iter().map(String::as_str).collect();
    let started = Instant::now();
    ok(&cinder(&args, &cwd));
    let full_time = started.elapsed();
    let want = run_outcome(&cwd, "whole", updates);

    // Kill times spread over the whole run (a fixed pseudo-random sequence), the first one
    // before the run folder is even complete. Each attempt lives at most 10% of an
    // uninterrupted run, so the first 8 kills cannot be outrun (8 × 10% < 100%: a resumed run
    // only gets as far as its attempt's time allows); up to 16 spread them over the rest.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next_delay = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        full_time.mul_f64((state % 1000) as f64 / 1000.0 * 0.10)
    };
    let killed_args = train("killed");
    let mut resume = false;
    let mut kills = 0;
    loop {
        let args: Vec<&str> = if resume {
            vec!["train", "--resume", "killed", "--quiet"]
        } else {
            killed_args.iter().map(String::as_str).collect()
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_cinder"))
            .args(&args)
            .current_dir(&cwd)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Up to 16 kills; after that, let it finish.
        let delay = if kills < 16 {
            next_delay()
        } else {
            Duration::from_secs(3600)
        };
        let deadline = Instant::now() + delay;
        let mut finished = None;
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().unwrap() {
                finished = Some(status);
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        match finished {
            Some(status) => {
                let out = child.wait_with_output().unwrap();
                assert!(
                    status.success(),
                    "after {kills} kills: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                if cwd.join("killed/summary.json").exists() {
                    break;
                }
            }
            None => {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills += 1;
            }
        }
        // A run folder (one with config.json) is resumed; a kill before config.json was
        // written left no run yet, and the user starts over.
        resume = cwd.join("killed/config.json").exists();
        if !resume {
            let _ = std::fs::remove_dir_all(cwd.join("killed"));
        }
        assert!(kills < 200, "the run never finished");
    }
    assert!(
        kills >= 8,
        "only {kills} kills: the test did not exercise anything"
    );
    // Every kill left a folder that resumed (each `--resume` above succeeded or was killed).
    let got = run_outcome(&cwd, "killed", updates);
    assert!(
        got.0 == want.0,
        "after {kills} kills: the final state.json differs"
    );
    assert_eq!(got.1, want.1, "after {kills} kills: metrics");
    assert_eq!(
        got.2, want.2,
        "after {kills} kills: evaluation of the final policy"
    );
    // The temporaries of killed writers were cleaned up by the resumes that followed.
    let leftovers: Vec<String> = ["killed", "killed/checkpoints"]
        .iter()
        .flat_map(|d| std::fs::read_dir(cwd.join(d)).unwrap().flatten())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.contains(".tmp-") || n.contains(".old-"))
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
}

/// `cp -r`, for a run folder.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// Every algorithm, on the wrapped native env stack (episode statistics, observation and
/// reward normalisation, time limit), both action kinds: resuming from each checkpoint of a
/// short run — every one, not a chosen few — ends where the uninterrupted run ends (final
/// state.json byte for byte, every metrics row, a deterministic evaluation of the final
/// policy). Through the binary, so it runs in the README test command's default-feature leg
/// too: there, a dependency feature left off by feature unification once made resume inexact.
#[test]
fn every_algorithm_resumes_exactly_from_every_checkpoint() {
    let cwd = scratch("every");
    let updates = 4u64;
    let steps = (updates * 2 * 16).to_string();
    for (env, algo) in [
        ("Pendulum-v1", "trpo"),
        ("Pendulum-v1", "npg"),
        ("Pendulum-v1", "ppo"),
        ("Pendulum-v1", "ppo-kl"),
        ("Pendulum-v1", "vpg"),
        ("CartPole-v1", "trpo"),
        ("CartPole-v1", "ppo"),
    ] {
        let whole = format!("{env}-{algo}");
        let mut args = vec![
            "train",
            "--env",
            env,
            "--algo",
            algo,
            "--steps",
            &steps,
            "--num-envs",
            "2",
            "--set",
            "n_steps=16",
            "--set",
            "checkpoint_interval=1",
            "--set",
            "normalize_observation=true",
            "--set",
            "normalize_reward=true",
            "--set",
            "policy_hidden=[8, 8]",
            "--set",
            "value_hidden=[8, 8]",
            "--set",
            "max_episode_steps=25",
            "--set",
            "eval_episodes=2",
            "--quiet",
            "--out",
            &whole,
        ];
        if algo.starts_with("ppo") {
            args.extend(["--set", "batch_size=16"]);
        }
        ok(&cinder(&args, &cwd));
        let want = run_outcome(&cwd, &whole, updates);
        for k in 1..updates {
            // The folder as it stood after update k's checkpoint: later checkpoints and the
            // summary gone, the metrics rows of later updates still there (resume drops them).
            let run = format!("{whole}-from-{k}");
            copy_tree(&cwd.join(&whole), &cwd.join(&run));
            for later in k + 1..=updates {
                std::fs::remove_dir_all(
                    cwd.join(&run)
                        .join("checkpoints")
                        .join(format!("update_{later:06}")),
                )
                .unwrap();
            }
            let _ = std::fs::remove_file(cwd.join(&run).join("summary.json"));
            ok(&cinder(&["train", "--resume", &run, "--quiet"], &cwd));
            let got = run_outcome(&cwd, &run, updates);
            assert!(
                got.0 == want.0,
                "{whole}: the final state.json after resuming from update {k} differs"
            );
            assert_eq!(
                got.1, want.1,
                "{whole}: metrics after resuming from update {k}"
            );
            assert_eq!(
                got.2, want.2,
                "{whole}: evaluation after resuming from update {k}"
            );
        }
    }
}

/// The venv's Python (`bash scripts/setup_python.sh`, which the README test command runs),
/// or `CINDER_TEST_PYTHON`.
fn test_python() -> PathBuf {
    let python = std::env::var_os("CINDER_TEST_PYTHON").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python"),
        PathBuf::from,
    );
    assert!(
        python.exists(),
        "{} is missing: run `bash scripts/setup_python.sh` (or the README's test command)",
        python.display()
    );
    python
}

/// The run folder's event files as TensorBoard's own reader sees them
/// (`scripts/read_tfevents.py`).
fn tensorboard_events(dir: &Path) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/read_tfevents.py");
    let out = Command::new(test_python())
        .arg(script)
        .arg(dir)
        .output()
        .expect("python runs");
    serde_json::from_str(&ok(&out)).unwrap()
}

/// The run's metrics rows.
fn metrics_rows(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The events TensorBoard read hold every number of `rows` at its row's step, with exactly
/// its value as float32, each once, and nothing else; the config text at step 0 and, after a
/// resume, at the resumed step.
fn check_events(events: &serde_json::Value, rows: &[serde_json::Value], resumed_at: Option<u64>) {
    assert_eq!(events["files"].as_array().unwrap().len(), 1, "{events}");
    assert_eq!(events["file_version"], serde_json::json!(["brain.Event:2"]));
    let scalars = events["scalars"].as_object().unwrap();
    let mut expected = 0;
    for row in rows {
        let step = row["global_step"].as_u64().unwrap();
        for (tag, v) in row.as_object().unwrap() {
            let Some(v) = v.as_f64() else { continue };
            if tag == "global_step" {
                continue;
            }
            expected += 1;
            let at: Vec<f64> = scalars[tag]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p[0].as_u64() == Some(step))
                .map(|p| p[1].as_f64().unwrap())
                .collect();
            assert_eq!(at, vec![f64::from(v as f32)], "{tag} at step {step}");
        }
    }
    let total: usize = scalars.values().map(|s| s.as_array().unwrap().len()).sum();
    assert_eq!(total, expected, "an event without its metrics row");
    for tag in [
        "charts/episodic_return",
        "losses/value_loss",
        "eval/mean_return",
    ] {
        assert!(scalars.contains_key(tag), "{tag}");
    }
    let text = events["text"]["hyperparameters"].as_array().unwrap();
    let steps: Vec<u64> = text.iter().map(|t| t[0].as_u64().unwrap()).collect();
    let mut want = vec![0];
    want.extend(resumed_at);
    assert_eq!(steps, want);
    for t in text {
        let table = t[1].as_str().unwrap();
        assert!(table.starts_with("|param|value|\n|-|-|\n"), "{table}");
        for line in [
            "|env_id|Pendulum-v1|",
            "|algo.Ppo.clip_range|0.2|",
            "|n_steps|64|",
        ] {
            assert!(table.contains(line), "{line} in {table}");
        }
    }
}

/// TensorBoard (its own reader, `scripts/read_tfevents.py`) reads every metric of
/// `metrics.jsonl` at its `global_step`, under its CleanRL name, with exactly its value, each
/// step once: after a write cut short at the end of the file (a killed run) and after a
/// resume from an earlier checkpoint. The resolved config is the `hyperparameters` text.
#[test]
fn tensorboard_reads_every_metric_at_its_step_through_a_kill_and_a_resume() {
    let cwd = scratch("tensorboard");
    let updates = 4u64;
    let args = pendulum_ppo_args(updates, &["eval_interval=2"], "tb");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(&cinder(&args, &cwd));
    let dir = cwd.join("tb");
    let rows = metrics_rows(&dir);
    assert_eq!(rows.len(), updates as usize);

    // A write cut short by a kill: TensorBoard reads up to the last whole event.
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("events.out.tfevents.")
        })
        .expect("an event file in the run folder");
    let mut bytes = std::fs::read(&file).unwrap();
    let n = bytes.len();
    bytes.extend_from_within(n - 40..n - 20);
    std::fs::write(&file, &bytes).unwrap();
    check_events(&tensorboard_events(&dir), &rows, None);

    // Resume from update 2: updates 3 and 4 are logged once more, not twice.
    for later in 3..=updates {
        std::fs::remove_dir_all(dir.join(format!("checkpoints/update_{later:06}"))).unwrap();
    }
    std::fs::remove_file(dir.join("summary.json")).unwrap();
    ok(&cinder(&["train", "--resume", "tb", "--quiet"], &cwd));
    let resumed = metrics_rows(&dir);
    assert_eq!(resumed.len(), updates as usize);
    let at = rows[1]["global_step"].as_u64();
    check_events(&tensorboard_events(&dir), &resumed, at);
}

/// `--seeds 0,1` trains both seeds of TRPO in lockstep into ordinary run folders of a group
/// folder, each run as its seed would train alone (the first rollout exactly, the update to
/// float noise: the two policies' Fisher products are batched); `--resume GROUP` continues
/// both; PPO runs its seeds one after another with the same folders; bad seed lists are
/// refused before a folder is made.
#[test]
fn seeds_train_in_lockstep_into_run_folders_and_resume_as_a_group() {
    let dir = scratch("seeds");
    let pendulum = ["train", "--env", "Pendulum-v1", "--quiet"];
    fn with<'a>(base: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
        [base, extra].concat()
    }
    let args = |extra: &[&'static str]| with(&pendulum, extra);
    ok(&cinder(
        &args(&[
            "--algo", "trpo", "--seeds", "0,1", "--steps", "4096", "--out", "g",
        ]),
        &dir,
    ));
    ok(&cinder(
        &args(&[
            "--algo", "trpo", "--seed", "1", "--steps", "4096", "--out", "alone",
        ]),
        &dir,
    ));
    let group = dir.join("g");
    assert_eq!(
        json(&group.join("group.json"))["seeds"],
        serde_json::json!([0, 1])
    );
    let summary = json(&group.join("summary.json"));
    assert_eq!(summary["lockstep"], true, "{summary}");
    assert_eq!(summary["final_eval_means"].as_array().unwrap().len(), 2);
    assert!(group.join("curve.png").is_file());
    for seed in [0, 1] {
        let run = group.join(format!("seed_{seed}"));
        assert_eq!(
            run_files(&run),
            run_files(&dir.join("alone")),
            "seed {seed}"
        );
        assert_eq!(json(&run.join("config.json"))["seed"], seed);
    }
    // Seed 1 in the group against seed 1 alone: the same rollouts and nearly the same step.
    let (grouped, alone) = (
        metrics_rows(&group.join("seed_1")),
        metrics_rows(&dir.join("alone")),
    );
    assert_eq!(grouped.len(), 2);
    assert_eq!(grouped.len(), alone.len());
    assert_eq!(
        grouped[0]["charts/episodic_return"],
        alone[0]["charts/episodic_return"]
    );
    for key in [
        "charts/episodic_return",
        "losses/approx_kl",
        "losses/value_loss",
    ] {
        for (g, a) in grouped.iter().zip(&alone) {
            let (g, a) = (g[key].as_f64().unwrap(), a[key].as_f64().unwrap());
            assert!(
                (g - a).abs() <= 1e-3 * a.abs().max(1e-3),
                "{key}: {g} vs {a}"
            );
        }
    }

    // The group continues as a group, to the new budget.
    let out = ok(&cinder(
        &["train", "--resume", "g", "--steps", "6144"],
        &dir,
    ));
    assert!(out.contains("trained in lockstep"), "{out}");
    for seed in [0, 1] {
        let rows = metrics_rows(&group.join(format!("seed_{seed}")));
        assert_eq!(rows.len(), 3, "seed {seed}");
        assert_eq!(rows[2]["global_step"], 6144);
    }
    fails(
        &cinder(&["train", "--resume", "g", "--seeds", "2,3"], &dir),
        &["--resume continues the saved config"],
    );

    // PPO has no Fisher solve to batch: the seeds run one after another, same folders.
    let out = ok(&cinder(
        &[
            "train",
            "--env",
            "Pendulum-v1",
            "--algo",
            "ppo",
            "--seeds",
            "3,4",
            "--steps",
            "4096",
            "--out",
            "ppo",
        ],
        &dir,
    ));
    assert!(out.contains("trained one after another"), "{out}");
    assert_eq!(json(&dir.join("ppo/summary.json"))["lockstep"], false);
    for seed in [3, 4] {
        assert!(dir.join(format!("ppo/seed_{seed}/checkpoints")).is_dir());
    }

    // Refused before anything is made.
    fails(
        &cinder(&args(&["--seeds", "0,0", "--out", "bad"]), &dir),
        &["seed 0 twice"],
    );
    let out = cinder(
        &args(&["--seed", "1", "--seeds", "0,1", "--out", "bad"]),
        &dir,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--seeds"));
    assert!(!dir.join("bad").exists());
}

/// `cinder bench overhead` trains and then steps the same envs alone, and prints both times
/// and their ratio as one JSON object.
#[test]
fn bench_overhead_prints_training_against_the_envs_alone() {
    let dir = scratch("overhead");
    let out = ok(&cinder(
        &[
            "bench",
            "overhead",
            "--env",
            "Pendulum-v1",
            "--algo",
            "trpo",
            "--steps",
            "4096",
        ],
        &dir,
    ));
    let row: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(row["bench"], "overhead");
    assert_eq!(row["steps"], 4096);
    assert_eq!(row["num_envs"], 2);
    let (train, alone) = (
        row["train_s"].as_f64().unwrap(),
        row["env_alone_s"].as_f64().unwrap(),
    );
    assert!(train > 0.0 && alone > 0.0, "{row}");
    assert!((row["ratio"].as_f64().unwrap() - train / alone).abs() <= 1e-9 * train / alone);
    // Collect, GAE, policy step, critic fit: the first three in sequence on one thread;
    // TRPO's critic fit on its own thread beside them.
    let split: Vec<f64> = serde_json::from_value(row["time_split"].clone()).unwrap();
    assert!(
        split[0] + split[1] + split[2] <= train && split[3] <= train,
        "{row}"
    );
    assert!(row["final_eval_mean"].as_f64().unwrap().is_finite());
    assert_eq!(row["native_updates"], true, "{row}");
    // PPO's epochs on the host (the default) and as burn ops (`--burn-ops`) learn the same
    // up to float rounding.
    let ppo = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec![
            "bench",
            "overhead",
            "--env",
            "Pendulum-v1",
            "--algo",
            "ppo",
            "--steps",
            "4096",
        ];
        args.extend_from_slice(extra);
        serde_json::from_str(ok(&cinder(&args, &dir)).trim()).unwrap()
    };
    let (host, ops) = (ppo(&[]), ppo(&["--burn-ops"]));
    assert_eq!(
        (&host["native_updates"], &ops["native_updates"]),
        (&true.into(), &false.into())
    );
    let (a, b) = (
        host["final_eval_mean"].as_f64().unwrap(),
        ops["final_eval_mean"].as_f64().unwrap(),
    );
    assert!((a - b).abs() <= 1e-2 * (1.0 + b.abs()), "{host} vs {ops}");
    fails(
        &cinder(
            &["bench", "overhead", "--env", "Pendulum-v1", "--algo", "sac"],
            &dir,
        ),
        &["unknown algorithm"],
    );
    // `cinder bench critic`: one pass of the critic fit, its Adam steps counted.
    let critic = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec![
            "bench",
            "critic",
            "--batch",
            "300",
            "--obs-dim",
            "3",
            "--hidden",
            "8",
            "--reps",
            "2",
            "--json",
        ];
        args.extend_from_slice(extra);
        serde_json::from_str(ok(&cinder(&args, &dir)).trim()).unwrap()
    };
    let row = critic(&["--minibatch", "128"]);
    assert_eq!(row["bench"], "critic");
    assert_eq!(row["adam_steps"], 3, "{row}");
    assert_eq!(row["on_host"], true, "the trainer's fit by default: {row}");
    assert!(row.get("method").is_none(), "{row}");
    let median = row["median_ms"].as_f64().unwrap();
    assert!(median > 0.0, "{row}");
    assert!(
        (row["ms_per_step"].as_f64().unwrap() - median / 3.0).abs() < 1e-9,
        "{row}"
    );
    let ops = critic(&["--burn-ops"]);
    assert_eq!(ops["on_host"], false, "{ops}");
    assert_eq!(ops["adam_steps"], 3, "{ops}");
    fails(
        &cinder(&["bench", "critic", "--minibatch", "0"], &dir),
        &["--minibatch must be at least 1"],
    );
}

fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

#[test]
fn a_sweep_halves_ranks_from_its_run_folders_and_continues_where_it_was() {
    let cwd = scratch("sweep");
    let args = [
        "sweep",
        "--env",
        "CartPole-v1",
        "--algo",
        "ppo",
        "--grid",
        "learning_rate=0.001,0.0003",
        "--grid",
        "n_epochs=2,4",
        "--set",
        "eval_episodes=3",
        "--seeds",
        "0,1",
        "--steps",
        "2048",
        "--halving",
        "1024",
        "--jobs",
        "2",
        "--out",
        "sw",
    ];
    let first = ok(&cinder(&args, &cwd));
    assert!(
        first.contains("the best 2 of 4 configs continue"),
        "{first}"
    );
    let sw = cwd.join("sw");
    let rows = csv_rows(&sw.join("summary.csv"));
    assert_eq!(
        rows[0],
        ["config", "seeds", "mean", "std", "wall_s", "steps"]
    );
    assert_eq!(rows.len(), 5, "{rows:?}");
    // Two configs reached the budget, two stopped at the rung; each half best first.
    let steps: Vec<&str> = rows[1..].iter().map(|r| r[5].as_str()).collect();
    assert_eq!(steps, ["2048", "2048", "1024", "1024"]);
    let mean = |r: &Vec<String>| r[2].parse::<f64>().unwrap();
    assert!(mean(&rows[1]) >= mean(&rows[2]) && mean(&rows[3]) >= mean(&rows[4]));
    // A row is its runs' own final evaluations: ordinary run folders with the config's values.
    let finalist = &rows[1][0];
    let index = [
        "learning_rate=0.001;n_epochs=2",
        "learning_rate=0.001;n_epochs=4",
        "learning_rate=0.0003;n_epochs=2",
        "learning_rate=0.0003;n_epochs=4",
    ]
    .iter()
    .position(|c| c == finalist)
    .unwrap();
    let config_dir = std::fs::read_dir(sw.join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("c{index:03}_"))
        })
        .unwrap();
    let evals: Vec<f64> = [0, 1]
        .iter()
        .map(|s| {
            let run = config_dir.join(format!("seed_{s}"));
            let config = json(&run.join("config.json"));
            assert_eq!(config["seed"], *s);
            assert_eq!(config["total_timesteps"], 2048);
            assert_eq!(config["eval_episodes"], 3);
            let summary = json(&run.join("summary.json"));
            assert!(summary["steps"].as_u64().unwrap() >= 2048);
            summary["final_eval_mean"].as_f64().unwrap()
        })
        .collect();
    assert!((mean(&rows[1]) - (evals[0] + evals[1]) / 2.0).abs() < 1e-9);
    let md = std::fs::read_to_string(sw.join("summary.md")).unwrap();
    assert!(md.contains(&format!("| 1 | `{finalist}` |")), "{md}");
    assert!(md.contains("1024 (stopped)"), "{md}");
    assert!(sw.join("curves.png").is_file());
    // Repeating the command trains nothing and writes the same ranking.
    let before = std::fs::read(sw.join("summary.csv")).unwrap();
    let again = ok(&cinder(&args, &cwd));
    assert!(!again.contains("] "), "nothing should train again: {again}");
    assert!(again.contains("8/8 runs done already"), "{again}");
    assert_eq!(std::fs::read(sw.join("summary.csv")).unwrap(), before);
    // Another sweep in the same folder, and bad grids, are refused before anything runs.
    let snap = snapshot(&sw);
    let mut other = args.to_vec();
    other[6] = "learning_rate=0.001";
    fails(&cinder(&other, &cwd), &["holds another sweep", "`grid`"]);
    assert_eq!(snapshot(&sw), snap);
    let bad = |grid: &str, needles: &[&str]| {
        let out = cinder(
            &[
                "sweep",
                "--env",
                "CartPole-v1",
                "--algo",
                "ppo",
                "--grid",
                grid,
                "--out",
                "bad",
            ],
            &cwd,
        );
        fails(&out, needles);
        assert!(!cwd.join("bad").exists());
    };
    bad(
        "lerning_rate=0.1,0.2",
        &["config `lerning_rate=0.1`", "valid keys"],
    );
    bad("n_epochs=", &["every value must be non-empty"]);
    bad("n_epochs=2,two", &["config `n_epochs=two`"]);
    let plotted = ok(&cinder(&["plot", "sw", "--out", "all.png"], &cwd));
    assert!(plotted.contains("all.png") && cwd.join("all.png").is_file());
    // A sweep beside a run folder (here one of its own runs): one band per config, one for
    // the run.
    let config = std::fs::read_dir(sw.join("runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let run = config.path().join("seed_0");
    let plotted = ok(&cinder(
        &["plot", "sw", run.to_str().unwrap(), "--out", "mixed.png"],
        &cwd,
    ));
    assert!(plotted.contains("mixed.png") && cwd.join("mixed.png").is_file());
}

#[test]
fn a_killed_sweep_takes_its_runs_down_and_resumes_them() {
    let cwd = scratch("sweep-kill");
    let args = [
        "sweep",
        "--env",
        "CartPole-v1",
        "--algo",
        "ppo",
        "--set",
        "checkpoint_interval=10",
        "--set",
        "eval_episodes=2",
        "--steps",
        "150000",
        "--jobs",
        "1",
        "--out",
        "sw",
    ];
    let mut sweep = Command::new(env!("CARGO_BIN_EXE_cinder"))
        .args(args)
        .current_dir(&cwd)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let run = cwd.join("sw/runs/c000/seed_0");
    let start = std::time::Instant::now();
    while !run.join("checkpoints/update_000020").exists() {
        assert!(start.elapsed().as_secs() < 60, "no checkpoint");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    sweep.kill().unwrap();
    sweep.wait().unwrap();
    // The run dies with the sweep: its checkpoints stop coming.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let count = || std::fs::read_dir(run.join("checkpoints")).unwrap().count();
    let seen = count();
    std::thread::sleep(std::time::Duration::from_millis(1000));
    assert_eq!(count(), seen, "the run outlived its sweep");
    assert!(
        !run.join("summary.json").exists(),
        "the run finished before the kill"
    );
    let out = ok(&cinder(&args, &cwd));
    assert!(out.contains("[1/1]"), "{out}");
    let log = std::fs::read_to_string(cwd.join("sw/logs/c000_seed_0.log")).unwrap();
    assert!(log.contains("\"--resume\""), "{log}");
    assert_eq!(json(&run.join("summary.json"))["steps"], 150_016);
}

/// GIF frames and delays of a file.
fn gif_frames(path: &Path) -> (u16, u16, Vec<u16>) {
    let file = std::fs::File::open(path).unwrap();
    let mut decoder = gif::DecodeOptions::new().read_info(file).unwrap();
    let (w, h) = (decoder.width(), decoder.height());
    let mut delays = Vec::new();
    while let Some(f) = decoder.read_next_frame().unwrap() {
        delays.push(f.delay);
    }
    (w, h, delays)
}

/// `eval --video` records the episodes it evaluates (the same returns as without it) into
/// one GIF at the asked size and rate; `train --video-every` writes GIFs into `videos/`;
/// bad video arguments fail before anything runs.
#[test]
fn videos_of_evaluations_and_of_training() {
    let dir = scratch("videos");
    let out = ok(&cinder(
        &[
            "train",
            "--env",
            "CartPole-v1",
            "--algo",
            "ppo",
            "--steps",
            "1024",
            "--out",
            "run",
            "--video-every",
            "2",
            "--quiet",
        ],
        &dir,
    ));
    assert!(out.is_empty(), "{out}");
    let mut videos: Vec<String> = std::fs::read_dir(dir.join("run/videos"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    videos.sort();
    assert_eq!(videos, ["step_000000512.gif", "step_000001024.gif"]);
    let (w, h, delays) = gif_frames(&dir.join("run/videos/step_000001024.gif"));
    // CartPole-v1 runs at 50 fps: a frame every 2nd step at 25 fps, 4/100 s each.
    assert_eq!((w, h), (600, 400));
    assert!(
        delays.len() >= 2 && delays.iter().all(|&d| d == 4),
        "{delays:?}"
    );
    assert_eq!(json(&dir.join("run/config.json"))["video_interval"], 2);

    let plain = ok(&cinder(
        &["eval", "--run", "run", "--episodes", "2", "--json"],
        &dir,
    ));
    let with_video = ok(&cinder(
        &[
            "eval",
            "--run",
            "run",
            "--episodes",
            "2",
            "--json",
            "--video",
            "eval.gif",
            "--width",
            "300",
            "--height",
            "200",
            "--fps",
            "50",
        ],
        &dir,
    ));
    let plain: serde_json::Value = serde_json::from_str(&plain).unwrap();
    let with_video: serde_json::Value = serde_json::from_str(&with_video).unwrap();
    assert_eq!(plain["returns"], with_video["returns"]);
    let lengths: u64 = with_video["lengths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_u64().unwrap() + 1)
        .sum();
    // At the env's own 50 fps, every step: length + 1 frames per episode.
    assert_eq!(with_video["frames"].as_u64(), Some(lengths));
    let (w, h, delays) = gif_frames(&dir.join("eval.gif"));
    assert_eq!((w, h, delays.len() as u64), (300, 200, lengths));
    assert!(delays.iter().all(|&d| d == 2));

    let before = snapshot(&dir);
    fails(
        &cinder(&["eval", "--run", "run", "--video", "eval.mp4"], &dir),
        &["GIF only", ".gif"],
    );
    fails(
        &cinder(
            &["eval", "--run", "run", "--video", "x.gif", "--fps", "60"],
            &dir,
        ),
        &["fps 60", "50"],
    );
    fails(
        &cinder(&["eval", "--run", "run", "--video", "no/such/x.gif"], &dir),
        &["does not exist"],
    );
    fails(
        &cinder(
            &[
                "eval", "--run", "run", "--video", "x.gif", "--camera", "top",
            ],
            &dir,
        ),
        &["--camera", "track"],
    );
    assert_eq!(before, snapshot(&dir), "a failed command touched files");
}

/// `--preset rl-zoo|cleanrl` starts from the published values exactly, and refuses an
/// algorithm its source has no values for, naming where the preset's values come from.
#[test]
fn published_presets_stay_reachable() {
    let dir = scratch("presets");
    ok(&cinder(
        &[
            "train",
            "--env",
            "Pendulum-v1",
            "--algo",
            "trpo",
            "--steps",
            "2048",
            "--preset",
            "rl-zoo",
            "--out",
            "zoo",
            "--quiet",
        ],
        &dir,
    ));
    let zoo = json(&dir.join("zoo/config.json"));
    assert_eq!(zoo["gamma"], 0.9);
    assert_eq!(zoo["n_steps"], 1024);
    let before = snapshot(&dir);
    fails(
        &cinder(
            &[
                "train",
                "--env",
                "Pendulum-v1",
                "--algo",
                "npg",
                "--preset",
                "rl-zoo",
            ],
            &dir,
        ),
        &["--preset rl-zoo", "cinder's own"],
    );
    fails(
        &cinder(
            &[
                "train",
                "--env",
                "Pendulum-v1",
                "--algo",
                "trpo",
                "--preset",
                "cleanrl",
            ],
            &dir,
        ),
        &["--preset rl-zoo"],
    );
    fails(
        &cinder(&["train", "--env", "Pendulum-v1", "--preset", "zoo"], &dir),
        &["unknown preset `zoo`"],
    );
    fails(
        &cinder(&["train", "--resume", "zoo", "--preset", "cleanrl"], &dir),
        &["--resume continues the saved config"],
    );
    assert_eq!(before, snapshot(&dir));
}

/// `mpiexec -n K cinder train`: K processes train one run (feature `mpi`).
#[cfg(feature = "mpi")]
mod mpi {
    use super::*;
    use std::time::{Duration, Instant};

    const EXE: &str = env!("CARGO_BIN_EXE_cinder");

    /// `mpiexec -n <ranks> cinder <args…>` (split on whitespace) `<extra…>`, in `cwd`.
    fn mpi_cinder(ranks: usize, args: &str, extra: &[&str], cwd: &Path) -> Output {
        let n = ranks.to_string();
        Command::new("mpiexec")
            .args(["-n", &n, EXE])
            .args(args.split_whitespace())
            .args(extra)
            .current_dir(cwd)
            .output()
            .expect("mpiexec (Debian: apt install mpich)")
    }

    #[test]
    fn two_processes_train_one_pendulum_run_that_learns() {
        let dir = scratch("mpi-learns");
        let out = mpi_cinder(
            2,
            "train --env Pendulum-v1 --algo trpo --steps 150000 --threads 1 --out run",
            &[],
            &dir,
        );
        let stdout = ok(&out);
        // Rank 0 alone prints and writes.
        assert_eq!(stdout.matches("training trpo").count(), 1, "{stdout}");
        assert!(stdout.contains("2 processes"), "{stdout}");
        let summary = json(&dir.join("run/summary.json"));
        // Pendulum's preset: 1024 steps × 2 envs per rank, 4096 per update.
        assert_eq!(summary["steps"], 151_552);
        let ret = summary["final_eval_mean"].as_f64().unwrap();
        assert!(ret >= -250.0, "two-rank TRPO on Pendulum-v1 reached {ret}");
        let rows = metrics_rows(&dir.join("run"));
        let steps: Vec<u64> = rows
            .iter()
            .map(|r| r["global_step"].as_u64().unwrap())
            .collect();
        assert_eq!(steps, (1..=37).map(|u| u * 4096).collect::<Vec<_>>());
        // Time in collectives is recorded for every update (how much depends on the load of
        // the machine: waiting for a slower rank counts, so no upper bound here).
        for r in &rows {
            let comm = r["time/comm_s"].as_f64().unwrap();
            assert!(comm.is_finite() && comm > 0.0, "time/comm_s {comm}");
        }
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "only the run folder"
        );
    }

    /// Rows of `metrics.jsonl` without what depends on the wall clock.
    fn learned_rows(dir: &Path) -> Vec<serde_json::Value> {
        metrics_rows(dir)
            .into_iter()
            .map(|mut r| {
                let o = r.as_object_mut().unwrap();
                o.retain(|k, _| !k.starts_with("time/") && k != "charts/SPS");
                r
            })
            .collect()
    }

    /// On every CPU backend compiled in (the test build has them all: the guarantee holds
    /// on each one we ship).
    #[test]
    fn a_resumed_two_process_run_equals_the_uninterrupted_one() {
        let ndarray = cfg!(feature = "ndarray").then_some("ndarray");
        for backend in std::iter::once("flex").chain(ndarray) {
            resumed_two_process_run_equals_the_uninterrupted_one(backend);
        }
    }

    fn resumed_two_process_run_equals_the_uninterrupted_one(backend: &str) {
        let dir = scratch(&format!("mpi-resume-{backend}"));
        // Pendulum's preset with normalised observations (merged statistics are part of the
        // state): 4096 steps per update on 2 ranks, 6 updates, a checkpoint every 2.
        let train = |out: &str, extra: &[&str]| {
            let args = "train --env Pendulum-v1 --algo trpo --steps 24576 --threads 1 --quiet \
                        --set checkpoint_interval=2 --set normalize_observation=true";
            let backend_out = ["--backend", backend, "--out", out];
            ok(&mpi_cinder(
                2,
                args,
                &[&backend_out[..], extra].concat(),
                &dir,
            ));
        };
        train("full", &[]);
        train("part", &["--stop-at", "12288"]);
        assert_eq!(json(&dir.join("part/summary.json"))["steps"], 12288);
        // One process cannot continue what two saved.
        let out = cinder(&["train", "--resume", "part", "--quiet"], &dir);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            err.contains("saved by a run of 2 process(es)") && err.contains("mpiexec -n 2"),
            "{err}"
        );
        ok(&mpi_cinder(
            2,
            "train --resume part --threads 1 --quiet --backend",
            &[backend],
            &dir,
        ));
        assert_eq!(
            learned_rows(&dir.join("part")),
            learned_rows(&dir.join("full"))
        );
        // The last checkpoints hold the same state (both ranks' envs and random streams) and
        // the same networks (evaluated the same).
        let last = |run: &str| {
            std::fs::read(dir.join(run).join("checkpoints/update_000006/state.json")).unwrap()
        };
        assert!(last("part") == last("full"), "state.json differs");
        let eval = |run: &str| {
            ok(&cinder(
                &["eval", "--run", run, "--episodes", "3", "--json"],
                &dir,
            ))
        };
        assert_eq!(eval("part"), eval("full"));
        let state = json(&dir.join("full/checkpoints/update_000006/state.json"));
        assert_eq!(
            state["ranks"].as_array().unwrap().len(),
            1,
            "rank 1's state"
        );
    }

    /// The device path: each rank's learner on wgpu (lavapipe here), its products averaged
    /// through the host.
    #[cfg(feature = "wgpu")]
    #[test]
    fn two_processes_train_on_wgpu() {
        let dir = scratch("mpi-wgpu");
        let out = mpi_cinder(
            2,
            "train --env Pendulum-v1 --algo trpo --steps 8192 --threads 1 --backend wgpu \
             --set eval_episodes=2 --out run",
            &[],
            &dir,
        );
        let stdout = ok(&out);
        assert!(
            stdout.contains("wgpu") && stdout.contains("2 processes"),
            "{stdout}"
        );
        let rows = metrics_rows(&dir.join("run"));
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1]["global_step"], 8192);
        assert_eq!(rows[1]["trpo/line_search_success"], 1.0);
        assert!(json(&dir.join("run/summary.json"))["final_eval_mean"].is_f64());
    }

    #[test]
    fn a_rank_that_fails_or_dies_stops_every_rank() {
        let dir = scratch("mpi-fails");
        let base = "train --env Pendulum-v1 --algo trpo --threads 1 --quiet";
        let train = &format!("{base} --steps 100000");
        // Ranks started with different configs (an MPMD launch): refused, naming the field.
        let rank0 = format!("{train} --out a");
        let rank1 = format!("{train} --out a --set gamma=0.95");
        let out = Command::new("mpiexec")
            .args(["-n", "1", EXE])
            .args(rank0.split_whitespace())
            .args([":", "-n", "1", EXE])
            .args(rank1.split_whitespace())
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("rank 1 started with another config than rank 0 (differs in: gamma)"),
            "{err}"
        );
        // Several seeds are several runs: one process each.
        let out = mpi_cinder(2, train, &["--out", "b", "--seeds", "1,2"], &dir);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("--seeds trains several runs, each in one process"),
            "{err}"
        );
        assert!(!dir.join("b").exists());

        // A rank killed in the middle of training takes the others down.
        let mut child = Command::new("mpiexec")
            .args(["-n", "2", EXE])
            .args(base.split_whitespace())
            .args(["--out", "c", "--steps", "100000000"])
            .current_dir(&dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let csv = dir.join("c/metrics.csv");
        let started = Instant::now();
        while std::fs::read_to_string(&csv).map_or(0, |t| t.lines().count()) < 3 {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no update in 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // The ranks: processes of this binary training into `c` from this test's folder.
        let ranks: Vec<u32> = std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                    let args: Vec<&[u8]> = c.split(|&b| b == 0).collect();
                    args.first() == Some(&EXE.as_bytes())
                        && args.windows(2).any(|w| w == [b"--out".as_slice(), b"c"])
                        && std::fs::read_link(format!("/proc/{pid}/cwd"))
                            .is_ok_and(|d| d.as_path() == &*dir)
                })
            })
            .collect();
        assert_eq!(ranks.len(), 2, "{ranks:?}");
        let killed = Instant::now();
        assert!(
            Command::new("kill")
                .args(["-KILL", &ranks[1].to_string()])
                .status()
                .unwrap()
                .success()
        );
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(!status.success());
                break;
            }
            assert!(
                killed.elapsed() < Duration::from_secs(30),
                "the other rank still runs 30 s after one was killed"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.wait_with_output();
        // Both ranks are gone (at most a zombie until its launcher reaps it).
        for pid in ranks {
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            assert!(
                state.is_empty() || state.contains(") Z "),
                "rank {pid} lives"
            );
        }
    }
}
