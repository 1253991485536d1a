//! Per-update metrics with CleanRL's names, written as CSV, JSON Lines and a TensorBoard
//! event file.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{AlgoError, Result};
use crate::tensorboard::{CONFIG_TAG, EventWriter};

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
    "trpo/cg_iterations",
    "trpo/cg_breakdown",
    "policy/std",
    "eval/mean_return",
    "eval/std_return",
    "update/skipped",
    "update/critic_skipped",
    "time/collect_s",
    "time/gae_s",
    "time/policy_s",
    "time/value_s",
    "time/comm_s",
];

/// Text fields of a row: written to `metrics.jsonl` only (the CSV keeps numbers).
pub const NOTES: &[&str] = &["update/skip_reason", "update/critic_skip_reason"];

/// One row: metric name → value, and the text notes of [`NOTES`] (why an update was skipped).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Numeric metrics, by name (one of [`COLUMNS`]).
    pub values: BTreeMap<String, f64>,
    /// Text notes, by name (one of [`NOTES`]).
    pub notes: BTreeMap<String, String>,
}

impl Metrics {
    /// Sets `name` (one of [`COLUMNS`]).
    pub fn set(&mut self, name: &str, value: f64) {
        debug_assert!(COLUMNS.contains(&name), "unknown metric {name}");
        self.values.insert(name.to_string(), value);
    }

    /// Sets the note `name` (one of [`NOTES`]).
    pub fn set_note(&mut self, name: &str, text: impl Into<String>) {
        debug_assert!(NOTES.contains(&name), "unknown note {name}");
        self.notes.insert(name.to_string(), text.into());
    }

    /// The note `name`, if set.
    pub fn note(&self, name: &str) -> Option<&str> {
        self.notes.get(name).map(String::as_str)
    }

    /// Sets `name` when `value` is `Some`.
    pub fn set_opt(&mut self, name: &str, value: Option<f64>) {
        if let Some(v) = value {
            self.set(name, v);
        }
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.values.get(name).copied()
    }
}

/// Appends rows to `metrics.csv`, `metrics.jsonl` and a TensorBoard event file
/// (`events.out.tfevents.*`: every metric at `global_step`, under its CleanRL name) in a run
/// folder.
#[derive(Debug)]
pub struct MetricsWriter {
    csv: File,
    jsonl: File,
    csv_path: PathBuf,
    events: EventWriter,
    start_step: u64,
}

impl MetricsWriter {
    /// Creates the files in `dir`, or — when resuming after update `keep_through` — keeps
    /// their rows up to that update and drops later ones (they belong to the abandoned
    /// continuation; in the event file, the events after that update's `global_step`). The
    /// kept rows are written to temporary files that replace the old ones by rename, so a
    /// crash at any moment leaves either the old or the new history.
    ///
    /// # Errors
    /// If the files cannot be written.
    pub fn open(dir: &Path, keep_through: Option<u64>) -> Result<Self> {
        let csv_path = dir.join("metrics.csv");
        let jsonl_path = dir.join("metrics.jsonl");
        let header = COLUMNS.join(",");
        // The columns the existing file was written with: a run started by an older cinder
        // has fewer, and its kept rows are rewritten under today's header (new columns empty).
        let old_header: Vec<String> = match keep_through {
            Some(_) => File::open(&csv_path)
                .ok()
                .and_then(|f| BufReader::new(f).lines().next()?.ok())
                .map(|h| h.split(',').map(str::to_string).collect())
                .unwrap_or_else(|| COLUMNS.iter().map(|c| c.to_string()).collect()),
            None => Vec::new(),
        };
        let (csv_rows, json_rows) = match keep_through {
            Some(k) => (
                kept_lines(&csv_path, k, |line| {
                    // A row cut short by a crash has fewer cells: never keep it.
                    let cells: Vec<&str> = line.split(',').collect();
                    (cells.len() == old_header.len() && old_header.len() > 1)
                        .then(|| cells[1].parse::<u64>().ok())
                        .flatten()
                })?
                .into_iter()
                .map(|line| under_header(&line, &old_header))
                .collect(),
                kept_lines(&jsonl_path, k, |line| {
                    serde_json::from_str::<serde_json::Value>(line)
                        .ok()
                        .and_then(|v| v.get("update").and_then(|u| u.as_u64()))
                })?,
            ),
            None => (Vec::new(), Vec::new()),
        };
        let mut csv_text = format!("{header}\n");
        for line in csv_rows {
            csv_text.push_str(&line);
            csv_text.push('\n');
        }
        // The event file keeps what the JSON lines keep: up to the last kept row's step.
        let start_step = json_rows
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v.get("global_step").and_then(|s| s.as_u64()))
            .max()
            .unwrap_or(0);
        let events = EventWriter::open(dir, keep_through.map(|_| start_step))?;
        let mut json_text = String::new();
        for line in json_rows {
            json_text.push_str(&line);
            json_text.push('\n');
        }
        crate::fsio::write_atomic(&csv_path, csv_text.as_bytes())?;
        crate::fsio::write_atomic(&jsonl_path, json_text.as_bytes())?;
        let append = |path: &Path| {
            std::fs::OpenOptions::new()
                .append(true)
                .open(path)
                .map_err(|e| AlgoError::io(path, e))
        };
        Ok(Self {
            csv: append(&csv_path)?,
            jsonl: append(&jsonl_path)?,
            csv_path,
            events,
            start_step,
        })
    }

    /// Logs the resolved config as a Markdown table (`param | value`, nested fields
    /// dotted, as CleanRL's `hyperparameters` text) in the event file, at the step the
    /// writer starts from (0, or the resumed update's `global_step`).
    ///
    /// # Errors
    /// If writing fails.
    pub fn write_config(&mut self, config: &serde_json::Value) -> Result<()> {
        let mut rows = Vec::new();
        flatten_json("", config, &mut rows);
        let mut text = String::from("|param|value|\n|-|-|\n");
        for (k, v) in rows {
            text.push_str(&format!("|{k}|{}|\n", v.replace('|', "\\|")));
        }
        self.events.text(self.start_step, CONFIG_TAG, &text)
    }

    /// Forces the rows written so far to disk (before a checkpoint that counts on them).
    ///
    /// # Errors
    /// If the sync fails.
    pub fn sync(&self) -> Result<()> {
        self.csv
            .sync_data()
            .and_then(|_| self.jsonl.sync_data())
            .map_err(|e| AlgoError::io(&self.csv_path, e))?;
        self.events.sync()
    }

    /// Appends one row to the files (to the event file at the row's `global_step`).
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
        for (name, text) in &row.notes {
            object.insert(name.clone(), serde_json::Value::String(text.clone()));
        }
        writeln!(self.jsonl, "{}", serde_json::Value::Object(object))
            .map_err(|e| AlgoError::io(&self.csv_path, e))?;
        self.csv
            .flush()
            .map_err(|e| AlgoError::io(&self.csv_path, e))?;
        self.jsonl
            .flush()
            .map_err(|e| AlgoError::io(&self.csv_path, e))?;
        let step = row.get("global_step").unwrap_or(0.0) as u64;
        let scalars: Vec<(&str, f64)> = COLUMNS[1..]
            .iter()
            .filter_map(|c| row.get(c).map(|v| (*c, v)))
            .collect();
        self.events.scalars(step, &scalars)
    }
}

