//! Fisher-vector product by double backpropagation (the pytorch-trpo `Fvp`).
//!
//! `F v = ∇_θ (∇_θ KL(π_old ‖ π_θ) · v)`, through burn's nested autodiff `Autodiff<Autodiff<B>>`:
//! the outer level differentiates the KL, the inner level differentiates that gradient's dot
//! product with `v`.
//!
//! Two things matter on burn 0.21:
//!
//! * `π_old` must be a constant at *both* levels. `detach()` on an outer tensor only cuts the
//!   outer graph; if the inner graph still sees `π_old` depend on θ, the KL is identically
//!   zero near θ_old and every product comes out zero. The old distribution is therefore
//!   computed once on the plain backend and lifted into the nested one as a constant.
//! * `backward()` consumes the graph it walks and there is no `retain_graph`, so one graph of
//!   the KL gradient can serve only one second backward. sb3-contrib builds the KL gradient
//!   once per update and reuses it for every product; here each product rebuilds the forward
//!   pass and the first backward (as pytorch-trpo does). [`crate::GaussNewton`] is the fast
//!   path for the built-in MLPs.

use burn::backend::Autodiff;
use burn::module::{AutodiffModule, HasAutodiffModule, Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Tensor, backend::Backend};
use cinder_policy::{ActionDistribution, Dist, DistributionFamily, Policy, flat};

use crate::{FisherError, FisherVectorProduct, FvpConfig, Result, subsample_rows};

/// The backend with first-order autodiff over `B`.
pub type Ad1<B> = Autodiff<B>;
/// The backend with second-order autodiff over `B`.
pub type Ad2<B> = Autodiff<Autodiff<B>>;

/// A policy that can be lifted onto [`Ad2`] to be differentiated twice.
///
/// Implemented automatically for every module derived with `#[derive(Module)]` that
/// implements [`Policy`] generically over the backend.
pub trait SecondOrderPolicy<B: Backend>: Policy<B> {
    /// The same module on the second-order backend.
    type Lifted: Policy<Ad2<B>, Family = Self::Family>;

    /// A copy of the module on the second-order backend (same parameter values).
    fn lift(&self) -> Self::Lifted;
}

type Train1<P, B> = <P as HasAutodiffModule<Ad1<B>>>::TrainModule;
type Train2<P, B> = <Train1<P, B> as HasAutodiffModule<Ad2<B>>>::TrainModule;

impl<B, P> SecondOrderPolicy<B> for P
where
    B: Backend,
    P: Policy<B> + HasAutodiffModule<Ad1<B>>,
    Train1<P, B>: HasAutodiffModule<Ad2<B>>,
    Train2<P, B>: Policy<Ad2<B>, Family = P::Family>,
{
    type Lifted = Train2<P, B>;

    fn lift(&self) -> Self::Lifted {
        let once = <Train1<P, B> as AutodiffModule<Ad1<B>>>::from_inner(self.clone());
        <Train2<P, B> as AutodiffModule<Ad2<B>>>::from_inner(once)
    }
}

/// `(F + λI) v` by double backpropagation, for any [`SecondOrderPolicy`].
#[derive(Debug)]
pub struct DoubleBackprop<B: Backend, P: SecondOrderPolicy<B>> {
    policy: P::Lifted,
    obs: Tensor<Ad2<B>, 2>,
    old: Dist<P::Family, B>,
    num_params: usize,
    damping: f64,
}

impl<B: Backend, P: SecondOrderPolicy<B>> DoubleBackprop<B, P> {
    /// The operator at the policy's current parameters, over a batch of observations.
    ///
    /// # Shapes
    /// - obs: [batch, obs_dim]
    pub fn new(policy: &P, obs: Tensor<B, 2>, config: &FvpConfig) -> Result<Self> {
        config.validate()?;
        let [n, d] = obs.dims();
        if n == 0 {
            return Err(FisherError::BadObservations {
                expected: "[batch ≥ 1, obs_dim]".into(),
                got: vec![n, d],
            });
        }
        let obs = subsample_rows(obs, config.sub_sampling_factor);
        let old = policy.distribution(obs.clone());
        Ok(Self {
            policy: policy.lift(),
            obs: Tensor::from_inner(Tensor::from_inner(obs)),
            old,
            num_params: flat::num_params(policy),
            damping: config.damping,
        })
    }

