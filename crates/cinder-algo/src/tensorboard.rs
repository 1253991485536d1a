//! TensorBoard event files: scalars and text, written incrementally, resumable.
//!
//! The format is TensorFlow's: a file named `events.out.tfevents.*` holding TFRecord records
//! (length, masked CRC-32C of the length, an `Event` protocol buffer, its masked CRC-32C),
//! the first one announcing `brain.Event:2`. Scalars are `Summary.Value.simple_value`
//! (float32), as PyTorch's `SummaryWriter` writes them for CleanRL; text uses the text
//! plugin's string tensor. Each event is appended and flushed as it is written, so a killed
//! run leaves a file TensorBoard reads up to the last whole record.
//!
//! ```no_run
//! use cinder_algo::tensorboard::EventWriter;
//!
//! let mut w = EventWriter::open(std::path::Path::new("runs/demo"), None)?;
//! w.text(0, "hyperparameters", "|param|value|\n|-|-|\n|gamma|0.99|")?;
//! w.scalars(2048, &[("charts/episodic_return", -1200.5)])?;
//! # Ok::<(), cinder_algo::AlgoError>(())
//! ```

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{AlgoError, Result};

/// The prefix TensorBoard recognises event files by.
pub const FILE_PREFIX: &str = "events.out.tfevents.";

/// Appends events to one TensorBoard event file in a run folder.
#[derive(Debug)]
pub struct EventWriter {
    file: File,
    path: PathBuf,
}

impl EventWriter {
    /// Starts the run's event file in `dir`, or — when resuming with `keep_through = Some(s)`
    /// — keeps the events of the existing file up to step `s` and drops later ones (they
    /// belong to the abandoned continuation), so a resumed run has no step twice. The kept
    /// events (with their original wall times) are written to a temporary file that replaces
    /// the old one by rename: a crash at any moment leaves the old or the new history. A
    /// record cut short by a crash is dropped. A fresh start removes event files of an
    /// earlier run in `dir`.
    ///
    /// # Errors
    /// If the folder cannot be read or the file cannot be written.
    pub fn open(dir: &Path, keep_through: Option<u64>) -> Result<Self> {
        let existing = event_files(dir)?;
        let (path, kept) = match (keep_through, existing.last()) {
            (Some(step), Some(last)) => {
                let bytes = std::fs::read(last).map_err(|e| AlgoError::io(last, e))?;
                let kept: Vec<u8> = records(&bytes)
                    .into_iter()
                    .filter(|r| keep(r, step))
                    .flat_map(frame)
                    .collect();
                (last.clone(), kept)
            }
            _ => {
                let secs = now().floor() as u64;
                let path = dir.join(format!("{FILE_PREFIX}{secs}.cinder"));
                (path, frame(&file_version_event(now())))
            }
        };
        crate::fsio::write_atomic(&path, &kept)?;
        for old in existing.iter().filter(|p| **p != path) {
            std::fs::remove_file(old).map_err(|e| AlgoError::io(old, e))?;
        }
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| AlgoError::io(&path, e))?;
        Ok(Self { file, path })
    }

    /// The event file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one event with a scalar per `(tag, value)` at `step` (stored as float32, as
    /// TensorBoard's scalars are).
    ///
    /// # Errors
    /// If writing fails.
    pub fn scalars(&mut self, step: u64, values: &[(&str, f64)]) -> Result<()> {
        let mut summary = Vec::new();
        for (tag, v) in values {
            let mut value = Vec::new();
            bytes_field(&mut value, 1, tag.as_bytes());
            key(&mut value, 2, FIXED32);
            value.extend_from_slice(&(*v as f32).to_le_bytes());
            bytes_field(&mut summary, 1, &value);
        }
        self.append(&summary_event(now(), step, &summary))
    }

    /// Appends a text summary (Markdown, rendered by TensorBoard's text plugin) at `step`.
    ///
    /// # Errors
    /// If writing fails.
    pub fn text(&mut self, step: u64, tag: &str, markdown: &str) -> Result<()> {
        let mut plugin = Vec::new();
        bytes_field(&mut plugin, 1, b"text");
        let mut metadata = Vec::new();
        bytes_field(&mut metadata, 1, &plugin);
        let mut tensor = Vec::new();
        key(&mut tensor, 1, VARINT);
        varint(&mut tensor, DT_STRING);
        bytes_field(&mut tensor, 2, &[]); // scalar shape
        bytes_field(&mut tensor, 8, markdown.as_bytes());
        let mut value = Vec::new();
        bytes_field(&mut value, 1, tag.as_bytes());
        bytes_field(&mut value, 8, &tensor);
        bytes_field(&mut value, 9, &metadata);
        let mut summary = Vec::new();
        bytes_field(&mut summary, 1, &value);
        self.append(&summary_event(now(), step, &summary))
    }

    /// Forces the events written so far to disk.
    ///
    /// # Errors
    /// If the sync fails.
    pub fn sync(&self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(|e| AlgoError::io(&self.path, e))
    }

    fn append(&mut self, event: &[u8]) -> Result<()> {
        // One write per record: a kill leaves whole records and at most one torn tail.
        self.file
            .write_all(&frame(event))
            .and_then(|_| self.file.flush())
            .map_err(|e| AlgoError::io(&self.path, e))
    }
}

