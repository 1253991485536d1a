//! Pictures of environments, as Gymnasium's `render_mode="rgb_array"` gives them:
//! [`VecEnv::render`](crate::VecEnv::render) draws one env of a batch into a [`Frame`].
//!
//! - The MuJoCo tasks (feature `mujoco`) are drawn by MuJoCo's own renderer, offscreen
//!   through EGL, from the task's default camera: the same library, scene and camera as
//!   Gymnasium's, so the same picture. No display is needed, nor a GPU: Mesa's software EGL
//!   (Debian's `libegl1` and `libegl-mesa0`) renders on the CPU.
//! - The classic-control envs are drawn natively, shape by shape as Gymnasium draws them with
//!   pygame (Pendulum without its torque arrow, which Gymnasium draws from an image file).

use serde::{Deserialize, Serialize};

use crate::error::{EnvError, Result};

/// An RGB picture: `height` rows of `width` pixels from the top left, 3 bytes per pixel —
/// the layout of Gymnasium's `rgb_array` (`[height, width, 3]`, `uint8`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Pixels per row.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// `height × width × 3` bytes, row by row from the top.
    pub rgb: Vec<u8>,
}

impl Frame {
    /// A frame of one colour.
    pub fn filled(width: usize, height: usize, rgb: [u8; 3]) -> Self {
        let mut data = Vec::with_capacity(width * height * 3);
        for _ in 0..width * height {
            data.extend_from_slice(&rgb);
        }
        Self {
            width,
            height,
            rgb: data,
        }
    }

    /// The colour of pixel (`x`, `y`), `y` counted from the top.
    ///
    /// # Panics
    /// Outside the frame.
    pub fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        assert!(x < self.width && y < self.height, "pixel outside the frame");
        let i = (y * self.width + x) * 3;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    /// Mean absolute difference of the colour values of two frames of one size (0 for
    /// equal frames, 255 for black against white).
    ///
    /// # Errors
    /// [`EnvError::Render`] if the sizes differ.
    pub fn mean_abs_diff(&self, other: &Frame) -> Result<f64> {
        if (self.width, self.height) != (other.width, other.height) {
            return Err(EnvError::Render(format!(
                "frames of different sizes: {}×{} and {}×{}",
                self.width, self.height, other.width, other.height
            )));
        }
        let sum: u64 = self
            .rgb
            .iter()
            .zip(&other.rgb)
            .map(|(&a, &b)| u64::from(a.abs_diff(b)))
            .sum();
        Ok(sum as f64 / self.rgb.len().max(1) as f64)
    }

    /// This frame resampled to `width × height` (bilinear).
    pub fn resized(&self, width: usize, height: usize) -> Frame {
        if (width, height) == (self.width, self.height) {
            return self.clone();
        }
        let mut out = Vec::with_capacity(width * height * 3);
        let sx = self.width as f64 / width as f64;
        let sy = self.height as f64 / height as f64;
        for y in 0..height {
            let fy = ((y as f64 + 0.5) * sy - 0.5).clamp(0.0, (self.height - 1) as f64);
            let (y0, wy) = (fy.floor() as usize, fy - fy.floor());
            let y1 = (y0 + 1).min(self.height - 1);
            for x in 0..width {
                let fx = ((x as f64 + 0.5) * sx - 0.5).clamp(0.0, (self.width - 1) as f64);
                let (x0, wx) = (fx.floor() as usize, fx - fx.floor());
                let x1 = (x0 + 1).min(self.width - 1);
                for c in 0..3 {
                    let at =
                        |xx: usize, yy: usize| f64::from(self.rgb[(yy * self.width + xx) * 3 + c]);
                    let top = at(x0, y0) * (1.0 - wx) + at(x1, y0) * wx;
                    let bottom = at(x0, y1) * (1.0 - wx) + at(x1, y1) * wx;
                    out.push((top * (1.0 - wy) + bottom * wy).round() as u8);
                }
            }
        }
        Frame {
            width,
            height,
            rgb: out,
        }
    }
}

