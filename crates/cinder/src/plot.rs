//! Learning curves from run and sweep folders: one line per group — the runs of one env and
//! algorithm that learned with the same settings, or a config of a sweep — the mean over seeds
//! with a ± std band, against env steps.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::run::{Result, RunError, read_run_config};

/// One run's curve.
#[derive(Debug, Clone)]
pub struct Curve {
    /// Env id.
    pub env: String,
    /// Algorithm name.
    pub algo: String,
    /// Seed.
    pub seed: u64,
    /// The runs averaged into one line share this: `"{algo} · {env}"` from [`read_curve`].
    pub group: String,
    /// (env steps, value) for every update that logged the metric.
    pub points: Vec<(f64, f64)>,
}

/// Reads `metric` from `metrics.csv` of a run folder.
///
/// # Errors
/// A folder that is not a run folder; a metric the file does not have (the message lists the
/// ones it has).
pub fn read_curve(dir: &Path, metric: &str) -> Result<Curve> {
    let config = read_run_config(dir)?;
    let path = dir.join("metrics.csv");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| RunError::Usage(format!("{}: {e}", path.display())))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let (Some(x), Some(y)) = (col("global_step"), col(metric)) else {
        return Err(RunError::Usage(format!(
            "{} has no column `{metric}`; columns: {}",
            path.display(),
            header.join(", ")
        )));
    };
    let points = lines
        .filter_map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            let xv = cells.get(x)?.parse::<f64>().ok()?;
            let yv = cells.get(y)?.parse::<f64>().ok()?;
            yv.is_finite().then_some((xv, yv))
        })
        .collect();
    Ok(Curve {
        group: format!("{} · {}", config.algo.name(), config.env_id),
        env: config.env_id.clone(),
        algo: config.algo.name().to_string(),
        seed: config.seed,
        points,
    })
}

/// A group of runs: mean and std over seeds on a common grid.
#[derive(Debug, Clone)]
pub struct Band {
    /// Legend label.
    pub label: String,
    /// (x, mean, std).
    pub points: Vec<(f64, f64, f64)>,
}

/// Groups curves by [`Curve::group`] (in order of first appearance) and averages each group
/// on the x values of its shortest run (each run's value at x is the last one logged at or
/// before x).
pub fn bands(curves: &[Curve]) -> Vec<Band> {
    let mut groups: Vec<(&str, Vec<&Curve>)> = Vec::new();
    for c in curves.iter().filter(|c| !c.points.is_empty()) {
        match groups.iter_mut().find(|(g, _)| *g == c.group) {
            Some((_, runs)) => runs.push(c),
            None => groups.push((&c.group, vec![c])),
        }
    }
    groups
        .into_iter()
        .map(|(group, runs)| {
            let end = runs
                .iter()
                .map(|r| r.points.last().map_or(0.0, |p| p.0))
                .fold(f64::INFINITY, f64::min);
            let mut xs: Vec<f64> = runs
                .iter()
                .flat_map(|r| r.points.iter().map(|p| p.0))
                .filter(|&x| x <= end)
                .collect();
            xs.sort_by(f64::total_cmp);
            xs.dedup();
            let points = xs
                .into_iter()
                .filter_map(|x| {
                    let ys: Vec<f64> = runs
                        .iter()
                        .filter_map(|r| r.points.iter().rev().find(|p| p.0 <= x).map(|p| p.1))
                        .collect();
                    (ys.len() == runs.len()).then(|| {
                        let n = ys.len() as f64;
                        let mean = ys.iter().sum::<f64>() / n;
                        let var = ys.iter().map(|y| (y - mean) * (y - mean)).sum::<f64>() / n;
                        (x, mean, var.sqrt())
                    })
                })
                .collect();
            let seeds = if runs.len() == 1 {
                format!("seed {}", runs[0].seed)
            } else {
                format!("{} seeds, mean ± std", runs.len())
            };
            Band {
                label: format!("{group} ({seeds})"),
                points,
            }
        })
        .collect()
}

fn register_fonts() {
    static FONTS: Once = Once::new();
    FONTS.call_once(|| {
        let font = epaint_default_fonts::UBUNTU_LIGHT;
        for style in [FontStyle::Normal, FontStyle::Bold] {
            let _ = plotters::style::register_font("sans-serif", style, font);
        }
    });
}