/// The event files in `dir`, sorted by name (TensorBoard's order).
fn event_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(files),
        Err(e) => return Err(AlgoError::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| AlgoError::io(dir, e))?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with(FILE_PREFIX) {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

/// Whether a resumed run keeps this record: everything up to `step`, except a
/// hyperparameter text at `step` itself (the resumed run writes it again).
fn keep(event: &[u8], step: u64) -> bool {
    let s = event_step(event);
    s < step || (s == step && event_tag(event).as_deref() != Some(CONFIG_TAG))
}

/// The tag under which the trainer logs its resolved config.
pub const CONFIG_TAG: &str = "hyperparameters";

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

// --- Event protocol buffers (tensorflow/core/util/event.proto, summary.proto) ---

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;
/// `tensorflow.DataType.DT_STRING`.
const DT_STRING: u64 = 7;

fn varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn key(buf: &mut Vec<u8>, field: u32, wire: u8) {
    varint(buf, (u64::from(field) << 3) | u64::from(wire));
}

fn bytes_field(buf: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    key(buf, field, LEN);
    varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

/// `Event { wall_time = 1; step = 2; … }` with the rest of the fields appended by `rest`.
fn event(wall_time: f64, step: u64, rest: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut buf = Vec::new();
    key(&mut buf, 1, FIXED64);
    buf.extend_from_slice(&wall_time.to_le_bytes());
    if step != 0 {
        key(&mut buf, 2, VARINT);
        varint(&mut buf, step);
    }
    rest(&mut buf);
    buf
}

fn file_version_event(wall_time: f64) -> Vec<u8> {
    event(wall_time, 0, |b| bytes_field(b, 3, b"brain.Event:2"))
}

fn summary_event(wall_time: f64, step: u64, summary: &[u8]) -> Vec<u8> {
    event(wall_time, step, |b| bytes_field(b, 5, summary))
}

/// The top-level fields of a protocol buffer message: (field number, varint value or
/// length-delimited bytes); `None` if it is malformed.
fn fields(mut msg: &[u8]) -> Option<Vec<(u64, u64, &[u8])>> {
    fn read_varint(b: &mut &[u8]) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = b.split_first()?;
            *b = rest;
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(v);
            }
        }
        None
    }
    let mut out = Vec::new();
    while !msg.is_empty() {
        let k = read_varint(&mut msg)?;
        let (field, wire) = (k >> 3, (k & 7) as u8);
        match wire {
            VARINT => out.push((field, read_varint(&mut msg)?, &[][..])),
            FIXED64 | FIXED32 => {
                let n = if wire == FIXED64 { 8 } else { 4 };
                let (bytes, rest) = msg.split_at_checked(n)?;
                out.push((field, 0, bytes));
                msg = rest;
            }
            LEN => {
                let n = usize::try_from(read_varint(&mut msg)?).ok()?;
                let (bytes, rest) = msg.split_at_checked(n)?;
                out.push((field, 0, bytes));
                msg = rest;
            }
            _ => return None,
        }
    }
    Some(out)
}

/// An event's step (0 when absent).
fn event_step(event: &[u8]) -> u64 {
    fields(event)
        .and_then(|f| f.into_iter().find(|(n, _, _)| *n == 2).map(|(_, v, _)| v))
        .unwrap_or(0)
}

