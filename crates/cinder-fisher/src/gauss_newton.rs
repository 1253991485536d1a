//! Gauss-Newton Fisher-vector product for the built-in MLP policies.
//!
//! For a policy whose distribution parameters are `y = f_θ(s)`, the Hessian of the mean
//! `KL(π_old ‖ π_θ)` at `θ_old` is exactly `F = (1/N) Σ_i J_iᵀ M_i J_i`, with `J_i = ∂y/∂θ` at
//! sample `i` and `M_i` the Fisher of the distribution in `y`:
//! `diag(1/σ²)` on a Gaussian mean and `2` on each state-independent log-std (whose Jacobian is
//! the identity, so that block of `F` is `2I`); `diag(p) − p pᵀ` on categorical logits.
//!
//! `J v` is a forward-mode (tangent) pass through the MLP and `Jᵀ u` one backward pass; both
//! are written out with matmuls and element-wise products, reusing the hidden outputs and
//! activation derivatives computed once in [`GaussNewton::new`]. Several policies of one
//! architecture are stacked on a leading axis and served by batched matmuls.

use burn::tensor::{Tensor, backend::Backend};
use cinder_policy::{Activation, CategoricalMlpPolicy, GaussianMlpPolicy, Mlp, flat};

use crate::{FisherError, FisherVectorProduct, FvpConfig, Result, subsample_rows};

/// The output head of an MLP policy, as far as the Fisher matrix is concerned.
#[derive(Debug, Clone)]
pub enum MlpHead<B: Backend> {
    /// Gaussian with state-independent log-std, the last parameter of the flat vector.
    Gaussian {
        /// Log standard deviations, [act_dim].
        log_std: Tensor<B, 1>,
    },
    /// Categorical over the MLP's outputs (the logits).
    Categorical,
}

/// An MLP policy whose Fisher product [`GaussNewton`] can compute: its flat parameters must be
/// the MLP's (`weight` then `bias` of each layer, input side first) followed by the head's.
pub trait MlpPolicy<B: Backend> {
    /// The network mapping observations to the distribution parameters.
    fn mlp(&self) -> &Mlp<B>;
    /// The distribution on top of the network.
    fn head(&self) -> MlpHead<B>;
}

impl<B: Backend> MlpPolicy<B> for GaussianMlpPolicy<B> {
    fn mlp(&self) -> &Mlp<B> {
        &self.mlp
    }
    fn head(&self) -> MlpHead<B> {
        MlpHead::Gaussian {
            log_std: self.log_std.val(),
        }
    }
}

impl<B: Backend> MlpPolicy<B> for CategoricalMlpPolicy<B> {
    fn mlp(&self) -> &Mlp<B> {
        &self.mlp
    }
    fn head(&self) -> MlpHead<B> {
        MlpHead::Categorical
    }
}

/// What the head contributes, precomputed for a stack of K policies.
#[derive(Debug, Clone)]
enum Metric<B: Backend> {
    /// `1 / (σ² N)`, [K, 1, A].
    Gaussian { inv_var_over_n: Tensor<B, 3> },
    /// `p` and `p / N`, [K, N, C].
    Categorical {
        p: Tensor<B, 3>,
        p_over_n: Tensor<B, 3>,
    },
}

/// `(Jᵀ M J / N + λI) v` for a stack of K MLP policies sharing one architecture.
///
/// Build one per update (it caches the forward pass at `θ_old`), then call
/// [`FisherVectorProduct::apply`] as often as conjugate gradient needs.
#[derive(Debug, Clone)]
pub struct GaussNewton<B: Backend> {
    /// Per layer: weights [K, in, out] and their transposes [K, out, in].
    weights: Vec<Tensor<B, 3>>,
    weights_t: Vec<Tensor<B, 3>>,
    /// Per layer: its input with a column of ones appended, [K, N, in + 1], and the same
    /// transposed, [K, in + 1, N]. A layer's flat parameters are its weight [in, out] then its
    /// bias [out] — together one [in + 1, out] block — so the ones column folds the bias into
    /// the one matmul of each pass (no broadcast add, no separate bias reduction).
    inputs: Vec<Tensor<B, 3>>,
    inputs_t: Vec<Tensor<B, 3>>,
    /// Per hidden layer: `act'(z_l)`, [K, N, width_l].
    dact: Vec<Tensor<B, 3>>,
    metric: Metric<B>,
    sizes: Vec<(usize, usize)>,
    num_params: usize,
    num_systems: usize,
    damping: f64,
}