/// Draws `metric` of the folders `dirs` into the PNG `out`, one band per group of runs:
///
/// - a sweep folder gives one band per config (labelled with the folder's name first when
///   more than one folder is given, so two sweeps' `the preset` stay apart);
/// - run folders that learned with the same settings (everything in `config.json` but the
///   seed and what is only recorded: evaluation, videos, checkpoints) are averaged into one
///   band, `algo · env`, followed by the settings that tell apart the bands of the same
///   algorithm and env.
///
/// # Errors
/// Unreadable runs, a metric no run logged, a PNG that cannot be written.
pub fn plot_runs(dirs: &[PathBuf], metric: &str, out: &Path) -> Result<()> {
    if dirs.is_empty() {
        return Err(RunError::Usage("give at least one run folder".into()));
    }
    let mut curves = Vec::new();
    let mut runs = Vec::new();
    for dir in dirs {
        if crate::sweep::is_sweep(dir) {
            let name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
            let prefix = if dirs.len() > 1 { name } else { None };
            curves.extend(crate::sweep::sweep_curves(dir, metric, prefix.as_deref())?);
        } else {
            let curve = read_curve(dir, metric)?;
            runs.push((learning_settings(dir)?, curves.len()));
            curves.push(curve);
        }
    }
    label_by_settings(&mut curves, &runs);
    plot_curves(&curves, metric, out)
}

/// The fields of `config.json` that only say what a run records, not what it learns.
pub(crate) const RECORDING: &[&str] = &[
    "seed",
    "eval_episodes",
    "eval_interval",
    "video_interval",
    "video_camera",
    "checkpoint_interval",
];

/// A run's learning settings as `key → value`: `config.json` without [`RECORDING`], the
/// algorithm's own fields flattened beside the rest.
fn learning_settings(dir: &Path) -> Result<BTreeMap<String, String>> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| RunError::Usage(format!("{}: {e}", path.display())))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| RunError::Usage(format!("{} is damaged: {e}", path.display())))?;
    let mut settings = BTreeMap::new();
    let Some(fields) = value.as_object() else {
        return Ok(settings);
    };
    for (key, v) in fields {
        if RECORDING.contains(&key.as_str()) {
            continue;
        }
        // `"algo": {"Trpo": {...}}`: the name is in the group label, the fields are settings.
        let algo_fields = v
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(|inner| inner.as_object())
            .filter(|_| key == "algo");
        if let Some(inner) = algo_fields {
            for (k, x) in inner {
                settings.insert(k.clone(), x.to_string());
            }
            continue;
        }
        settings.insert(key.clone(), v.to_string());
    }
    Ok(settings)
}

/// Splits the run folders' curves (`runs`: their settings and index in `curves`) that share
/// `algo · env` but learned with different settings into one group per settings, labelled with
/// the settings that differ among them.
fn label_by_settings(curves: &mut [Curve], runs: &[(BTreeMap<String, String>, usize)]) {
    let mut bases: Vec<&str> = Vec::new();
    for (_, i) in runs {
        if !bases.contains(&curves[*i].group.as_str()) {
            bases.push(&curves[*i].group);
        }
    }
    let mut labels = Vec::new();
    for base in bases {
        let same: Vec<&(BTreeMap<String, String>, usize)> = runs
            .iter()
            .filter(|(_, i)| curves[*i].group == base)
            .collect();
        let mut distinct: Vec<&BTreeMap<String, String>> = Vec::new();
        for (settings, _) in &same {
            if !distinct.contains(&settings) {
                distinct.push(settings);
            }
        }
        if distinct.len() < 2 {
            continue;
        }
        let keys: Vec<&String> = distinct
            .iter()
            .flat_map(|d| d.keys())
            .filter(|k| distinct.iter().any(|d| d.get(*k) != distinct[0].get(*k)))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        for (settings, i) in same {
            let differs = keys
                .iter()
                .map(|k| match settings.get(*k) {
                    Some(v) => format!("{k}={}", v.trim_matches('"')),
                    None => format!("{k} unset"),
                })
                .collect::<Vec<_>>()
                .join(";");
            labels.push((*i, format!("{base} · {differs}")));
        }
    }
    for (i, label) in labels {
        curves[i].group = label;
    }
}