/// The tag of an event's first summary value.
fn event_tag(event: &[u8]) -> Option<String> {
    let field = |msg: &[u8], n: u64| -> Option<Vec<u8>> {
        fields(msg)?
            .into_iter()
            .find(|(f, _, _)| *f == n)
            .map(|(_, _, b)| b.to_vec())
    };
    let summary = field(event, 5)?;
    let value = field(&summary, 1)?;
    String::from_utf8(field(&value, 1)?).ok()
}

// --- TFRecord framing ---

/// `len (u64 LE) · masked crc(len) · data · masked crc(data)`.
fn frame(data: &[u8]) -> Vec<u8> {
    let len = (data.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc(data).to_le_bytes());
    out
}

/// The whole, intact records at the start of `bytes` (reading stops at the first torn or
/// corrupt one).
fn records(mut bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while bytes.len() >= 12 {
        let (len, rest) = bytes.split_at(8);
        let len_crc = u32::from_le_bytes(rest[..4].try_into().unwrap());
        if masked_crc(len) != len_crc {
            break;
        }
        let Ok(n) = usize::try_from(u64::from_le_bytes(len.try_into().unwrap())) else {
            break;
        };
        let rest = &rest[4..];
        if rest.len() < n.saturating_add(4) {
            break;
        }
        let (data, rest) = rest.split_at(n);
        if masked_crc(data) != u32::from_le_bytes(rest[..4].try_into().unwrap()) {
            break;
        }
        out.push(data);
        bytes = &rest[4..];
    }
    out
}

/// CRC-32C (Castagnoli), reflected, as TFRecord uses it.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82f6_3b78
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

fn crc32c(data: &[u8]) -> u32 {
    !data.iter().fold(!0u32, |c, &b| {
        CRC_TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8)
    })
}

fn masked_crc(data: &[u8]) -> u32 {
    let c = crc32c(data);
    c.rotate_right(15).wrapping_add(0xa282_ead8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        // RFC 3720 B.4 / the CRC catalogue's check value for "123456789".
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8a91_36aa);
    }

    #[test]
    fn torn_records_are_dropped_and_steps_read_back() {
        let a = summary_event(1.0, 7, &[]);
        let b = file_version_event(2.0);
        let mut bytes = frame(&a);
        bytes.extend(frame(&b));
        let whole = bytes.len();
        bytes.extend(&frame(&a)[..10]);
        let got = records(&bytes);
        assert_eq!(got, vec![&a[..], &b[..]]);
        assert_eq!(event_step(got[0]), 7);
        assert_eq!(event_step(got[1]), 0);
        bytes[whole - 1] ^= 1;
        assert_eq!(records(&bytes).len(), 1);
    }

    /// A resume keeps the events up to its step (not the config text at that step), drops
    /// the later ones and a torn tail, and appends after them.
    #[test]
    fn resume_keeps_events_up_to_its_step() {
        let dir = std::env::temp_dir().join(format!("cinder-tb-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut w = EventWriter::open(&dir, None).unwrap();
        w.text(0, CONFIG_TAG, "a").unwrap();
        for step in [10, 20, 30] {
            w.scalars(step, &[("x", step as f64)]).unwrap();
        }
        w.text(20, CONFIG_TAG, "b").unwrap();
        let path = w.path().to_path_buf();
        drop(w);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(&frame(&summary_event(0.0, 40, &[]))[..20])
            .unwrap();
        let mut w = EventWriter::open(&dir, Some(20)).unwrap();
        assert_eq!(w.path(), path);
        w.scalars(30, &[("x", 31.0)]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let got: Vec<(u64, Option<String>)> = records(&bytes)
            .into_iter()
            .map(|r| (event_step(r), event_tag(r)))
            .collect();
        let tag = |t: &str| Some(t.to_string());
        assert_eq!(
            got,
            vec![
                (0, None),
                (0, tag(CONFIG_TAG)),
                (10, tag("x")),
                (20, tag("x")),
                (30, tag("x")),
            ]
        );
        // A fresh start replaces the file.
        let w = EventWriter::open(&dir, None).unwrap();
        assert_eq!(records(&std::fs::read(w.path()).unwrap()).len(), 1);
        assert_eq!(event_files(&dir).unwrap().len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
