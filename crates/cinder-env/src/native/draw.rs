//! The classic-control pictures, drawn shape by shape as Gymnasium 1.4.0's `render()` draws
//! them with pygame (same sizes, colours and geometry).

use crate::render::{Canvas, Frame};

/// `pygame.math.Vector2(p).rotate_rad(angle)`: counter-clockwise.
fn rotate((x, y): (f64, f64), angle: f64) -> (f64, f64) {
    let (s, c) = angle.sin_cos();
    (x * c - y * s, x * s + y * c)
}

/// CartPole-v1: 600×400, cart at `x`, pole at `theta`.
pub(crate) fn cartpole(x: f64, theta: f64) -> Frame {
    let (w, h) = (600usize, 400usize);
    let scale = w as f64 / (2.4 * 2.0);
    let (pole_width, pole_len) = (10.0, scale * (2.0 * 0.5));
    let (cart_width, cart_height) = (50.0, 30.0);
    let mut c = Canvas::new(w, h);
    let axle = cart_height / 4.0;
    let cart_x = x * scale + w as f64 / 2.0;
    let cart_y = 100.0;
    let (l, r, t, b) = (
        -cart_width / 2.0,
        cart_width / 2.0,
        cart_height / 2.0,
        -cart_height / 2.0,
    );
    let cart: Vec<_> = [(l, b), (l, t), (r, t), (r, b)]
        .iter()
        .map(|&(px, py)| (px + cart_x, py + cart_y))
        .collect();
    c.polygon(&cart, [0, 0, 0]);
    let (l, r, t, b) = (
        -pole_width / 2.0,
        pole_width / 2.0,
        pole_len - pole_width / 2.0,
        -pole_width / 2.0,
    );
    let pole: Vec<_> = [(l, b), (l, t), (r, t), (r, b)]
        .iter()
        .map(|&p| {
            let (px, py) = rotate(p, -theta);
            (px + cart_x, py + cart_y + axle)
        })
        .collect();
    c.polygon(&pole, [202, 152, 101]);
    c.circle(
        cart_x.trunc() as i64,
        (cart_y + axle).trunc() as i64,
        (pole_width / 2.0) as i64,
        [129, 132, 203],
    );
    c.line((0.0, cart_y), (w as f64, cart_y), [0, 0, 0], false);
    c.finish((w, h))
}

/// Pendulum-v1: 500×500, rod at `theta` (0 up). Gymnasium also blits an arrow image
/// showing the last torque; it is left out.
pub(crate) fn pendulum(theta: f64) -> Frame {
    let dim = 500usize;
    let scale = dim as f64 / (2.2 * 2.0);
    let offset = (dim / 2) as f64;
    let (rod_len, rod_width) = (scale, 0.2 * scale);
    let color = [204, 77, 77];
    let mut c = Canvas::new(dim, dim);
    let (l, r, t, b) = (0.0, rod_len, rod_width / 2.0, -rod_width / 2.0);
    let rod: Vec<_> = [(l, b), (l, t), (r, t), (r, b)]
        .iter()
        .map(|&p| {
            let (px, py) = rotate(p, theta + std::f64::consts::FRAC_PI_2);
            (px + offset, py + offset)
        })
        .collect();
    c.polygon(&rod, color);
    let o = offset as i64;
    c.circle(o, o, (rod_width / 2.0) as i64, color);
    let (ex, ey) = rotate((rod_len, 0.0), theta + std::f64::consts::FRAC_PI_2);
    c.circle(
        (ex + offset).trunc() as i64,
        (ey + offset).trunc() as i64,
        (rod_width / 2.0) as i64,
        color,
    );
    c.circle(o, o, (0.05 * scale) as i64, [0, 0, 0]);
    c.finish((dim, dim))
}

