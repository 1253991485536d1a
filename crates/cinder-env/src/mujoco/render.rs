//! MuJoCo's offscreen renderer for [`MujocoVecEnv::render`](super::MujocoVecEnv).
//!
//! An OpenGL context belongs to the thread it is current on, and a [`VecEnv`](crate::VecEnv)
//! moves between threads; so the renderer (mujoco-rs's `MjRenderer`: an EGL context without
//! a window, MuJoCo's scene and offscreen framebuffer) lives on a thread of its own, and a
//! render sends it a copy of the simulation. The picture is what Gymnasium 1.4.0's
//! `render_mode="rgb_array"` gives: the same MuJoCo library, the same scene options and the
//! camera its `MujocoRenderer` sets up (see [`camera`]).

use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;

use mujoco_rs::renderer::MjRenderer;
use mujoco_rs::wrappers::{MjModel, MjtCamera, MjvCamera};

use super::Data;
use crate::error::{EnvError, Result};
use crate::render::{Camera, Frame};

/// Gymnasium's size for MuJoCo frames (`DEFAULT_SIZE`).
pub(crate) const DEFAULT_SIZE: (usize, usize) = (480, 480);

/// A task's `DEFAULT_CAMERA_CONFIG` in Gymnasium 1.4.0 (`trackbodyid`, `distance`,
/// `lookat`, `elevation`; what is not set keeps the value Gymnasium's viewer starts with).
#[derive(Debug, Clone, Copy, Default)]
struct CameraConfig {
    trackbodyid: Option<i32>,
    distance: Option<f64>,
    lookat: Option<[f64; 3]>,
    elevation: Option<f64>,
}

fn camera_config(id: &str) -> CameraConfig {
    let c = |trackbodyid, distance, lookat, elevation| CameraConfig {
        trackbodyid,
        distance,
        lookat,
        elevation,
    };
    match id {
        "Ant-v5" | "HalfCheetah-v5" => c(None, Some(4.0), None, None),
        "Hopper-v5" => c(Some(2), Some(3.0), Some([0.0, 0.0, 1.15]), Some(-20.0)),
        "Walker2d-v5" => c(Some(2), Some(4.0), Some([0.0, 0.0, 1.15]), Some(-20.0)),
        "Humanoid-v5" => c(Some(1), Some(4.0), Some([0.0, 0.0, 2.0]), Some(-20.0)),
        "HumanoidStandup-v5" => c(Some(1), Some(4.0), Some([0.0, 0.0, 0.8925]), Some(-20.0)),
        "InvertedDoublePendulum-v5" => c(
            Some(0),
            Some(4.1225),
            Some([0.0, 0.0, 0.122_500_000_000_000_05]),
            None,
        ),
        "InvertedPendulum-v5" => c(Some(0), Some(2.04), None, None),
        "Pusher-v5" => c(Some(-1), Some(4.0), None, None),
        "Reacher-v5" => c(Some(0), None, None, None),
        _ => CameraConfig::default(),
    }
}

/// numpy's median: the middle value, or the mean of the two middle ones.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The camera of Gymnasium's offscreen viewer for task `id`, made at the first render from
/// `data`: MuJoCo's default camera, made free, looking at the median of the geom positions
/// from the model's extent; then the task's config. [`Camera::Track`] turns it into a
/// tracking camera on the config's body (or the root body) at the same distance and angles.
pub(crate) fn camera(id: &str, data: &Data, view: Camera) -> MjvCamera {
    let model = data.model();
    let mut cam = MjvCamera {
        type_: MjtCamera::mjCAMERA_FREE as i32,
        fixedcamid: -1,
        ..MjvCamera::default()
    };
    let xpos = data.geom_xpos();
    for (i, l) in cam.lookat.iter_mut().enumerate() {
        *l = median(xpos.iter().map(|p| p[i]).collect());
    }
    cam.distance = model.ffi().stat.extent;
    let config = camera_config(id);
    if let Some(b) = config.trackbodyid {
        cam.trackbodyid = b;
    }
    if let Some(d) = config.distance {
        cam.distance = d;
    }
    if let Some(l) = config.lookat {
        cam.lookat = l;
    }
    if let Some(e) = config.elevation {
        cam.elevation = e;
    }
    if view == Camera::Track {
        let nbody = model.ffi().nbody;
        let body = config.trackbodyid.filter(|&b| b >= 1).unwrap_or(1);
        if i64::from(body) < nbody {
            cam.type_ = MjtCamera::mjCAMERA_TRACKING as i32;
            cam.trackbodyid = body;
        }
    }
    cam
}

