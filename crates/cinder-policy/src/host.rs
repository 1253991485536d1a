//! The built-in MLPs evaluated and differentiated on the host, in plain Rust.
//!
//! A 64-64 MLP step on a 128-row minibatch is a few MFLOP, and burn runs it as some thirty
//! ops, each with a fixed cost that is larger than its arithmetic at these sizes: an Adam step
//! of the value net cost about 180 µs on burn-flex, of which the matrix products are about
//! 33 µs. [`HostMlp`] does the same forward and backward passes as [`Mlp`] with one matrix
//! product per layer and direction (`matrixmultiply`, which picks the CPU's widest kernels at
//! run time) and element-wise loops the compiler vectorises. The results equal burn's up to
//! float rounding: the products sum in another order and `exp` is a polynomial of its own.
//!
//! Parameters are one flat slice in [`flat`](crate::flat) order — each layer's weight
//! `[d_in, d_out]` row-major, then its bias `[d_out]` — so a network moves between burn and
//! the host with one [`flat::flatten`](crate::flat::flatten) and one
//! [`flat::load`](crate::flat::load).

use burn::tensor::backend::Backend;

use rand::Rng;

use crate::activation::{Activation, TANH_CLAMP};
use crate::distribution::{LN_2PI, gumbel_noise, push_normal_noise};
use crate::mlp::Mlp;

/// The architecture of an [`Mlp`]: its widths, input first, and its hidden activation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostMlp {
    dims: Vec<usize>,
    activation: Activation,
}

/// The buffers of one forward and backward pass, reused from one minibatch to the next.
#[derive(Debug, Clone, Default)]
pub struct HostWorkspace {
    /// `act(z_l)` of every hidden layer, then the output, each `[rows, width]`.
    outputs: Vec<Vec<f32>>,
    /// `∂L/∂z` of the layer being differentiated and of the one below it.
    delta: Vec<f32>,
    delta_below: Vec<f32>,
    rows: usize,
}

impl HostMlp {
    /// An MLP with layer widths `dims` (input first, output last; at least two) and hidden
    /// activation `activation`.
    ///
    /// # Panics
    /// Fewer than two widths, or a width of zero.
    pub fn new(dims: Vec<usize>, activation: Activation) -> Self {
        assert!(
            dims.len() >= 2 && dims.iter().all(|&d| d > 0),
            "an MLP needs an input and an output width, none of them zero (got {dims:?})"
        );
        Self { dims, activation }
    }

    /// The architecture of `mlp`.
    pub fn of<B: Backend>(mlp: &Mlp<B>) -> Self {
        let mut dims = vec![mlp.layers[0].d_input()];
        dims.extend(mlp.layers.iter().map(|l| l.d_output()));
        Self::new(dims, mlp.activation)
    }

    /// Layer widths, input first.
    pub fn dims(&self) -> &[usize] {
        &self.dims
    }

    /// Number of parameters (the length of the flat slice).
    pub fn num_params(&self) -> usize {
        self.dims.windows(2).map(|w| w[0] * w[1] + w[1]).sum()
    }