    /// `F v` for one vector.
    fn product(&self, v: Tensor<B, 1>) -> Tensor<B, 1> {
        // Fresh leaves on both levels: graphs from earlier products are consumed.
        let policy = self.policy.clone().map(&mut FreshLeaves);
        let dist = policy.distribution(self.obs.clone());
        // π_old as a constant at both levels (see the module docs).
        let old = P::Family::map_backend(self.old.clone(), |t| {
            Tensor::<Ad2<B>, 2>::from_inner(Tensor::from_inner(t))
        });
        let kl = old.kl(&dist).mean();
        let grads = kl.backward();

        let mut dot = GradDot::<B> {
            grads: &grads,
            v,
            offset: 0,
            acc: Vec::new(),
        };
        policy.visit(&mut dot);
        if dot.acc.is_empty() {
            // The KL depends on no parameter: F = 0.
            return Tensor::zeros([self.num_params], &dot.v.device());
        }
        let gv = Tensor::cat(dot.acc, 0).sum();
        let grads2 = gv.backward();

        let mut out = InnerGrads::<B> {
            grads: &grads2,
            out: Vec::new(),
        };
        policy.visit(&mut out);
        Tensor::cat(out.out, 0)
    }
}

impl<B: Backend, P: SecondOrderPolicy<B>> FisherVectorProduct<B> for DoubleBackprop<B, P> {
    fn num_params(&self) -> usize {
        self.num_params
    }

    fn num_systems(&self) -> usize {
        1
    }

    /// Each row is one product: K rows cost K forward and double-backward passes.
    fn apply(&mut self, v: Tensor<B, 2>) -> Tensor<B, 2> {
        let k = v.dims()[0];
        let rows: Vec<Tensor<B, 2>> = (0..k)
            .map(|i| {
                let row = v.clone().narrow(0, i, 1).squeeze_dim::<1>(0);
                self.product(row).unsqueeze_dim(0)
            })
            .collect();
        let fv = Tensor::cat(rows, 0);
        if self.damping == 0.0 {
            fv
        } else {
            fv + v.mul_scalar(self.damping)
        }
    }
}

/// Makes every parameter a fresh leaf that requires gradients on both levels.
struct FreshLeaves;

impl<B: Backend> ModuleMapper<Ad2<B>> for FreshLeaves {
    fn map_float<const D: usize>(
        &mut self,
        param: Param<Tensor<Ad2<B>, D>>,
    ) -> Param<Tensor<Ad2<B>, D>> {
        let (id, t, mapper) = param.consume();
        let leaf = Tensor::from_inner(t.inner().detach().require_grad()).require_grad();
        Param::from_mapped_value(id, leaf, mapper)
    }
}

/// Forms `Σ_p ⟨∂KL/∂p, v_p⟩` on the inner level from the outer gradients.
struct GradDot<'a, B: Backend> {
    grads: &'a <Ad2<B> as burn::tensor::backend::AutodiffBackend>::Gradients,
    v: Tensor<B, 1>,
    offset: usize,
    acc: Vec<Tensor<Ad1<B>, 1>>,
}

impl<B: Backend> ModuleVisitor<Ad2<B>> for GradDot<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<Ad2<B>, D>>) {
        let value = param.val();
        let shape = value.shape();
        let len = shape.num_elements();
        let v = self.v.clone().narrow(0, self.offset, len);
        self.offset += len;
        if let Some(g) = value.grad(self.grads) {
            let v = Tensor::<Ad1<B>, 1>::from_inner(v);
            self.acc.push((g.reshape([-1]) * v).sum());
        }
    }
}

/// Reads the inner-level gradient of every parameter, in flattening order.
struct InnerGrads<'a, B: Backend> {
    grads: &'a <Ad1<B> as burn::tensor::backend::AutodiffBackend>::Gradients,
    out: Vec<Tensor<B, 1>>,
}

impl<B: Backend> ModuleVisitor<Ad2<B>> for InnerGrads<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<Ad2<B>, D>>) {
        let inner = param.val().inner();
        let g = match inner.grad(self.grads) {
            Some(g) => g.reshape([-1]),
            None => Tensor::zeros([inner.shape().num_elements()], &inner.device()),
        };
        self.out.push(g);
    }
}