struct Job {
    data: Box<Data>,
    reply: mpsc::SyncSender<Result<Frame>>,
}

/// A renderer on its own thread, for one size and view.
pub(crate) struct RenderThread {
    key: (usize, usize, Camera),
    jobs: Option<mpsc::Sender<Job>>,
    handle: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for RenderThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderThread")
            .field("key", &self.key)
            .finish()
    }
}

/// What to do when no offscreen OpenGL can be had.
const NO_EGL: &str = "MuJoCo renders offscreen through EGL, and no EGL display could be \
opened: install a GPU driver's EGL, or Mesa's, which renders on the CPU without a display \
(Debian/Ubuntu: apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri)";

impl RenderThread {
    /// Starts a renderer for `model` drawing `width × height` from `cam` (the offscreen
    /// buffer grown to that size as Gymnasium grows it).
    pub(crate) fn start(
        model: &Arc<MjModel>,
        width: usize,
        height: usize,
        view: Camera,
        cam: MjvCamera,
    ) -> Result<Self> {
        let mut own = (**model).clone();
        // SAFETY: only the offscreen buffer size is written, on a model no one else holds.
        unsafe {
            let global = &mut own.ffi_mut().vis.global;
            global.offwidth = global.offwidth.max(width as i32);
            global.offheight = global.offheight.max(height as i32);
        }
        let (jobs, inbox) = mpsc::channel::<Job>();
        let (ready_tx, ready) = mpsc::sync_channel::<Result<()>>(1);
        let handle = std::thread::Builder::new()
            .name("cinder-mujoco-render".into())
            .spawn(move || {
                let built = MjRenderer::builder()
                    .width(width as u32)
                    .height(height as u32)
                    .camera(cam)
                    .build(&own);
                let mut renderer = match built {
                    Ok(r) => {
                        let _ = ready_tx.send(Ok(()));
                        r
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(EnvError::Render(format!("{NO_EGL} ({e})"))));
                        return;
                    }
                };
                for mut job in inbox {
                    let frame = renderer
                        .sync_data(&mut job.data)
                        .and_then(|()| renderer.render())
                        .map_err(|e| EnvError::Render(format!("MuJoCo's renderer failed: {e}")))
                        .and_then(|()| {
                            renderer
                                .rgb_flat()
                                .map(|rgb| Frame {
                                    width,
                                    height,
                                    rgb: rgb.to_vec(),
                                })
                                .ok_or_else(|| EnvError::Render("no RGB image was rendered".into()))
                        });
                    let _ = job.reply.send(frame);
                }
            })
            .map_err(|e| EnvError::Render(format!("cannot start the render thread: {e}")))?;
        match ready.recv() {
            Ok(Ok(())) => Ok(Self {
                key: (width, height, view),
                jobs: Some(jobs),
                handle: Some(handle),
            }),
            Ok(Err(e)) => {
                let _ = handle.join();
                Err(e)
            }
            Err(_) => {
                let _ = handle.join();
                Err(EnvError::Render(
                    "the render thread stopped while starting (MuJoCo could not make its \
                     rendering context)"
                        .into(),
                ))
            }
        }
    }

    /// Whether this renderer draws at this size and view.
    pub(crate) fn serves(&self, width: usize, height: usize, view: Camera) -> bool {
        self.key == (width, height, view)
    }

    /// Draws `data` (a copy of a simulation).
    pub(crate) fn render(&self, data: Box<Data>) -> Result<Frame> {
        let (reply, answer) = mpsc::sync_channel(1);
        let lost = || EnvError::Render("the render thread stopped".into());
        self.jobs
            .as_ref()
            .ok_or_else(lost)?
            .send(Job { data, reply })
            .map_err(|_| lost())?;
        answer.recv().map_err(|_| lost())?
    }
}

impl Drop for RenderThread {
    fn drop(&mut self) {
        // Closing the queue ends the thread's loop; it frees its context itself.
        self.jobs.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