    /// The output for `rows` inputs `x` (`[rows, d_in]` row-major), `[rows, d_out]`
    /// row-major. The hidden outputs stay in `ws` for [`backward`](Self::backward).
    ///
    /// # Panics
    /// `params` or `x` of the wrong length.
    pub fn forward<'w>(
        &self,
        params: &[f32],
        x: &[f32],
        rows: usize,
        ws: &'w mut HostWorkspace,
    ) -> &'w [f32] {
        assert_eq!(params.len(), self.num_params(), "parameter count");
        assert_eq!(x.len(), rows * self.dims[0], "input size");
        let layers = self.dims.len() - 1;
        ws.outputs.resize_with(layers, Vec::new);
        ws.rows = rows;
        let mut offset = 0;
        for l in 0..layers {
            let (d_in, d_out) = (self.dims[l], self.dims[l + 1]);
            let (w, rest) = params[offset..].split_at(d_in * d_out);
            let b = &rest[..d_out];
            offset += d_in * d_out + d_out;
            let (below, here) = ws.outputs.split_at_mut(l);
            let input: &[f32] = if l == 0 { x } else { &below[l - 1] };
            let z = &mut here[0];
            z.clear();
            z.reserve(rows * d_out);
            for _ in 0..rows {
                z.extend_from_slice(b);
            }
            // z = input · W + z (the bias rows).
            if rows <= FEW_ROWS {
                // Acting: a handful of rows, where packing W for the matrix kernel costs more
                // than the product. Each row of W scaled and added, vectorised over d_out.
                for (z, x) in z.chunks_exact_mut(d_out).zip(input.chunks_exact(d_in)) {
                    for (&xi, wi) in x.iter().zip(w.chunks_exact(d_out)) {
                        z.iter_mut().zip(wi).for_each(|(z, &w)| *z += xi * w);
                    }
                }
            } else {
                gemm(
                    rows,
                    d_in,
                    d_out,
                    input,
                    Layout::Rows,
                    w,
                    Layout::Rows,
                    z,
                    1.0,
                );
            }
            if l + 1 < layers {
                activate(self.activation, z);
            }
        }
        &ws.outputs[layers - 1]
    }

    /// The gradient of a loss with respect to the parameters, given its gradient `d_output`
    /// with respect to the outputs of the last [`forward`](Self::forward) on `x` (same `x`,
    /// `[rows, d_out]`), written into `grad` (flat order, overwritten).
    ///
    /// # Panics
    /// Slices of the wrong length, or no forward pass on `rows` rows before.
    pub fn backward(
        &self,
        params: &[f32],
        x: &[f32],
        d_output: &[f32],
        ws: &mut HostWorkspace,
        grad: &mut [f32],
    ) {
        let layers = self.dims.len() - 1;
        let rows = ws.rows;
        assert_eq!(
            ws.outputs.len(),
            layers,
            "backward needs a forward pass first"
        );
        assert_eq!(grad.len(), self.num_params(), "gradient size");
        assert_eq!(
            d_output.len(),
            rows * self.dims[layers],
            "output-gradient size"
        );
        assert_eq!(x.len(), rows * self.dims[0], "input size");
        ws.delta.clear();
        ws.delta.extend_from_slice(d_output);
        let mut end = grad.len();
        for l in (0..layers).rev() {
            let (d_in, d_out) = (self.dims[l], self.dims[l + 1]);
            let start = end - d_in * d_out - d_out;
            let (g_w, g_b) = grad[start..end].split_at_mut(d_in * d_out);
            let input: &[f32] = if l == 0 { x } else { &ws.outputs[l - 1] };
            // ∂W = inputᵀ · δ, ∂b = column sums of δ.
            gemm(
                d_in,
                rows,
                d_out,
                input,
                Layout::Transposed,
                &ws.delta,
                Layout::Rows,
                g_w,
                0.0,
            );
            g_b.fill(0.0);
            for row in ws.delta.chunks_exact(d_out) {
                g_b.iter_mut().zip(row).for_each(|(g, d)| *g += d);
            }
            if l > 0 {
                // δ_below = (δ · Wᵀ) ⊙ act'(z_below), act' written through the output.
                let w = &params[start..start + d_in * d_out];
                ws.delta_below.clear();
                ws.delta_below.resize(rows * d_in, 0.0);
                gemm(
                    rows,
                    d_out,
                    d_in,
                    &ws.delta,
                    Layout::Rows,
                    w,
                    Layout::Transposed,
                    &mut ws.delta_below,
                    0.0,
                );
                let h = &ws.outputs[l - 1];
                match self.activation {
                    Activation::Tanh => ws
                        .delta_below
                        .iter_mut()
                        .zip(h)
                        .for_each(|(d, &h)| *d *= 1.0 - h * h),
                    Activation::Relu => ws
                        .delta_below
                        .iter_mut()
                        .zip(h)
                        .for_each(|(d, &h)| *d = if h > 0.0 { *d } else { 0.0 }),
                }
                std::mem::swap(&mut ws.delta, &mut ws.delta_below);
            }
            end = start;
        }
    }
}

/// Up to this many rows a forward pass multiplies without the matrix kernel (acting on a few
/// envs); from here on `matrixmultiply`, whose packing pays for itself.
const FEW_ROWS: usize = 4;

/// How a matrix operand is stored: as itself row-major, or as its transpose row-major.
#[derive(Clone, Copy)]
enum Layout {
    Rows,
    Transposed,
}