/// Draws `metric` of `curves`, one line and band per [`Curve::group`], into the PNG `out`.
///
/// # Errors
/// A PNG that cannot be written.
pub fn plot_curves(curves: &[Curve], metric: &str, out: &Path) -> Result<()> {
    let bands = bands(curves);
    register_fonts();
    let draw = || -> std::result::Result<(), Box<dyn std::error::Error>> {
        let root = BitMapBackend::new(out, (1000, 620)).into_drawing_area();
        root.fill(&WHITE)?;
        let all: Vec<&(f64, f64, f64)> = bands.iter().flat_map(|b| &b.points).collect();
        let (x_max, y_min, y_max) = if all.is_empty() {
            (1.0, 0.0, 1.0)
        } else {
            let x_max = all.iter().map(|p| p.0).fold(0.0, f64::max);
            let lo = all.iter().map(|p| p.1 - p.2).fold(f64::INFINITY, f64::min);
            let hi = all
                .iter()
                .map(|p| p.1 + p.2)
                .fold(f64::NEG_INFINITY, f64::max);
            let pad = ((hi - lo) * 0.05).max(1e-6);
            (x_max.max(1.0), lo - pad, hi + pad)
        };
        let title = if bands.is_empty() {
            format!("{metric} (no values logged yet)")
        } else {
            metric.to_string()
        };
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 26))
            .margin(18)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(0.0..x_max, y_min..y_max)?;
        chart
            .configure_mesh()
            .x_desc("env steps")
            .y_desc(metric)
            .label_style(("sans-serif", 16))
            .axis_desc_style(("sans-serif", 18))
            .x_label_formatter(&|x| {
                if *x >= 1e6 {
                    format!("{:.1}M", x / 1e6)
                } else if *x >= 1e4 {
                    format!("{:.0}k", x / 1e3)
                } else if *x >= 1e3 {
                    format!("{:.1}k", x / 1e3)
                } else {
                    format!("{x:.0}")
                }
            })
            .draw()?;
        for (i, band) in bands.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            if band.points.len() > 1 && band.points.iter().any(|p| p.2 > 0.0) {
                let upper = band.points.iter().map(|p| (p.0, p.1 + p.2));
                let lower = band.points.iter().rev().map(|p| (p.0, p.1 - p.2));
                chart.draw_series(std::iter::once(Polygon::new(
                    upper.chain(lower).collect::<Vec<_>>(),
                    color.mix(0.2).filled(),
                )))?;
            }
            chart
                .draw_series(LineSeries::new(
                    band.points.iter().map(|p| (p.0, p.1)),
                    color.stroke_width(2),
                ))?
                .label(band.label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3))
                });
        }
        if !bands.is_empty() {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.4))
                .label_font(("sans-serif", 16))
                .draw()?;
        }
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| RunError::Plot(format!("{}: {e}", out.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(group: &str, seed: u64) -> Curve {
        Curve {
            env: "Hopper-v5".into(),
            algo: "trpo".into(),
            seed,
            group: group.into(),
            points: vec![(1.0, seed as f64), (2.0, 2.0 * seed as f64)],
        }
    }

    fn settings(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn runs_that_learned_differently_are_told_apart_by_what_differs() {
        let base = "trpo · Hopper-v5";
        let mut curves = vec![
            curve(base, 0),
            curve(base, 1),
            curve(base, 2),
            curve("ppo · Hopper-v5", 0),
            curve("a sweep · the preset", 0),
        ];
        let a = settings(&[
            ("gamma", "0.99"),
            ("log_std_init", "0.0"),
            ("target_kl", "0.01"),
        ]);
        let b = settings(&[
            ("gamma", "0.99"),
            ("log_std_init", "-0.5"),
            ("target_kl", "0.01"),
        ]);
        let c = settings(&[("gamma", "0.99")]);
        let runs = vec![(a.clone(), 0), (b, 1), (a, 2), (c, 3)];
        label_by_settings(&mut curves, &runs);
        let groups: Vec<&str> = curves.iter().map(|c| c.group.as_str()).collect();
        assert_eq!(
            groups,
            [
                "trpo · Hopper-v5 · log_std_init=0.0",
                "trpo · Hopper-v5 · log_std_init=-0.5",
                "trpo · Hopper-v5 · log_std_init=0.0",
                "ppo · Hopper-v5",
                "a sweep · the preset",
            ]
        );
        // Seeds 0 and 2 are averaged; seed 1 is a band of its own.
        let bands = bands(&curves);
        assert_eq!(bands.len(), 4);
        assert_eq!(
            bands[0].label,
            "trpo · Hopper-v5 · log_std_init=0.0 (2 seeds, mean ± std)"
        );
        assert_eq!(bands[0].points, [(1.0, 1.0, 1.0), (2.0, 2.0, 2.0)]);
        assert_eq!(
            bands[1].label,
            "trpo · Hopper-v5 · log_std_init=-0.5 (seed 1)"
        );

        // A setting only one group has is named as unset in the other.
        let mut curves = vec![curve(base, 0), curve(base, 1)];
        let runs = vec![
            (settings(&[("gamma", "0.99")]), 0),
            (settings(&[("gamma", "0.99"), ("target_kl", "0.02")]), 1),
        ];
        label_by_settings(&mut curves, &runs);
        assert_eq!(curves[0].group, "trpo · Hopper-v5 · target_kl unset");
        assert_eq!(curves[1].group, "trpo · Hopper-v5 · target_kl=0.02");
    }

    #[test]
    fn learning_settings_leave_out_the_seed_and_what_is_only_recorded() {
        let dir = std::env::temp_dir().join(format!("cinder-plot-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("config.json"),
            r#"{"env_id": "Hopper-v5", "algo": {"Trpo": {"target_kl": 0.01}}, "seed": 3,
                "eval_episodes": 20, "checkpoint_interval": 10, "gamma": 0.99,
                "policy_hidden": [64, 64], "env_kwargs": {}}"#,
        )
        .unwrap();
        let got = learning_settings(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            got,
            settings(&[
                ("env_id", "\"Hopper-v5\""),
                ("target_kl", "0.01"),
                ("gamma", "0.99"),
                ("policy_hidden", "[64,64]"),
                ("env_kwargs", "{}"),
            ])
        );
    }
}