/// The view a MuJoCo task is drawn from (classic-control envs have one view).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Camera {
    /// Gymnasium's `rgb_array` camera: a free camera set up by the task's
    /// `default_camera_config`. It stays where it is: a robot that runs far leaves the picture,
    /// as it does in Gymnasium's videos.
    #[default]
    Default,
    /// The same distance and angles, following the body the task's camera config names
    /// (`trackbodyid`, else the robot's root): a running robot stays in the picture.
    Track,
}

impl std::str::FromStr for Camera {
    type Err = EnvError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "default" => Ok(Camera::Default),
            "track" => Ok(Camera::Track),
            _ => Err(EnvError::Render(format!(
                "unknown camera `{s}`: use `default` (Gymnasium's) or `track` (follows the robot)"
            ))),
        }
    }
}

/// How [`VecEnv::render`](crate::VecEnv::render) draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RenderOptions {
    /// Pixels per row; `None`: the env's own (Gymnasium's: 480 for MuJoCo, 600 for
    /// CartPole-v1, …).
    pub width: Option<usize>,
    /// Rows; `None`: the env's own (480 for MuJoCo, 400 for CartPole-v1, …).
    pub height: Option<usize>,
    /// The view of a MuJoCo task.
    pub camera: Camera,
}

impl RenderOptions {
    /// The size to draw at, given the env's own.
    ///
    /// # Errors
    /// [`EnvError::Render`] for a zero or too large size.
    pub fn size(&self, default: (usize, usize)) -> Result<(usize, usize)> {
        let w = self.width.unwrap_or(default.0);
        let h = self.height.unwrap_or(default.1);
        if w == 0 || h == 0 || w > 8192 || h > 8192 {
            return Err(EnvError::Render(format!(
                "a frame of {w}×{h} pixels: width and height must be between 1 and 8192"
            )));
        }
        Ok((w, h))
    }
}

/// A drawing surface with pygame's coordinates before Gymnasium flips them: `x` to the
/// right, `y` up from the bottom row, whole pixels at integer coordinates. Shapes follow
/// pygame's `gfxdraw`, which cuts float vertices to integers and fills inclusively, plus an
/// anti-aliased rim where Gymnasium draws an `aapolygon` / `aacircle` over the filled shape.
pub(crate) struct Canvas {
    width: usize,
    height: usize,
    rgb: Vec<u8>,
}