impl<B: Backend> GaussNewton<B> {
    /// The operator for one policy at its current parameters.
    ///
    /// # Shapes
    /// - obs: [batch, obs_dim]
    pub fn new<P: MlpPolicy<B> + burn::module::Module<B>>(
        policy: &P,
        obs: Tensor<B, 2>,
        config: &FvpConfig,
    ) -> Result<Self> {
        Self::stacked(std::slice::from_ref(policy), obs.unsqueeze_dim(0), config)
    }

    /// The operator for K policies of one architecture, each with its own observations;
    /// `apply` then takes one vector per policy.
    ///
    /// # Shapes
    /// - obs: [K, batch, obs_dim]
    pub fn stacked<P: MlpPolicy<B> + burn::module::Module<B>>(
        policies: &[P],
        obs: Tensor<B, 3>,
        config: &FvpConfig,
    ) -> Result<Self> {
        config.validate()?;
        let first = policies.first().ok_or(FisherError::NoPolicy)?;
        let k = policies.len();
        let mlp0 = first.mlp();
        let sizes: Vec<(usize, usize)> = mlp0
            .layers
            .iter()
            .map(|l| (l.d_input(), l.d_output()))
            .collect();
        let activation: Activation = mlp0.activation;
        let [ko, n_all, d_obs] = obs.dims();
        if ko != k || d_obs != sizes[0].0 || n_all == 0 {
            return Err(FisherError::BadObservations {
                expected: format!("[{k}, batch ≥ 1, {}]", sizes[0].0),
                got: vec![ko, n_all, d_obs],
            });
        }
        for (i, p) in policies.iter().enumerate().skip(1) {
            let s: Vec<(usize, usize)> = p
                .mlp()
                .layers
                .iter()
                .map(|l| (l.d_input(), l.d_output()))
                .collect();
            if s != sizes {
                return Err(FisherError::ArchitectureMismatch {
                    index: i,
                    reason: format!("layer sizes {s:?} vs {sizes:?}"),
                });
            }
            if p.mlp().activation != activation {
                return Err(FisherError::ArchitectureMismatch {
                    index: i,
                    reason: format!("activation {:?} vs {activation:?}", p.mlp().activation),
                });
            }
            if std::mem::discriminant(&p.head()) != std::mem::discriminant(&first.head()) {
                return Err(FisherError::ArchitectureMismatch {
                    index: i,
                    reason: "Gaussian and categorical heads mixed".into(),
                });
            }
        }
        let obs = subsample_rows(obs.swap_dims(0, 1), config.sub_sampling_factor).swap_dims(0, 1);
        let n = obs.dims()[1];

        let n_layers = sizes.len();
        let mut hidden: Vec<Vec<Tensor<B, 2>>> = vec![Vec::with_capacity(k); n_layers - 1];
        let mut outputs = Vec::with_capacity(k);
        for (i, p) in policies.iter().enumerate() {
            let o = obs.clone().narrow(0, i, 1).squeeze_dim::<2>(0);
            let trace = p.mlp().forward_trace(o);
            for (l, h) in trace.hidden.into_iter().enumerate() {
                hidden[l].push(h);
            }
            outputs.push(trace.output);
        }
        let stack = |ts: Vec<Tensor<B, 2>>| Tensor::stack::<3>(ts, 0);
        let weights: Vec<Tensor<B, 3>> = (0..n_layers)
            .map(|l| {
                stack(
                    policies
                        .iter()
                        .map(|p| p.mlp().layers[l].weight.val())
                        .collect(),
                )
            })
            .collect();
        let weights_t = weights.iter().map(|w| w.clone().swap_dims(1, 2)).collect();
        let hidden: Vec<Tensor<B, 3>> = hidden.into_iter().map(stack).collect();
        let dact = hidden
            .iter()
            .map(|h| activation.derivative_from_output(h.clone()))
            .collect();
        let device = obs.device();
        let mut inputs = vec![obs];
        inputs.extend(hidden);
        let inputs_t = inputs
            .iter()
            .map(|x| {
                Tensor::cat(
                    vec![x.clone().swap_dims(1, 2), Tensor::ones([k, 1, n], &device)],
                    1,
                )
            })
            .collect();
        let inputs = inputs
            .into_iter()
            .map(|x| Tensor::cat(vec![x, Tensor::ones([k, n, 1], &device)], 2))
            .collect();

        let metric = match first.head() {
            MlpHead::Gaussian { .. } => {
                let log_std = stack(
                    policies
                        .iter()
                        .map(|p| match p.head() {
                            MlpHead::Gaussian { log_std } => log_std.unsqueeze_dim(0),
                            MlpHead::Categorical => unreachable!("heads checked above"),
                        })
                        .collect(),
                ); // [K, 1, A]
                Metric::Gaussian {
                    inv_var_over_n: log_std.mul_scalar(-2.0).exp().div_scalar(n as f64),
                }
            }
            MlpHead::Categorical => {
                let logits = stack(outputs); // [K, N, C]
                let shift = logits.clone().max_dim(2);
                let e = (logits - shift).exp();
                let p = e.clone() / e.sum_dim(2);
                Metric::Categorical {
                    p_over_n: p.clone().div_scalar(n as f64),
                    p,
                }
            }
        };
        Ok(Self {
            weights,
            weights_t,
            inputs,
            inputs_t,
            dact,
            metric,
            num_params: flat::num_params(first),
            num_systems: k,
            damping: config.damping,
            sizes,
        })
    }
}