/// `c = a · b + beta · c` for `a` `[m, k]`, `b` `[k, n]`, `c` `[m, n]` row-major.
#[allow(clippy::too_many_arguments)]
fn gemm(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    a_layout: Layout,
    b: &[f32],
    b_layout: Layout,
    c: &mut [f32],
    beta: f32,
) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() == m * n);
    let strides = |layout, rows: usize, cols: usize| match layout {
        Layout::Rows => (cols as isize, 1),
        Layout::Transposed => (1, rows as isize),
    };
    let (rsa, csa) = strides(a_layout, m, k);
    let (rsb, csb) = strides(b_layout, k, n);
    // SAFETY: the asserts above keep every index of the strided reads and writes in bounds
    // (the largest is (m−1)·rs + (k−1)·cs < m·k for either layout), and `c` is not aliased.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            rsa,
            csa,
            b.as_ptr(),
            rsb,
            csb,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

/// Applies `activation` in place, as [`Activation::forward`] computes it.
fn activate(activation: Activation, z: &mut [f32]) {
    match activation {
        Activation::Tanh => z.iter_mut().for_each(|v| {
            let e = exp(2.0 * v.clamp(-TANH_CLAMP, TANH_CLAMP));
            *v = (e - 1.0) / (e + 1.0);
        }),
        Activation::Relu => z.iter_mut().for_each(|v| *v = v.max(0.0)),
    }
}

/// `eˣ` for `|x| ≤ 2·TANH_CLAMP`, written so that a loop over it vectorises: `x = n·ln 2 + r`
/// with `|r| ≤ ln 2 / 2`, `eʳ` by its Taylor polynomial of degree 7 (truncation error below
/// 3e-9 relative, under an f32 ulp), and `2ⁿ` built in the exponent bits.
#[inline(always)]
fn exp(x: f32) -> f32 {
    // Adding 1.5·2²³ rounds to an integer (round to nearest even) without a branch.
    const ROUND: f32 = 12_582_912.0;
    // ln 2 split so that n·LN2_HI is exact for the n in range (Cody and Waite).
    const LN2_HI: f32 = 355.0 / 512.0;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let shifted = x * std::f32::consts::LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let mut p = 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    // The integer n sits in the low mantissa bits of `shifted`: its bits less ROUND's are n
    // (two's complement), integer arithmetic that vectorises where a float→int cast does not.
    let biased = shifted
        .to_bits()
        .wrapping_sub(ROUND.to_bits())
        .wrapping_add(127);
    let scale = f32::from_bits(biased << 23);
    p * scale
}

/// Acting with a [`GaussianMlpPolicy`](crate::GaussianMlpPolicy) on the host, given its
/// means `[rows, act_dim]` (from [`HostMlp::forward`]) and its log standard deviations. With
/// `rng`: the actions [`DiagGaussian::sample`](crate::DiagGaussian) draws from the same
/// generator, `μ + exp(log σ)·ε` with the same ε; without: the means (the mode). The actions
/// are appended to `actions`, and their log-probabilities, computed as
/// [`DiagGaussian`](crate::DiagGaussian)'s `log_prob` computes them, to `log_probs` when given.
///
/// # Panics
/// `mean` not a whole number of rows of `log_std.len() > 0` values.
pub fn gaussian_act<R: Rng + ?Sized>(
    mean: &[f32],
    log_std: &[f32],
    rng: Option<&mut R>,
    actions: &mut Vec<f32>,
    log_probs: Option<&mut Vec<f32>>,
) {
    let a = log_std.len();
    assert!(
        a > 0 && mean.len().is_multiple_of(a),
        "{} means for {a} action dimensions",
        mean.len()
    );
    let start = actions.len();
    match rng {
        Some(rng) => {
            // ε straight into `actions`, then μ + σ·ε in place: no buffer per step.
            push_normal_noise(mean.len(), rng, actions);
            for (x, m) in actions[start..]
                .chunks_exact_mut(a)
                .zip(mean.chunks_exact(a))
            {
                for j in 0..a {
                    x[j] = m[j] + log_std[j].exp() * x[j];
                }
            }
        }
        None => actions.extend_from_slice(mean),
    }
    if let Some(log_probs) = log_probs {
        gaussian_log_probs(mean, log_std, &actions[start..], log_probs);
    }
}

