//! Pictures: `VecEnv::render` against Gymnasium's `render_mode="rgb_array"` for the same
//! state (the native classic-control drawings, and MuJoCo's renderer for the MuJoCo tasks),
//! the last picture of an ended episode, sizes and cameras.
//!
//! How close is close: the comparisons use the mean absolute difference of the colour
//! values over the whole frame, and judge it against the difference that a *different*
//! picture makes — the same env with its cart, pole or robot moved a little. A frame counts
//! as Gymnasium's when it is at most a tenth of that away: small enough that no part of the
//! scene can be missing or misplaced, loose enough for anti-aliasing done another way
//! (the native drawings) or a rasteriser's last-bit differences (MuJoCo through EGL).

use std::path::PathBuf;

use cinder_env::native::{
    Acrobot, AcrobotState, CartPole, CartPoleState, ContinuousMountainCar,
    ContinuousMountainCarState, MountainCar, MountainCarState, NativeVecEnv, Pendulum,
    PendulumState,
};
use cinder_env::{ActionBuffer, Frame, RenderOptions, StepBatch, VecEnv};

/// The venv made by scripts/setup_python.sh.
fn python() -> PathBuf {
    let venv = std::env::var_os("CINDER_VENV").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv"),
        PathBuf::from,
    );
    venv.join("bin/python")
}

/// Gymnasium's frame of `id` in `state` (and `qvel` for MuJoCo), from
/// scripts/render_gymnasium_frame.py.
fn gymnasium_frame(id: &str, state: &[f64], qvel: Option<&[f64]>) -> Frame {
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let out = std::env::temp_dir().join(format!(
        "cinder-frame-{}-{call}-{id}.rgb",
        std::process::id()
    ));
    let join = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:?}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/render_gymnasium_frame.py");
    let mut cmd = std::process::Command::new(python());
    cmd.arg(script).arg(id).arg(&out).arg(join(state));
    if let Some(q) = qvel {
        cmd.arg(join(q));
    }
    let status = cmd
        .status()
        .expect("run the venv's python (scripts/setup_python.sh)");
    assert!(status.success(), "render_gymnasium_frame.py {id} failed");
    let bytes = std::fs::read(&out).unwrap();
    std::fs::remove_file(&out).unwrap();
    let nl = bytes.iter().position(|&b| b == b'\n').unwrap();
    let header = std::str::from_utf8(&bytes[..nl]).unwrap();
    let mut dims = header.split(' ').map(|x| x.parse::<usize>().unwrap());
    let (height, width) = (dims.next().unwrap(), dims.next().unwrap());
    let rgb = bytes[nl + 1..].to_vec();
    assert_eq!(rgb.len(), width * height * 3);
    Frame { width, height, rgb }
}

/// Asserts `ours` is Gymnasium's picture `theirs`: within a tenth of what the `moved`
/// picture (the scene changed a little) differs from it. Returns both differences.
fn assert_same_picture(what: &str, ours: &Frame, theirs: &Frame, moved: &Frame) -> (f64, f64) {
    let diff = ours.mean_abs_diff(theirs).unwrap();
    let other = moved.mean_abs_diff(theirs).unwrap();
    assert!(
        other > 0.05,
        "{what}: moving the scene changed nothing ({other})"
    );
    if diff > 0.1 * other {
        // Both pictures, to look at.
        let dir = std::env::temp_dir();
        let (a, b) = (
            dir.join(format!("{what}-cinder.ppm")),
            dir.join(format!("{what}-gymnasium.ppm")),
        );
        save_ppm(&a, ours);
        save_ppm(&b, theirs);
        panic!(
            "{what}: mean abs difference {diff:.4} from Gymnasium's frame; a moved scene \
             differs by {other:.4} (pictures: {} and {})",
            a.display(),
            b.display()
        );
    }
    (diff, other)
}