impl<B: Backend> FisherVectorProduct<B> for GaussNewton<B> {
    fn num_params(&self) -> usize {
        self.num_params
    }

    fn num_systems(&self) -> usize {
        self.num_systems
    }

    fn apply(&mut self, v: Tensor<B, 2>) -> Tensor<B, 2> {
        let k = self.num_systems;
        let n_layers = self.sizes.len();

        // Forward-mode pass: the tangent of the network output along v.
        let mut offset = 0;
        let mut dh: Option<Tensor<B, 3>> = None;
        let mut dy = None;
        for (l, &(d_in, d_out)) in self.sizes.iter().enumerate() {
            let len = (d_in + 1) * d_out;
            let dw = v
                .clone()
                .narrow(1, offset, len)
                .reshape([k, d_in + 1, d_out]);
            offset += len;
            let mut dz = self.inputs[l].clone().matmul(dw);
            if let Some(dh) = dh.take() {
                dz = dz + dh.matmul(self.weights[l].clone());
            }
            if l + 1 < n_layers {
                dh = Some(dz * self.dact[l].clone());
            } else {
                dy = Some(dz);
            }
        }
        let dy = dy.expect("an MLP has an output layer");

        // The distribution's Fisher in its own parameters, divided by the batch size.
        let (mut g, head) = match &self.metric {
            Metric::Gaussian { inv_var_over_n } => {
                let a = self.num_params - offset;
                let log_std_part = v.clone().narrow(1, offset, a).mul_scalar(2.0);
                (dy * inv_var_over_n.clone(), Some(log_std_part))
            }
            Metric::Categorical { p, p_over_n } => {
                let mean = (p.clone() * dy.clone()).sum_dim(2);
                ((dy - mean) * p_over_n.clone(), None)
            }
        };

        // Backward pass: Jᵀ u, last layer first.
        let mut pieces = Vec::with_capacity(n_layers + 1);
        for l in (0..n_layers).rev() {
            let (d_in, d_out) = self.sizes[l];
            let gw = self.inputs_t[l].clone().matmul(g.clone());
            pieces.push(gw.reshape([k, (d_in + 1) * d_out]));
            if l > 0 {
                g = g.matmul(self.weights_t[l].clone()) * self.dact[l - 1].clone();
            }
        }
        pieces.reverse();
        pieces.extend(head);
        let fv = Tensor::cat(pieces, 1);
        if self.damping == 0.0 {
            fv
        } else {
            fv + v.mul_scalar(self.damping)
        }
    }
}