/// `(dotted path, value)` for each leaf of a JSON value, in order.
fn flatten_json(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match v {
        serde_json::Value::Object(map) if !map.is_empty() => {
            for (k, x) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten_json(&key, x, out);
            }
        }
        serde_json::Value::String(s) => out.push((prefix.to_string(), s.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
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
/// A CSV row written under `header`, rewritten under [`COLUMNS`] (a column `header` lacks is
/// left empty); unchanged when the headers agree.
fn under_header(line: &str, header: &[String]) -> String {
    if header
        .iter()
        .map(String::as_str)
        .eq(COLUMNS.iter().copied())
    {
        return line.to_string();
    }
    let cells: Vec<&str> = line.split(',').collect();
    COLUMNS
        .iter()
        .map(|c| header.iter().position(|h| h == c).map_or("", |i| cells[i]))
        .collect::<Vec<_>>()
        .join(",")
}

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

#[cfg(test)]
mod tests {
    use super::*;

    /// A run folder written before a column existed resumes with its rows kept, moved under
    /// today's header.
    #[test]
    fn rows_of_an_older_header_are_kept_on_resume() {
        let dir = std::env::temp_dir().join(format!("cinder-metrics-old-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let old: Vec<&str> = COLUMNS
            .iter()
            .copied()
            .filter(|c| *c != "time/comm_s")
            .collect();
        let row = |u: u64| {
            old.iter()
                .map(|c| match *c {
                    "global_step" => (u * 100).to_string(),
                    "update" => u.to_string(),
                    "time/value_s" => "0.5".to_string(),
                    _ => String::new(),
                })
                .collect::<Vec<_>>()
                .join(",")
        };
        let text = format!("{}\n{}\n{}\n{}\n", old.join(","), row(1), row(2), row(3));
        std::fs::write(dir.join("metrics.csv"), text).unwrap();
        let jsonl = (1..=3)
            .map(|u| format!("{{\"global_step\":{},\"update\":{u}}}\n", u * 100))
            .collect::<String>();
        std::fs::write(dir.join("metrics.jsonl"), jsonl).unwrap();
        drop(MetricsWriter::open(&dir, Some(2)).unwrap());
        let csv = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], COLUMNS.join(","));
        assert_eq!(lines.len(), 3, "updates 1 and 2 kept: {csv}");
        let col = |name: &str| COLUMNS.iter().position(|c| *c == name).unwrap();
        for (i, line) in lines[1..].iter().enumerate() {
            let cells: Vec<&str> = line.split(',').collect();
            assert_eq!(cells.len(), COLUMNS.len());
            assert_eq!(cells[col("update")], (i + 1).to_string());
            assert_eq!(cells[col("time/value_s")], "0.5");
            assert_eq!(cells[col("time/comm_s")], "");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