fn save_ppm(path: &std::path::Path, f: &Frame) {
    let mut bytes = format!("P6\n{} {}\n255\n", f.width, f.height).into_bytes();
    bytes.extend_from_slice(&f.rgb);
    std::fs::write(path, bytes).unwrap();
}

fn native_frame<D: cinder_env::native::Dynamics>(d: D, state: D::State) -> Frame {
    let mut env = NativeVecEnv::new(d, 1).unwrap();
    let mut obs = vec![0.0; env.observation_space().flat_dim()];
    env.reset(Some(0), &mut obs).unwrap();
    env.set_state(0, state, &mut obs).unwrap();
    env.render(0, &RenderOptions::default()).unwrap()
}

#[test]
fn classic_control_frames_are_gymnasiums() {
    let cart = |x, theta| CartPoleState {
        x,
        x_dot: 0.0,
        theta,
        theta_dot: 0.0,
    };
    for (x, th) in [(0.3, 0.15), (-1.7, -0.19)] {
        let ours = native_frame(CartPole::default(), cart(x, th));
        let theirs = gymnasium_frame("CartPole-v1", &[x, 0.0, th, 0.0], None);
        let moved = native_frame(CartPole::default(), cart(x + 0.1, th + 0.05));
        let (d, o) = assert_same_picture("CartPole-v1", &ours, &theirs, &moved);
        eprintln!("CartPole-v1 x={x} θ={th}: {d:.4} (moved: {o:.4})");
    }
    let pend = |theta| PendulumState {
        theta,
        theta_dot: 0.0,
    };
    for th in [0.4, 2.9] {
        let ours = native_frame(Pendulum::default(), pend(th));
        let theirs = gymnasium_frame("Pendulum-v1", &[th, 0.0], None);
        let moved = native_frame(Pendulum::default(), pend(th + 0.1));
        let (d, o) = assert_same_picture("Pendulum-v1", &ours, &theirs, &moved);
        eprintln!("Pendulum-v1 θ={th}: {d:.4} (moved: {o:.4})");
    }
    let acro = |theta1, theta2| AcrobotState {
        theta1,
        theta2,
        dtheta1: 0.0,
        dtheta2: 0.0,
    };
    let (t1, t2) = (0.7, -1.2);
    let ours = native_frame(Acrobot, acro(t1, t2));
    let theirs = gymnasium_frame("Acrobot-v1", &[t1, t2, 0.0, 0.0], None);
    let moved = native_frame(Acrobot, acro(t1 + 0.1, t2));
    let (d, o) = assert_same_picture("Acrobot-v1", &ours, &theirs, &moved);
    eprintln!("Acrobot-v1: {d:.4} (moved: {o:.4})");
    let p = -0.7;
    let ours = native_frame(
        MountainCar::default(),
        MountainCarState {
            position: p,
            velocity: 0.0,
        },
    );
    let theirs = gymnasium_frame("MountainCar-v0", &[p, 0.0], None);
    let moved = native_frame(
        MountainCar::default(),
        MountainCarState {
            position: p + 0.05,
            velocity: 0.0,
        },
    );
    let (d, o) = assert_same_picture("MountainCar-v0", &ours, &theirs, &moved);
    eprintln!("MountainCar-v0: {d:.4} (moved: {o:.4})");
    let ours = native_frame(
        ContinuousMountainCar::default(),
        ContinuousMountainCarState {
            position: p,
            velocity: 0.0,
            float32: false,
        },
    );
    let theirs = gymnasium_frame("MountainCarContinuous-v0", &[p, 0.0], None);
    let moved = native_frame(
        ContinuousMountainCar::default(),
        ContinuousMountainCarState {
            position: p + 0.05,
            velocity: 0.0,
            float32: false,
        },
    );
    let (d, o) = assert_same_picture("MountainCarContinuous-v0", &ours, &theirs, &moved);
    eprintln!("MountainCarContinuous-v0: {d:.4} (moved: {o:.4})");
}