/// The log-probabilities of `actions` (`[rows, act_dim]`) under the diagonal Gaussians of
/// means `mean` (`[rows, act_dim]`) and log standard deviations `log_std` (`[act_dim]`),
/// appended to `log_probs`, as [`DiagGaussian`](crate::DiagGaussian)'s `log_prob` computes
/// them.
///
/// # Panics
/// `mean` and `actions` of different lengths, or not whole rows of `log_std.len()` values.
pub fn gaussian_log_probs(
    mean: &[f32],
    log_std: &[f32],
    actions: &[f32],
    log_probs: &mut Vec<f32>,
) {
    let a = log_std.len();
    assert!(
        a > 0 && mean.len() == actions.len() && mean.len().is_multiple_of(a),
        "{} means and {} actions for {a} action dimensions",
        mean.len(),
        actions.len()
    );
    let constant = (0.5 * LN_2PI * a as f64) as f32;
    for (x, m) in actions.chunks_exact(a).zip(mean.chunks_exact(a)) {
        let mut sum = 0.0f32;
        for j in 0..a {
            let z = (x[j] - m[j]) * (-log_std[j]).exp();
            sum += z * z * -0.5 - log_std[j];
        }
        log_probs.push(sum - constant);
    }
}

/// The log-softmax of one row of logits into `out` (same length), shifted by the row's
/// maximum as [`Categorical::from_logits`](crate::Categorical::from_logits) computes it.
///
/// # Panics
/// `logits` and `out` of different lengths.
pub fn log_softmax(logits: &[f32], out: &mut [f32]) {
    assert_eq!(logits.len(), out.len(), "one output per logit");
    let shift = logits.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
    let lse = logits.iter().map(|&x| (x - shift).exp()).sum::<f32>().ln();
    for (p, &x) in out.iter_mut().zip(logits) {
        *p = (x - shift) - lse;
    }
}

/// Acting with a [`CategoricalMlpPolicy`](crate::CategoricalMlpPolicy) on the host, given its
/// logits `[rows, n_actions]` (from [`HostMlp::forward`]). With `rng`: the actions
/// [`Categorical::sample`](crate::Categorical) draws from the same generator (Gumbel-max with
/// the same noise); without: the most likely actions. The actions are appended to
/// `actions`, and their log-probabilities (the log-softmax shifted by the row maximum, as
/// [`Categorical::from_logits`](crate::Categorical::from_logits) computes it) to `log_probs`
/// when given.
///
/// # Panics
/// `logits` not a whole number of rows of `n_actions > 0` values.
pub fn categorical_act<R: Rng + ?Sized>(
    logits: &[f32],
    n_actions: usize,
    rng: Option<&mut R>,
    actions: &mut Vec<i64>,
    mut log_probs: Option<&mut Vec<f32>>,
) {
    let c = n_actions;
    assert!(
        c > 0 && logits.len().is_multiple_of(c),
        "{} logits for {c} actions",
        logits.len()
    );
    let noise = rng.map(|rng| gumbel_noise(logits.len(), rng));
    let mut row_log_p = vec![0.0f32; c];
    for (r, l) in logits.chunks_exact(c).enumerate() {
        log_softmax(l, &mut row_log_p);
        let score = |j: usize| row_log_p[j] + noise.as_ref().map_or(0.0, |g| g[r * c + j]);
        // The first maximum, as an arg-max returns it.
        let best = (1..c).fold(0, |b, j| if score(j) > score(b) { j } else { b });
        actions.push(best as i64);
        if let Some(log_probs) = log_probs.as_deref_mut() {
            log_probs.push(row_log_p[best]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_two_ulps_of_std() {
        let mut worst = 0.0f32;
        for i in -40_000..=40_000 {
            let x = i as f32 * 1e-3;
            let (ours, std) = (exp(x), x.exp());
            worst = worst.max(((ours - std) / std).abs());
        }
        assert!(worst < 2.5 * f32::EPSILON, "worst relative error {worst}");
    }

    #[test]
    fn tanh_matches_std() {
        let mut z: Vec<f32> = (-3000..=3000).map(|i| i as f32 * 1e-2).collect();
        let reference: Vec<f32> = z.iter().map(|v| v.tanh()).collect();
        activate(Activation::Tanh, &mut z);
        for (a, b) in z.iter().zip(&reference) {
            // (e − 1)/(e + 1) loses relative precision near 0 (as burn's formula does);
            // the absolute error stays at a few ulps of 1.
            assert!((a - b).abs() < 4.0 * f32::EPSILON, "{a} vs {b}");
        }
    }
}
