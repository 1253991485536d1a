//! Per-update metrics with CleanRL's names, written as CSV and JSON Lines.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{AlgoError, Result};

/// Every column of `metrics.csv`, in order. A metric that does not apply to the algorithm (or
/// to this update) is an empty cell in the CSV and absent from the JSON line.
pub const COLUMNS: &[&str] = &[
    "global_step",
    "update",
    "charts/episodic_return",
    "charts/episodic_length",
    "charts/unstable_episodes",
    "charts/SPS",
    "charts/learning_rate",
    "losses/policy_loss",
    "losses/value_loss",
    "losses/entropy",
    "losses/approx_kl",
    "losses/clipfrac",
    "losses/explained_variance",
    "losses/kl_coef",
    "trpo/line_search_success",
    "trpo/backtracks",
    "trpo/cg_residual",
    "trpo/step_kl",
    "policy/std",
    "eval/mean_return",
    "eval/std_return",
    "update/skipped",
    "time/collect_s",
    "time/gae_s",
    "time/policy_s",
    "time/value_s",
];

/// One row: metric name → value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics(pub BTreeMap<String, f64>);

impl Metrics {
    /// Sets `name` (one of [`COLUMNS`]).
    pub fn set(&mut self, name: &str, value: f64) {
        debug_assert!(COLUMNS.contains(&name), "unknown metric {name}");
        self.0.insert(name.to_string(), value);
    }

    /// Sets `name` when `value` is `Some`.
    pub fn set_opt(&mut self, name: &str, value: Option<f64>) {
        if let Some(v) = value {
            self.set(name, v);
        }
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.0.get(name).copied()
    }
}

/// Appends rows to `metrics.csv` and `metrics.jsonl` in a run folder.
#[derive(Debug)]
pub struct MetricsWriter {
    csv: File,
    jsonl: File,
    csv_path: PathBuf,
}

impl MetricsWriter {
    /// Creates both files in `dir`, or — when resuming after update `keep_through` — keeps
    /// their rows up to that update and drops later ones (they belong to the abandoned
    /// continuation).
    ///
    /// # Errors
    /// If the files cannot be written.
    pub fn open(dir: &Path, keep_through: Option<u64>) -> Result<Self> {
        let csv_path = dir.join("metrics.csv");
        let jsonl_path = dir.join("metrics.jsonl");
        let header = COLUMNS.join(",");
        let (csv_rows, json_rows) = match keep_through {
            Some(k) => (
                kept_lines(&csv_path, k, |line| {
                    line.split(',').nth(1).and_then(|u| u.parse::<u64>().ok())
                })?,
                kept_lines(&jsonl_path, k, |line| {
                    serde_json::from_str::<serde_json::Value>(line)
                        .ok()
                        .and_then(|v| v.get("update").and_then(|u| u.as_u64()))
                })?,
            ),
            None => (Vec::new(), Vec::new()),
        };
        let mut csv = std::fs::File::create(&csv_path).map_err(|e| AlgoError::io(&csv_path, e))?;
        writeln!(csv, "{header}").map_err(|e| AlgoError::io(&csv_path, e))?;
        for line in csv_rows {
            writeln!(csv, "{line}").map_err(|e| AlgoError::io(&csv_path, e))?;
        }
        let mut jsonl =
            std::fs::File::create(&jsonl_path).map_err(|e| AlgoError::io(&jsonl_path, e))?;
        for line in json_rows {
            writeln!(jsonl, "{line}").map_err(|e| AlgoError::io(&jsonl_path, e))?;
        }
        Ok(Self {
            csv,
            jsonl,
            csv_path,
        })
    }

    /// Appends one row to both files.
    ///
    /// # Errors
    /// If writing fails.
    pub fn write(&mut self, row: &Metrics) -> Result<()> {
        let cells: Vec<String> = COLUMNS
            .iter()
            .map(|c| match row.get(c) {
                Some(v) if v.is_finite() => format_number(v),
                Some(v) => format!("{v}"),
                None => String::new(),
            })
            .collect();
        writeln!(self.csv, "{}", cells.join(",")).map_err(|e| AlgoError::io(&self.csv_path, e))?;
        let mut object = serde_json::Map::new();
        for c in COLUMNS {
            if let Some(v) = row.get(c) {
                let value = if *c == "global_step" || *c == "update" {
                    serde_json::Value::from(v as u64)
                } else {
                    serde_json::Number::from_f64(v)
                        .map(serde_json::Value::Number)
                        .unwrap_or(serde_json::Value::Null)
                };
                object.insert(c.to_string(), value);
            }
        }
        writeln!(self.jsonl, "{}", serde_json::Value::Object(object))
            .map_err(|e| AlgoError::io(&self.csv_path, e))?;
        self.csv
            .flush()
            .map_err(|e| AlgoError::io(&self.csv_path, e))?;
        self.jsonl
            .flush()
            .map_err(|e| AlgoError::io(&self.csv_path, e))
    }
}

fn format_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// The data lines of `path` whose update (read by `update_of`) is at most `k`.
fn kept_lines(path: &Path, k: u64, update_of: impl Fn(&str) -> Option<u64>) -> Result<Vec<String>> {
    let Ok(file) = File::open(path) else {
        return Ok(Vec::new());
    };
    let mut kept = Vec::new();
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|e| AlgoError::io(path, e))?;
        if let Some(u) = update_of(&line)
            && u <= k
        {
            kept.push(line);
        }
    }
    Ok(kept)
}