/// MountainCar-v0 (`goal` 0.5) and MountainCarContinuous-v0 (`goal` 0.45): 600×400, the
/// hill, the car at `position`, the flag.
pub(crate) fn mountain_car(position: f64, goal: f64) -> Frame {
    let (w, h) = (600usize, 400usize);
    let (min_pos, max_pos) = (-1.2, 0.6);
    let height = |x: f64| (3.0 * x).sin() * 0.45 + 0.55;
    let scale = w as f64 / (max_pos - min_pos);
    let (car_width, car_height) = (40.0, 20.0);
    let mut c = Canvas::new(w, h);
    let points: Vec<(f64, f64)> = (0..100)
        .map(|i| {
            let x = min_pos + (max_pos - min_pos) * i as f64 / 99.0;
            ((x - min_pos) * scale, height(x) * scale)
        })
        .collect();
    for pair in points.windows(2) {
        c.line(pair[0], pair[1], [0, 0, 0], true);
    }
    let clearance = 10.0;
    let angle = (3.0 * position).cos();
    let (l, r, t, b) = (-car_width / 2.0, car_width / 2.0, car_height, 0.0);
    let base = (
        (position - min_pos) * scale,
        clearance + height(position) * scale,
    );
    let car: Vec<_> = [(l, b), (l, t), (r, t), (r, b)]
        .iter()
        .map(|&p| {
            let (px, py) = rotate(p, angle);
            (px + base.0, py + base.1)
        })
        .collect();
    c.polygon(&car, [0, 0, 0]);
    for p in [(car_width / 4.0, 0.0), (-car_width / 4.0, 0.0)] {
        let (px, py) = rotate(p, angle);
        c.circle(
            (px + base.0).trunc() as i64,
            (py + base.1).trunc() as i64,
            (car_height / 2.5) as i64,
            [128, 128, 128],
        );
    }
    let flag_x = ((goal - min_pos) * scale).trunc();
    let flag_y1 = (height(goal) * scale).trunc();
    let flag_y2 = flag_y1 + 50.0;
    c.line((flag_x, flag_y1), (flag_x, flag_y2), [0, 0, 0], false);
    c.polygon(
        &[
            (flag_x, flag_y2),
            (flag_x, flag_y2 - 10.0),
            (flag_x + 25.0, flag_y2 - 5.0),
        ],
        [204, 204, 0],
    );
    c.finish((w, h))
}

/// Acrobot-v1: 500×500, links at `theta1` (0 down) and `theta2` (relative).
pub(crate) fn acrobot(theta1: f64, theta2: f64) -> Frame {
    let dim = 500usize;
    let (l1, l2) = (1.0, 1.0);
    let scale = dim as f64 / ((l1 + l2 + 0.2) * 2.0);
    let offset = dim as f64 / 2.0;
    let mut c = Canvas::new(dim, dim);
    c.line(
        (-2.2 * scale + offset, scale + offset),
        (2.2 * scale + offset, scale + offset),
        [0, 0, 0],
        false,
    );
    // Gymnasium's joint positions, with x and y swapped by its `[:, ::-1]`.
    let p1 = (-l1 * theta1.cos() * scale, l1 * theta1.sin() * scale);
    let joints = [(0.0, 0.0), (p1.1, p1.0)];
    let angles = [
        theta1 - std::f64::consts::FRAC_PI_2,
        theta1 + theta2 - std::f64::consts::FRAC_PI_2,
    ];
    for ((jx, jy), (th, len)) in joints
        .into_iter()
        .zip(angles.into_iter().zip([l1 * scale, l2 * scale]))
    {
        let (x, y) = (jx + offset, jy + offset);
        let (l, r, t, b) = (0.0, len, 0.1 * scale, -0.1 * scale);
        let link: Vec<_> = [(l, b), (l, t), (r, t), (r, b)]
            .iter()
            .map(|&p| {
                let (px, py) = rotate(p, th);
                (px + x, py + y)
            })
            .collect();
        c.polygon(&link, [0, 204, 204]);
        c.circle(
            x.trunc() as i64,
            y.trunc() as i64,
            (0.1 * scale) as i64,
            [204, 204, 0],
        );
    }
    c.finish((dim, dim))
}
