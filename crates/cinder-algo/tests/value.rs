//! The value fit learns a known function, is reproducible, and rejects bad input.

use burn::backend::{Autodiff, Flex};
use burn::tensor::{Tensor, TensorData};
use cinder_algo::{AlgoError, ValueFitConfig, ValueFitter, explained_variance};
use cinder_policy::{ValueMlp, ValueMlpConfig};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

type B = Autodiff<Flex>;

fn data(m: usize) -> (Vec<f32>, Vec<f32>) {
    let mut rng = StdRng::seed_from_u64(4);
    let obs: Vec<f32> = (0..m * 3).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let targets = obs.chunks(3).map(|x| 2.0 * x[0] - x[1] + 0.5).collect();
    (obs, targets)
}

fn predict(value: &ValueMlp<B>, obs: &[f32]) -> Vec<f32> {
    let m = obs.len() / 3;
    let t = Tensor::<B, 2>::from_data(TensorData::new(obs.to_vec(), [m, 3]), &Default::default());
    value.forward(t).into_data().iter::<f32>().collect()
}

#[test]
fn value_fit_learns_a_known_function_reproducibly() {
    let (obs, targets) = data(512);
    let fit = || {
        let value = ValueMlpConfig::new(3)
            .init::<B>(1, &Default::default())
            .unwrap();
        let before = predict(&value, &obs);
        let mut fitter =
            ValueFitter::<B>::new(ValueFitConfig::new().with_n_critic_updates(40)).unwrap();
        let mut rng = StdRng::seed_from_u64(2);
        let (value, stats) = fitter.fit(value, &obs, &targets, &mut rng).unwrap();
        (before, predict(&value, &obs), stats)
    };
    let (before, after, stats) = fit();
    let mse = |p: &[f32]| {
        p.iter()
            .zip(&targets)
            .map(|(a, b)| ((a - b) as f64).powi(2))
            .sum::<f64>()
            / 512.0
    };
    assert!(
        mse(&after) < 0.05 * mse(&before),
        "mse {} → {}",
        mse(&before),
        mse(&after)
    );
    assert_eq!(stats.steps, 40 * 4, "4 minibatches of 128 per pass");
    assert!(stats.value_loss < 0.1, "{stats:?}");
    assert!(explained_variance(&after, &targets) > 0.95);
    let (_, again, _) = fit();
    assert_eq!(after, again, "same seeds, same fit");
}

#[test]
fn explained_variance_follows_its_definition() {
    let target = [1.0, 2.0, 3.0, 4.0];
    assert_eq!(explained_variance(&target, &target), 1.0);
    assert_eq!(explained_variance(&[2.5; 4], &target), 0.0);
    assert!(explained_variance(&[1.0; 4], &[3.0; 4]).is_nan());
}

#[test]
fn bad_value_fit_input_is_refused() {
    let err = ValueFitter::<B>::new(ValueFitConfig::new().with_batch_size(0))
        .err()
        .unwrap();
    assert_eq!(err.to_string(), "batch_size = 0 is outside ≥ 1");
    let err = ValueFitter::<B>::new(ValueFitConfig::new().with_learning_rate(-1.0))
        .err()
        .unwrap();
    assert!(matches!(
        err,
        AlgoError::Hyperparameter {
            name: "learning_rate",
            ..
        }
    ));
    let value = ValueMlpConfig::new(3)
        .init::<B>(1, &Default::default())
        .unwrap();
    let mut fitter = ValueFitter::<B>::new(ValueFitConfig::new()).unwrap();
    let err = fitter
        .fit(value, &[0.0; 7], &[0.0; 2], &mut StdRng::seed_from_u64(0))
        .err()
        .unwrap();
    assert!(err.to_string().contains("value-fit observations"), "{err}");
}