/// The step that ends an episode auto-resets the env; `render` still draws the state the
/// episode ended in, then the new episode after the next step.
#[test]
fn an_ended_episode_is_drawn_as_it_ended() {
    let mut env = NativeVecEnv::new(CartPole::default(), 1).unwrap();
    let mut obs = vec![0.0; 4];
    env.reset(Some(3), &mut obs).unwrap();
    let first = env.render(0, &RenderOptions::default()).unwrap();
    assert_eq!((first.width, first.height), (600, 400));
    let mut out = StepBatch::for_env(&env);
    let push = ActionBuffer::Discrete(vec![1]);
    let mut ended = None;
    for _ in 0..500 {
        env.step(push.as_actions(), &mut out).unwrap();
        if out.done(0) {
            ended = Some(env.render(0, &RenderOptions::default()).unwrap());
            break;
        }
    }
    let ended = ended.expect("pushing right always topples the pole");
    let fin = out.final_obs_row(0);
    let expect = native_frame(
        CartPole::default(),
        CartPoleState {
            x: f64::from(fin[0]),
            x_dot: 0.0,
            theta: f64::from(fin[2]),
            theta_dot: 0.0,
        },
    );
    // The final observation is the state in float32: a pixel edge may move.
    assert!(ended.mean_abs_diff(&expect).unwrap() < 0.05);
    let start = native_frame(
        CartPole::default(),
        CartPoleState {
            x: f64::from(out.obs_row(0)[0]),
            x_dot: 0.0,
            theta: f64::from(out.obs_row(0)[2]),
            theta_dot: 0.0,
        },
    );
    assert!(
        ended.mean_abs_diff(&start).unwrap() > 0.5,
        "drew the reset state"
    );
    // After the next step the new episode is drawn.
    env.step(push.as_actions(), &mut out).unwrap();
    let next = env.render(0, &RenderOptions::default()).unwrap();
    assert!(next.mean_abs_diff(&ended).unwrap() > 0.5);
}

#[test]
fn sizes_are_checked_and_frames_resampled() {
    let mut env = NativeVecEnv::new(CartPole::default(), 2).unwrap();
    let mut obs = vec![0.0; 8];
    assert!(
        env.render(0, &RenderOptions::default()).is_err(),
        "before reset"
    );
    env.reset(Some(0), &mut obs).unwrap();
    assert!(env.render(2, &RenderOptions::default()).is_err());
    let small = env
        .render(
            0,
            &RenderOptions {
                width: Some(300),
                height: Some(200),
                ..RenderOptions::default()
            },
        )
        .unwrap();
    assert_eq!(
        (small.width, small.height, small.rgb.len()),
        (300, 200, 300 * 200 * 3)
    );
    let full = env.render(0, &RenderOptions::default()).unwrap();
    // Half the size, the same picture: each pixel is the mean of a 2×2 block.
    assert!(full.resized(300, 200).mean_abs_diff(&small).unwrap() < 1.0);
    let zero = RenderOptions {
        width: Some(0),
        ..RenderOptions::default()
    };
    let err = env.render(0, &zero).unwrap_err().to_string();
    assert!(err.contains("between 1 and 8192"), "{err}");
    assert_eq!(env.render_fps(), Some(50.0));
}

#[cfg(feature = "mujoco")]
mod mujoco {
    use std::collections::BTreeMap;

    use cinder_env::mujoco::MujocoVecEnv;
    use cinder_env::{Camera, MakeOptions, make_with};

    use super::*;

    fn env(id: &str) -> MujocoVecEnv {
        let mut env = MujocoVecEnv::gymnasium(id, 1, &BTreeMap::new()).unwrap();
        let mut obs = vec![0.0; env.observation_space().flat_dim()];
        env.reset(Some(0), &mut obs).unwrap();
        env
    }