impl Canvas {
    /// A white canvas.
    pub(crate) fn new(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            rgb: vec![255; width * height * 3],
        }
    }

    /// Blends `color` into pixel (`x`, `y`) with coverage `alpha` (clipped to the canvas).
    fn blend(&mut self, x: i64, y: i64, color: [u8; 3], alpha: f64) {
        if x < 0 || y < 0 || x >= self.width as i64 || y >= self.height as i64 || alpha <= 0.0 {
            return;
        }
        // Flipped as Gymnasium flips the surface: y up becomes rows from the top.
        let row = self.height - 1 - y as usize;
        let i = (row * self.width + x as usize) * 3;
        let a = alpha.min(1.0);
        for (dst, &c) in self.rgb[i..i + 3].iter_mut().zip(&color) {
            let old = f64::from(*dst);
            *dst = (old + (f64::from(c) - old) * a).round() as u8;
        }
    }

    /// A filled convex polygon with an anti-aliased rim (`gfxdraw.filled_polygon` +
    /// `gfxdraw.aapolygon`).
    pub(crate) fn polygon(&mut self, points: &[(f64, f64)], color: [u8; 3]) {
        let p: Vec<(f64, f64)> = points
            .iter()
            .map(|&(x, y)| (x.trunc(), y.trunc()))
            .collect();
        if p.len() < 3 {
            return;
        }
        let (x0, x1) = p
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), q| (a.min(q.0), b.max(q.0)));
        let (y0, y1) = p
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), q| (a.min(q.1), b.max(q.1)));
        // Orientation, so "inside" is the same side of every edge.
        let area: f64 = (0..p.len())
            .map(|i| {
                let (a, b) = (p[i], p[(i + 1) % p.len()]);
                a.0 * b.1 - b.0 * a.1
            })
            .sum();
        let sign = if area >= 0.0 { 1.0 } else { -1.0 };
        for y in (y0 as i64 - 1)..=(y1 as i64 + 1) {
            for x in (x0 as i64 - 1)..=(x1 as i64 + 1) {
                let (px, py) = (x as f64, y as f64);
                // Signed distance to the polygon: the largest distance outside any edge.
                let mut outside = f64::MIN;
                for i in 0..p.len() {
                    let (a, b) = (p[i], p[(i + 1) % p.len()]);
                    let (ex, ey) = (b.0 - a.0, b.1 - a.1);
                    let len = (ex * ex + ey * ey).sqrt();
                    if len == 0.0 {
                        continue;
                    }
                    let d = -sign * (ex * (py - a.1) - ey * (px - a.0)) / len;
                    outside = outside.max(d);
                }
                if outside <= 1e-9 {
                    self.blend(x, y, color, 1.0);
                } else if outside < 1.0 {
                    self.blend(x, y, color, 1.0 - outside);
                }
            }
        }
    }

    /// A filled circle with an anti-aliased rim (`gfxdraw.filled_circle` +
    /// `gfxdraw.aacircle`); centre and radius are integers, as pygame takes them.
    pub(crate) fn circle(&mut self, cx: i64, cy: i64, r: i64, color: [u8; 3]) {
        let rf = r as f64;
        for y in (cy - r - 2)..=(cy + r + 2) {
            for x in (cx - r - 2)..=(cx + r + 2) {
                let d = (((x - cx) * (x - cx) + (y - cy) * (y - cy)) as f64).sqrt();
                if d <= rf + 1e-9 {
                    self.blend(x, y, color, 1.0);
                } else if d < rf + 1.0 {
                    self.blend(x, y, color, rf + 1.0 - d);
                }
            }
        }
    }

    /// A one-pixel line between two points, anti-aliased or not (`pygame.draw.aaline` /
    /// `pygame.draw.line`, `gfxdraw.hline` / `vline`).
    pub(crate) fn line(&mut self, a: (f64, f64), b: (f64, f64), color: [u8; 3], aa: bool) {
        // pygame cuts the end points of a plain line to whole pixels.
        let (a, b) = if aa {
            (a, b)
        } else {
            ((a.0.trunc(), a.1.trunc()), (b.0.trunc(), b.1.trunc()))
        };
        let steep = (b.1 - a.1).abs() > (b.0 - a.0).abs();
        // Along the major axis, one pixel column (or row) per whole coordinate.
        let (mut p, mut q) = if steep {
            ((a.1, a.0), (b.1, b.0))
        } else {
            (a, b)
        };
        if p.0 > q.0 {
            std::mem::swap(&mut p, &mut q);
        }
        let slope = if q.0 > p.0 {
            (q.1 - p.1) / (q.0 - p.0)
        } else {
            0.0
        };
        for m in (p.0.round() as i64)..=(q.0.round() as i64) {
            let minor = p.1 + (m as f64 - p.0) * slope;
            let mut put = |nn: f64, alpha: f64| {
                let (x, y) = if steep {
                    (nn as i64, m)
                } else {
                    (m, nn as i64)
                };
                self.blend(x, y, color, alpha);
            };
            if aa {
                let lo = minor.floor();
                put(lo, 1.0 - (minor - lo));
                put(lo + 1.0, minor - lo);
            } else {
                put(minor.round(), 1.0);
            }
        }
    }

    /// The finished picture, resampled to `size` if it is not the canvas's own.
    pub(crate) fn finish(self, size: (usize, usize)) -> Frame {
        let frame = Frame {
            width: self.width,
            height: self.height,
            rgb: self.rgb,
        };
        frame.resized(size.0, size.1)
    }
}
