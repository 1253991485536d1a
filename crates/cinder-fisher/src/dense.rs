//! The Fisher matrix itself, dense and in f64 on the host: the reference for tests and for
//! `cinder check fvp`.
//!
//! Built from explicit per-sample Jacobians of the MLP output with respect to every
//! parameter, `F = (1/N) Σ_i J_iᵀ M_i J_i` (plus `2I` on a Gaussian's log-std block), with
//! nothing shared with the device code but the parameter values. Cost `O(N · d_out · n²)`:
//! meant for small networks.

use burn::module::Module;
use burn::tensor::{Tensor, backend::Backend};

use crate::{MlpHead, MlpPolicy};

/// A dense square matrix, row-major, f64.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseMatrix {
    /// Number of rows and columns.
    pub n: usize,
    /// Entries, `n × n`, row-major.
    pub data: Vec<f64>,
}

impl DenseMatrix {
    /// `A v`.
    pub fn matvec(&self, v: &[f64]) -> Vec<f64> {
        assert_eq!(v.len(), self.n, "vector length must equal the matrix size");
        self.data
            .chunks(self.n)
            .map(|row| row.iter().zip(v).map(|(a, b)| a * b).sum())
            .collect()
    }

    /// Entry `(i, j)`.
    pub fn get(&self, i: usize, j: usize) -> f64 {
        self.data[i * self.n + j]
    }
}

fn host<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f64> {
    t.into_data().iter::<f64>().collect()
}

/// The Fisher matrix `F` (without damping) of an MLP policy over a batch of observations, in
/// the policy's flat parameter order.
///
/// # Shapes
/// - obs: [batch, obs_dim]
/// - output: `num_params × num_params`
pub fn fisher_matrix<B: Backend, P: MlpPolicy<B> + Module<B>>(
    policy: &P,
    obs: Tensor<B, 2>,
) -> DenseMatrix {
    let mlp = policy.mlp();
    let act = mlp.activation;
    let sizes: Vec<(usize, usize)> = mlp
        .layers
        .iter()
        .map(|l| (l.d_input(), l.d_output()))
        .collect();
    let weights: Vec<Vec<f64>> = mlp.layers.iter().map(|l| host(l.weight.val())).collect();
    let biases: Vec<Vec<f64>> = mlp.layers.iter().map(|l| host(l.bias.val())).collect();
    let [n_obs, d_obs] = obs.dims();
    let x = host(obs);
    let offsets: Vec<usize> = sizes
        .iter()
        .scan(0, |o, &(i, j)| {
            let start = *o;
            *o += i * j + j;
            Some(start)
        })
        .collect();
    let n_mlp: usize = sizes.iter().map(|&(i, j)| i * j + j).sum();
    let head = policy.head();
    let n_head = match &head {
        MlpHead::Gaussian { log_std } => log_std.dims()[0],
        MlpHead::Categorical => 0,
    };
    let inv_var: Vec<f64> = match &head {
        MlpHead::Gaussian { log_std } => host(log_std.clone())
            .iter()
            .map(|s| (-2.0 * s).exp())
            .collect(),
        MlpHead::Categorical => Vec::new(),
    };
    let n = n_mlp + n_head;
    let d_out = sizes.last().expect("an MLP has an output layer").1;
    let mut f = vec![0.0; n * n];

    for s in 0..n_obs {
        // Forward pass, keeping every layer's input.
        let mut hs = vec![x[s * d_obs..(s + 1) * d_obs].to_vec()];
        for (l, &(di, dout)) in sizes.iter().enumerate() {
            let h = &hs[l];
            let mut z: Vec<f64> = biases[l].clone();
            for (i, hi) in h.iter().enumerate().take(di) {
                for (j, zj) in z.iter_mut().enumerate() {
                    *zj += hi * weights[l][i * dout + j];
                }
            }
            if l + 1 < sizes.len() {
                z.iter_mut().for_each(|v| *v = act.forward_f64(*v));
            }
            hs.push(z);
        }
        let y = &hs[sizes.len()];
        // Jacobian rows: one backward pass per output.
        let mut jac = vec![vec![0.0; n_mlp]; d_out];
        for (o, row) in jac.iter_mut().enumerate() {
            let mut g = vec![0.0; d_out];
            g[o] = 1.0;
            for l in (0..sizes.len()).rev() {
                let (di, dout) = sizes[l];
                let h = &hs[l];
                for i in 0..di {
                    for j in 0..dout {
                        row[offsets[l] + i * dout + j] = h[i] * g[j];
                    }
                }
                for j in 0..dout {
                    row[offsets[l] + di * dout + j] = g[j];
                }
                if l > 0 {
                    g = (0..di)
                        .map(|i| {
                            let back: f64 =
                                (0..dout).map(|j| weights[l][i * dout + j] * g[j]).sum();
                            back * act.derivative_f64(h[i])
                        })
                        .collect();
                }
            }
        }
        // M_i: the distribution's Fisher in its parameters.
        let m: Vec<Vec<f64>> = match &head {
            MlpHead::Gaussian { .. } => (0..d_out)
                .map(|a| {
                    (0..d_out)
                        .map(|b| if a == b { inv_var[a] } else { 0.0 })
                        .collect()
                })
                .collect(),
            MlpHead::Categorical => {
                let mx = y.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = y.iter().map(|v| (v - mx).exp()).collect();
                let sum: f64 = e.iter().sum();
                let p: Vec<f64> = e.iter().map(|v| v / sum).collect();
                (0..d_out)
                    .map(|a| {
                        (0..d_out)
                            .map(|b| if a == b { p[a] } else { 0.0 } - p[a] * p[b])
                            .collect()
                    })
                    .collect()
            }
        };
        // F += Jᵀ M J.
        for a in 0..d_out {
            for b in 0..d_out {
                let mab = m[a][b];
                if mab == 0.0 {
                    continue;
                }
                for (p, &ja) in jac[a].iter().enumerate() {
                    if ja == 0.0 {
                        continue;
                    }
                    let c = mab * ja;
                    let frow = &mut f[p * n..p * n + n_mlp];
                    for (fq, jb) in frow.iter_mut().zip(&jac[b]) {
                        *fq += c * jb;
                    }
                }
            }
        }
    }
    f.iter_mut().for_each(|v| *v /= n_obs as f64);
    for a in 0..n_head {
        let i = n_mlp + a;
        f[i * n + i] = 2.0;
    }
    DenseMatrix { n, data: f }
}