    fn frame(id: &str, qpos: &[f64], qvel: &[f64], options: &RenderOptions) -> Frame {
        let mut e = env(id);
        let mut obs = vec![0.0; e.observation_space().flat_dim()];
        e.set_state(0, qpos, qvel, &mut obs).unwrap();
        e.render(0, options).unwrap()
    }

    #[test]
    fn mujoco_frames_are_gymnasiums() {
        // Hopper: the camera of its config (lookat, distance, elevation); HalfCheetah: the
        // lookat Gymnasium takes from the median geom position at the first render.
        let cases: [(&str, Vec<f64>, Vec<f64>); 2] = [
            (
                "Hopper-v5",
                vec![0.2, 1.15, -0.15, -0.3, -0.5, 0.25],
                vec![0.0; 6],
            ),
            (
                "HalfCheetah-v5",
                vec![0.1, 0.05, 0.2, -0.3, 0.4, 0.1, -0.2, 0.3, -0.1],
                vec![0.0; 9],
            ),
        ];
        for (id, qpos, qvel) in cases {
            let ours = frame(id, &qpos, &qvel, &RenderOptions::default());
            assert_eq!((ours.width, ours.height), (480, 480));
            let theirs = gymnasium_frame(id, &qpos, Some(&qvel));
            let mut shifted = qpos.clone();
            shifted[0] += 0.2;
            let moved = frame(id, &shifted, &qvel, &RenderOptions::default());
            let (d, o) = assert_same_picture(id, &ours, &theirs, &moved);
            eprintln!("{id}: {d:.4} (moved: {o:.4})");
        }
    }

    #[test]
    fn the_tracking_camera_follows_the_robot() {
        let qvel = [0.0; 6];
        let here = [0.0, 1.25, 0.0, 0.0, 0.0, 0.0];
        let far = [8.0, 1.25, 0.0, 0.0, 0.0, 0.0];
        let track = RenderOptions {
            camera: Camera::Track,
            ..RenderOptions::default()
        };
        let default = RenderOptions::default();
        // Gymnasium's camera stays: the hopper 8 m away is out of the picture, which then
        // differs from the one with the hopper in view.
        let a = frame("Hopper-v5", &here, &qvel, &default);
        let b = frame("Hopper-v5", &far, &qvel, &default);
        assert!(a.mean_abs_diff(&b).unwrap() > 1.0);
        // The tracking camera keeps it in view: the floor's checks move under it, the
        // hopper does not, so the two pictures are closer than with the fixed camera.
        let c = frame("Hopper-v5", &here, &qvel, &track);
        let d = frame("Hopper-v5", &far, &qvel, &track);
        let centre = |f: &Frame| {
            // The hopper is orange-brown: count such pixels.
            f.rgb
                .chunks_exact(3)
                .filter(|p| p[0] > 120 && p[1] < 110 && p[2] < 80)
                .count()
        };
        assert!(
            centre(&b) < centre(&a) / 10,
            "the fixed camera still sees the hopper"
        );
        assert!(
            centre(&d) * 2 > centre(&c),
            "the tracking camera lost the hopper"
        );
    }

