//! Videos of evaluation episodes: the frames [`VecEnv::render`](cinder_env::VecEnv::render)
//! draws, written as an animated GIF.
//!
//! GIF is the one format written here: it needs no system library (the encoder is the `gif`
//! crate, pure Rust) and every browser and Markdown viewer plays it. MP4 would need an
//! H.264 encoder, which no pure-Rust crate provides without a C library. GIF frame delays are
//! whole hundredths of a second, and browsers play delays under 2/100 s as 1/10 s, so a video
//! is sampled at `fps` ≤ 50 frames per second of simulated time: it plays in real time.

use std::path::Path;

use cinder_env::Frame;

use crate::error::{AlgoError, Result};
use crate::fsio::write_atomic;

/// The highest frame rate of a GIF that browsers play as written.
pub const MAX_GIF_FPS: f64 = 50.0;

/// The frame rate of a video when none is asked for (or the env's, if lower): a GIF delay of
/// exactly 4/100 s.
pub const DEFAULT_FPS: f64 = 25.0;

/// Every how many env steps a video at `fps` (default: [`DEFAULT_FPS`], or the env's rate if lower) takes a
/// frame of an env drawn at `env_fps` frames per second of simulated time, so that it plays
/// in real time: Hopper-v5 (125) at 25 fps takes every 5th step.
///
/// # Errors
/// A bad `fps` ([`check_fps`]).
pub fn frame_stride(env_fps: f64, fps: Option<f64>) -> Result<usize> {
    let fps = fps.unwrap_or(env_fps.min(DEFAULT_FPS));
    check_fps(fps)?;
    Ok(((env_fps / fps).round() as usize).max(1))
}

/// The delay of one GIF frame at `fps`, in hundredths of a second (at least 2).
pub fn gif_delay(fps: f64) -> u16 {
    (100.0 / fps).round().clamp(2.0, f64::from(u16::MAX)) as u16
}

/// Checks a requested video frame rate.
///
/// # Errors
/// [`AlgoError::Config`] unless `0 < fps ≤ 50`.
pub fn check_fps(fps: f64) -> Result<()> {
    if !(fps > 0.0 && fps <= MAX_GIF_FPS) {
        return Err(AlgoError::Config(format!(
            "video fps {fps}: a GIF plays between 0 and {MAX_GIF_FPS} frames per second \
             (browsers slow faster GIFs down to 10)"
        )));
    }
    Ok(())
}

/// Writes `frames`, shown at `fps` frames per second, to `path` as a looping GIF,
/// atomically.
///
/// # Errors
/// No frames, frames of different sizes or over 65535 pixels a side, a bad `fps`, I/O.
pub fn write_gif(path: &Path, frames: &[Frame], fps: f64) -> Result<()> {
    let first = frames
        .first()
        .ok_or_else(|| AlgoError::Config("a video needs at least one frame".into()))?;
    if frames
        .iter()
        .any(|f| (f.width, f.height) != (first.width, first.height))
    {
        return Err(AlgoError::Config(
            "the frames of a video must all have one size".into(),
        ));
    }
    let (w, h) = (
        u16::try_from(first.width).map_err(|_| too_big(first))?,
        u16::try_from(first.height).map_err(|_| too_big(first))?,
    );
    check_fps(fps)?;
    let delay = gif_delay(fps);
    let mut bytes = Vec::new();
    {
        let gif_err = |e: gif::EncodingError| AlgoError::io(path, e);
        let mut encoder = gif::Encoder::new(&mut bytes, w, h, &[]).map_err(gif_err)?;
        encoder.set_repeat(gif::Repeat::Infinite).map_err(gif_err)?;
        for f in frames {
            // NeuQuant palette per frame; speed 10 is the crate's balance of speed and colour.
            let mut frame = gif::Frame::from_rgb_speed(w, h, &f.rgb, 10);
            frame.delay = delay;
            encoder.write_frame(&frame).map_err(gif_err)?;
        }
    }
    write_atomic(path, &bytes)
}

fn too_big(f: &Frame) -> AlgoError {
    AlgoError::Config(format!(
        "a {}×{} frame is too large for a GIF (65535 pixels a side at most)",
        f.width, f.height
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strides_play_in_real_time() {
        // Hopper: 125 frames per second of simulated time, shown at 25.
        assert_eq!(frame_stride(125.0, Some(25.0)).unwrap(), 5);
        // By default 25, or the env's own rate if lower.
        assert_eq!(frame_stride(125.0, None).unwrap(), 5);
        assert_eq!(frame_stride(50.0, None).unwrap(), 2);
        assert_eq!(frame_stride(15.0, None).unwrap(), 1);
        assert_eq!(frame_stride(20.0, Some(25.0)).unwrap(), 1);
        assert!(frame_stride(50.0, Some(0.0)).is_err());
    }

    #[test]
    fn delays_are_hundredths_and_fps_is_checked() {
        assert_eq!(gif_delay(25.0), 4);
        assert_eq!(gif_delay(50.0), 2);
        assert_eq!(gif_delay(125.0), 2);
        assert!(check_fps(0.0).is_err());
        assert!(check_fps(60.0).is_err());
        assert!(check_fps(f64::NAN).is_err());
        assert!(check_fps(30.0).is_ok());
    }

    #[test]
    fn a_gif_decodes_to_the_frames_written() {
        let dir = std::env::temp_dir().join(format!("cinder-gif-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("v.gif");
        let frames: Vec<Frame> = (0..10u8)
            .map(|k| Frame::filled(8, 6, [k * 20, 255 - k * 20, 100]))
            .collect();
        write_gif(&path, &frames, 25.0).unwrap();
        let mut options = gif::DecodeOptions::new();
        options.set_color_output(gif::ColorOutput::RGBA);
        let mut decoder = options
            .read_info(std::fs::File::open(&path).unwrap())
            .unwrap();
        assert_eq!((decoder.width(), decoder.height()), (8, 6));
        let mut count = 0;
        while let Some(f) = decoder.read_next_frame().unwrap() {
            assert_eq!(f.delay, 4);
            // A flat colour survives the palette (NeuQuant may move it by a few levels).
            let k = count as u8;
            for (got, want) in f.buffer[..3].iter().zip([k * 20, 255 - k * 20, 100]) {
                assert!(got.abs_diff(want) <= 8, "{got} vs {want}");
            }
            count += 1;
        }
        assert_eq!(count, 10);
        assert!(write_gif(&path, &[], 25.0).is_err());
        assert!(write_gif(&path, &frames, 100.0).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
