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

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cinder-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
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
    assert!(eval["mean_return"].as_f64().unwrap() < 0.0);
    assert!(eval["std_return"].as_f64().unwrap() >= 0.0);

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

    // A second seed and a plot of both.
    let mut args = vec!["train"];
    args.extend(common);
    args.extend(["--steps", "2048", "--seed", "4", "--out", "run2", "--quiet"]);
    let out = cinder(&args, &cwd);
    assert!(ok(&out).is_empty(), "--quiet prints nothing");
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
    let _ = std::fs::remove_dir_all(&cwd);
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
    let _ = std::fs::remove_dir_all(&cwd);
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
        // Hopper-v5 is native with the `mujoco` feature; Humanoid-v5 needs the bridge.
        let id = if cfg!(feature = "mujoco") {
            "Humanoid-v5"
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
    for id in ["Hopper-v5", "Ant-v5", "Reacher-v5"] {
        assert!(out.contains(id), "{out}");
    }
    let _ = std::fs::remove_dir_all(&cwd);
}
