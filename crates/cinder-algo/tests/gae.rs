//! GAE against a hand-computed rollout with a termination and a truncation in it.

use cinder_algo::{AlgoError, gae};

fn close(a: &[f32], b: &[f64]) {
    for (k, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((*x as f64 - y).abs() < 1e-5, "entry {k}: {x} vs {y}");
    }
}

#[test]
fn gae_matches_a_hand_computed_rollout() {
    // Two envs, four steps. Env 0 terminates at t = 1 and its next episode runs on; env 1 is
    // truncated at t = 2 (bootstrap from its final observation's value, 1.0) and starts
    // anew. The 9.0 after env 0's termination must be ignored.
    let (g, l) = (0.9, 0.5);
    let rewards = [1.0, 0.5, 2.0, 1.0, 0.0, 3.0, 1.0, 2.0];
    let values = [0.5, 1.0, 1.5, 2.0, 0.2, 0.4, 0.3, 0.6];
    // next_values[t] = V(state after step t): V(obs_{t+1}) = values[t+1] unless the episode
    // ended (final observation), and the rollout's last step bootstraps from V(obs_T).
    let next_values = [1.5, 2.0, 9.0, 0.4, 0.3, 1.0, 0.6, 0.8];
    let terminated = [false, false, true, false, false, false, false, false];
    let truncated = [false, false, false, false, false, true, false, false];
    let out = gae(
        &rewards,
        &values,
        &next_values,
        &terminated,
        &truncated,
        2,
        g,
        l,
    )
    .unwrap();

    // The buffers are step-major: entry 2t is env 0 at step t, entry 2t + 1 env 1.
    let a = |t: usize, i: usize| out.advantages[2 * t + i] as f64;
    let r = |k: usize| rewards[k] as f64;
    let v = |k: usize| values[k] as f64;
    let nv = |k: usize| next_values[k] as f64;
    // env 0: entries 0, 2, 4, 6
    let e0_3 = r(6) + g * nv(6) - v(6);
    let e0_2 = r(4) + g * nv(4) - v(4) + g * l * e0_3;
    let e0_1 = r(2) - v(2); // terminated at t = 1: no bootstrap, trace cut
    let e0_0 = r(0) + g * nv(0) - v(0) + g * l * e0_1;
    // env 1: entries 1, 3, 5, 7
    let e1_3 = r(7) + g * nv(7) - v(7);
    let e1_2 = r(5) + g * nv(5) - v(5); // truncated at t = 2: bootstrap from V(final) = 1.0, trace cut
    let e1_1 = r(3) + g * nv(3) - v(3) + g * l * e1_2;
    let e1_0 = r(1) + g * nv(1) - v(1) + g * l * e1_1;
    close(
        &out.advantages,
        &[e0_0, e1_0, e0_1, e1_1, e0_2, e1_2, e0_3, e1_3],
    );
    // The two episode ends in numbers: env 0's terminal step is r − V = 2 − 1.5; env 1's
    // truncated step bootstraps from its final observation, r + γ V(final) − V = 3 + .9 − .4.
    assert!((a(1, 0) - 0.5).abs() < 1e-6);
    assert!((a(2, 1) - 3.5).abs() < 1e-6);
    // And a trace that crosses no boundary: env 0, t = 3 then t = 2.
    assert!((a(3, 0) - 1.24).abs() < 1e-6);
    assert!((a(2, 0) - (0.07 + 0.45 * 1.24)).abs() < 1e-6);
    let targets: Vec<f64> = (0..8).map(|k| out.advantages[k] as f64 + v(k)).collect();
    close(&out.returns, &targets);
}

#[test]
fn lambda_one_gives_discounted_returns_and_zero_gives_td() {
    // One env, no episode end: λ = 1 is the discounted return bootstrapped at the end minus V.
    let rewards = [1.0, 2.0, 3.0];
    let values = [0.0, 0.0, 0.0];
    let next_values = [0.0, 0.0, 10.0];
    let f = [false; 3];
    let out = gae(&rewards, &values, &next_values, &f, &f, 1, 0.5, 1.0).unwrap();
    close(
        &out.returns,
        &[
            1.0 + 0.5 * 2.0 + 0.25 * 3.0 + 0.125 * 10.0,
            2.0 + 0.5 * 3.0 + 0.25 * 10.0,
            3.0 + 5.0,
        ],
    );
    let td = gae(
        &rewards,
        &[1.0, 1.0, 1.0],
        &[1.0, 1.0, 1.0],
        &f,
        &f,
        1,
        0.5,
        0.0,
    )
    .unwrap();
    close(&td.advantages, &[0.5, 1.5, 2.5]);
}

#[test]
fn bad_input_says_what_to_fix() {
    let f = [false; 4];
    let x = [0.0; 4];
    let err = gae(&x, &x[..3], &x, &f, &f, 2, 0.99, 0.95).unwrap_err();
    assert_eq!(
        err.to_string(),
        "values has 3 values, expected 4 (T 2 × N 2)"
    );
    let err = gae(&x, &x, &x, &f, &f, 2, 1.5, 0.95).unwrap_err();
    assert!(
        matches!(
            err,
            AlgoError::Hyperparameter {
                name: "gamma",
                value: 1.5,
                range: "[0, 1]"
            }
        ),
        "{err}"
    );
}