    /// A recording made step by step: the picture after the reset and one after every step,
    /// `length + 1` frames, that change; the step where the hopper falls (terminated) draws
    /// its fallen state, the same picture as an env that does not stop when it falls.
    #[test]
    fn a_recorded_episode_has_every_step_and_its_fall() {
        let mut stopping = make_with("Hopper-v5", 1, Some(2), &MakeOptions::default()).unwrap();
        let mut kw = BTreeMap::new();
        kw.insert(
            "terminate_when_unhealthy".to_string(),
            serde_json::json!(false),
        );
        let going_on = MakeOptions {
            kwargs: kw,
            ..MakeOptions::default()
        };
        let mut free = make_with("Hopper-v5", 1, Some(2), &going_on).unwrap();
        let mut obs = vec![0.0; 11];
        stopping.reset(Some(2), &mut obs).unwrap();
        free.reset(Some(2), &mut obs).unwrap();
        let options = RenderOptions {
            width: Some(160),
            height: Some(120),
            ..RenderOptions::default()
        };
        let mut frames = vec![stopping.render(0, &options).unwrap()];
        let (mut a, mut b) = (StepBatch::for_env(&*stopping), StepBatch::for_env(&*free));
        // Pushing the thigh joint hard topples the hopper within a few dozen steps.
        let act = ActionBuffer::Continuous(vec![1.0, -1.0, 1.0]);
        let mut length = 0;
        loop {
            stopping.step(act.as_actions(), &mut a).unwrap();
            free.step(act.as_actions(), &mut b).unwrap();
            length += 1;
            frames.push(stopping.render(0, &options).unwrap());
            if a.terminated[0] {
                break;
            }
            assert!(length < 1000, "the hopper never fell");
        }
        assert_eq!(frames.len(), length + 1);
        assert!(frames.iter().all(|f| (f.width, f.height) == (160, 120)));
        let changed = frames.windows(2).filter(|w| w[0] != w[1]).count();
        assert_eq!(changed, length, "every step moves the hopper");
        let sky = Frame::filled(160, 120, frames[0].pixel(0, 0));
        assert!(
            frames.iter().all(|f| f.mean_abs_diff(&sky).unwrap() > 5.0),
            "a blank frame"
        );
        assert!(!b.terminated[0]);
        let fallen = free.render(0, &options).unwrap();
        assert!(frames[length] == fallen, "the last picture is not the fall");
        // The next step draws the new episode.
        stopping.step(act.as_actions(), &mut a).unwrap();
        let next = stopping.render(0, &options).unwrap();
        assert!(next.mean_abs_diff(&fallen).unwrap() > 1.0);
    }

    fn options_limit(steps: usize) -> MakeOptions {
        MakeOptions {
            max_episode_steps: Some(steps),
            ..MakeOptions::default()
        }
    }

    /// TimeLimit ends the episode by `reset_env`: the picture is still its last state.
    #[test]
    fn a_truncated_episode_is_drawn_as_it_ended() {
        let mut limited = make_with("Hopper-v5", 1, Some(5), &options_limit(12)).unwrap();
        let mut free = make_with("Hopper-v5", 1, Some(5), &MakeOptions::default()).unwrap();
        let mut obs = vec![0.0; 11];
        limited.reset(Some(5), &mut obs).unwrap();
        free.reset(Some(5), &mut obs).unwrap();
        // A recording renders from the start; an episode that ended before the first render
        // was not kept, and says so.
        let options = RenderOptions::default();
        let mut unrendered = make_with("Hopper-v5", 1, Some(5), &options_limit(3)).unwrap();
        unrendered.reset(Some(5), &mut obs).unwrap();
        let mut c = StepBatch::for_env(&*unrendered);
        for _ in 0..3 {
            unrendered
                .step(ActionBuffer::Continuous(vec![0.0; 3]).as_actions(), &mut c)
                .unwrap();
        }
        let err = unrendered.render(0, &options).unwrap_err().to_string();
        assert!(err.contains("render once after reset"), "{err}");
        limited.render(0, &options).unwrap();
        let mut a = StepBatch::for_env(&*limited);
        let mut b = StepBatch::for_env(&*free);
        let act = ActionBuffer::Continuous(vec![0.1, -0.1, 0.05]);
        for _ in 0..12 {
            limited.step(act.as_actions(), &mut a).unwrap();
            free.step(act.as_actions(), &mut b).unwrap();
        }
        assert!(a.truncated[0] && !b.truncated[0]);
        let ended = limited.render(0, &options).unwrap();
        let same = free.render(0, &options).unwrap();
        assert!(
            ended == same,
            "the truncated episode's last picture differs"
        );
        assert_eq!(limited.render_fps(), Some(125.0));
    }
}