/// A fit is its passes' orders drawn from the generator, then the passes in those orders: the
/// two halves apart (as the trainer runs them, the second on another thread) give the same
/// network bit for bit and leave the generator where the fit leaves it. Orders drawn for
/// another sample count are refused.
#[test]
fn a_fit_in_drawn_orders_is_the_fit() {
    let (obs, targets) = data(300);
    let value = ValueMlpConfig::new(3)
        .init::<B>(1, &Default::default())
        .unwrap();
    let config = ValueFitConfig::new().with_n_critic_updates(3);
    let mut whole = ValueFitter::<B>::new(config.clone()).unwrap();
    let mut rng = StdRng::seed_from_u64(5);
    let (a, stats_a) = whole.fit(value.clone(), &obs, &targets, &mut rng).unwrap();
    let mut halves = ValueFitter::<B>::new(config).unwrap();
    let mut rng2 = StdRng::seed_from_u64(5);
    let orders = halves.draw_orders(300, &mut rng2);
    assert_eq!(
        rng.random::<u64>(),
        rng2.random::<u64>(),
        "the generator after both"
    );
    let (b, stats_b) = halves
        .fit_in_order(value.clone(), &obs, &targets, &orders)
        .unwrap();
    assert_eq!(predict(&a, &obs), predict(&b, &obs));
    assert_eq!(stats_a, stats_b);
    let short = halves.draw_orders(299, &mut rng2);
    let err = halves
        .fit_in_order(value, &obs, &targets, &short)
        .err()
        .unwrap();
    assert!(err.to_string().contains("pass orders"), "{err}");
}

/// The host fit (the default) takes burn's Adam steps up to float rounding: from the same
/// network, data and orders, two fits in a row (the second from the first's Adam state) end
/// within 1e-5 of the fits as burn ops, for tanh and relu and a short last minibatch. The Adam
/// state it writes back is burn's: a burn fit continued from it ends where the host fit
/// continued from it does.
#[test]
fn the_host_fit_is_burns_fit_up_to_rounding() {
    use cinder_policy::{Activation, flat};
    let (obs, targets) = data(300);
    let params = |v: &ValueMlp<B>| -> Vec<f32> { flat::flatten(v).into_data().to_vec().unwrap() };
    let close = |a: &[f32], b: &[f32], what: &str| {
        let worst = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-5, "{what}: parameters differ by up to {worst}");
    };
    for activation in [Activation::Tanh, Activation::Relu] {
        let value = ValueMlpConfig::new(3)
            .with_hidden(vec![64, 32])
            .with_activation(activation)
            .init::<B>(1, &Default::default())
            .unwrap();
        let config = ValueFitConfig::new().with_n_critic_updates(3);
        let mut host = ValueFitter::<B>::new(config.clone()).unwrap();
        let mut ops = ValueFitter::<B>::new(config.clone().with_on_host(false)).unwrap();
        let mut rng = StdRng::seed_from_u64(9);
        let first = host.draw_orders(300, &mut rng);
        let second = host.draw_orders(300, &mut rng);
        let (h1, hs1) = host
            .fit_in_order(value.clone(), &obs, &targets, &first)
            .unwrap();
        let (o1, os1) = ops
            .fit_in_order(value.clone(), &obs, &targets, &first)
            .unwrap();
        close(&params(&h1), &params(&o1), "first fit");
        assert_eq!(hs1.steps, os1.steps);
        assert!((hs1.value_loss - os1.value_loss).abs() < 1e-5 * os1.value_loss.abs().max(1.0));
        // The host fit's Adam state, continued by burn, against the host fit continuing.
        let mut ops_from_host = ValueFitter::<B>::new(config.with_on_host(false)).unwrap();
        *ops_from_host.optimizer_mut() = host.optimizer().clone();
        let (h2, _) = host
            .fit_in_order(h1.clone(), &obs, &targets, &second)
            .unwrap();
        let (o2, _) = ops.fit_in_order(o1, &obs, &targets, &second).unwrap();
        let (x2, _) = ops_from_host
            .fit_in_order(h1, &obs, &targets, &second)
            .unwrap();
        close(&params(&h2), &params(&o2), "second fit");
        close(
            &params(&h2),
            &params(&x2),
            "burn continuing the host fit's Adam state",
        );
        assert_ne!(params(&h2), params(&value), "the fit moved the network");
    }
}
