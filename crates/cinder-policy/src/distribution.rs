//! Action distributions: diagonal Gaussian and categorical.
//!
//! Every quantity is per sample: `log_prob`, `entropy` and `kl` return one value for each row
//! of the batch ([batch]); multi-dimensional Gaussian actions are summed over the action axis.

use burn::tensor::{Int, Tensor, TensorData, backend::Backend};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal, StandardUniform};

/// `ln 2π`, the constant of a Gaussian's log-density.
pub const LN_2PI: f64 = 1.837_877_066_409_345_3;

/// `n` standard normal draws from `rng`, in the order [`DiagGaussian::sample`] uses them
/// (row-major over `[batch, act_dim]`).
pub(crate) fn normal_noise<R: Rng + ?Sized>(n: usize, rng: &mut R) -> Vec<f32> {
    let mut noise = Vec::with_capacity(n);
    push_normal_noise(n, rng, &mut noise);
    noise
}

/// [`normal_noise`]'s draws, appended to `dst`.
pub(crate) fn push_normal_noise<R: Rng + ?Sized>(n: usize, rng: &mut R, dst: &mut Vec<f32>) {
    dst.extend((0..n).map(|_| {
        let x: f64 = StandardNormal.sample(rng);
        x as f32
    }));
}

/// `n` standard Gumbel draws `−ln(−ln u)` from `rng`, in the order [`Categorical::sample`]
/// uses them (row-major over `[batch, n_actions]`).
pub(crate) fn gumbel_noise<R: Rng + ?Sized>(n: usize, rng: &mut R) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let u: f64 = StandardUniform.sample(rng);
            let u = u.max(f64::MIN_POSITIVE);
            -(-u.ln()).ln() as f32
        })
        .collect()
}

/// A batch of action distributions, one per observation.
pub trait ActionDistribution<B: Backend>: Clone + Send + core::fmt::Debug {
    /// The actions this distribution draws: [batch, act_dim] floats for a Gaussian,
    /// [batch] integers for a categorical.
    type Actions: Clone + Send + Sync;

    /// Number of distributions in the batch.
    fn batch_size(&self) -> usize;

    /// Log-density (Gaussian) or log-probability (categorical) of `actions`.
    ///
    /// # Shapes
    /// - output: [batch]
    fn log_prob(&self, actions: Self::Actions) -> Tensor<B, 1>;

    /// Entropy of each distribution.
    ///
    /// # Shapes
    /// - output: [batch]
    fn entropy(&self) -> Tensor<B, 1>;

    /// Analytic `KL(self ‖ other)` for each pair of distributions.
    ///
    /// # Shapes
    /// - output: [batch]
    fn kl(&self, other: &Self) -> Tensor<B, 1>;

    /// The most likely action (the mean of a Gaussian, the arg-max of a categorical).
    fn mode(&self) -> Self::Actions;

    /// Draws one action per distribution. The noise is drawn on the host from `rng`, so
    /// samples depend on the seed alone, not on the backend.
    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Self::Actions;
}

/// A kind of action distribution, independent of the backend. It lets generic code move a
/// distribution between backends, e.g. to take an old policy's output out of every autodiff
/// graph (see `cinder-fisher`).
pub trait DistributionFamily: Send + Sync + 'static {
    /// The distribution on backend `B`.
    type Dist<B: Backend>: ActionDistribution<B>;

    /// Rebuilds a distribution from its parameter tensors mapped by `f`.
    fn map_backend<B1: Backend, B2: Backend>(
        dist: Self::Dist<B1>,
        f: impl FnMut(Tensor<B1, 2>) -> Tensor<B2, 2>,
    ) -> Self::Dist<B2>;
}

/// The distribution of family `F` on backend `B`.
pub type Dist<F, B> = <F as DistributionFamily>::Dist<B>;

/// Family of [`DiagGaussian`].
#[derive(Debug, Clone, Copy, Default)]
pub struct GaussianFamily;

/// Family of [`Categorical`].
#[derive(Debug, Clone, Copy, Default)]
pub struct CategoricalFamily;

impl DistributionFamily for GaussianFamily {
    type Dist<B: Backend> = DiagGaussian<B>;

    fn map_backend<B1: Backend, B2: Backend>(
        dist: DiagGaussian<B1>,
        mut f: impl FnMut(Tensor<B1, 2>) -> Tensor<B2, 2>,
    ) -> DiagGaussian<B2> {
        DiagGaussian {
            mean: f(dist.mean),
            log_std: f(dist.log_std),
        }
    }
}

impl DistributionFamily for CategoricalFamily {
    type Dist<B: Backend> = Categorical<B>;

    fn map_backend<B1: Backend, B2: Backend>(
        dist: Categorical<B1>,
        mut f: impl FnMut(Tensor<B1, 2>) -> Tensor<B2, 2>,
    ) -> Categorical<B2> {
        Categorical {
            log_probs: f(dist.log_probs),
        }
    }
}

/// Diagonal Gaussian `N(mean, diag(exp(log_std)²))`.
#[derive(Debug, Clone)]
pub struct DiagGaussian<B: Backend> {
    /// Means, [batch, act_dim].
    pub mean: Tensor<B, 2>,
    /// Log standard deviations, [batch, act_dim].
    pub log_std: Tensor<B, 2>,
}

impl<B: Backend> DiagGaussian<B> {
    /// A Gaussian with per-sample means and log standard deviations.
    ///
    /// # Shapes
    /// - mean, log_std: [batch, act_dim]
    pub fn new(mean: Tensor<B, 2>, log_std: Tensor<B, 2>) -> Self {
        assert_eq!(
            mean.dims(),
            log_std.dims(),
            "mean and log_std shapes differ"
        );
        Self { mean, log_std }
    }

    /// A Gaussian whose log standard deviation is shared by the whole batch.
    ///
    /// # Shapes
    /// - mean: [batch, act_dim]
    /// - log_std: [act_dim]
    pub fn with_shared_log_std(mean: Tensor<B, 2>, log_std: Tensor<B, 1>) -> Self {
        let [n, a] = mean.dims();
        let log_std = log_std.unsqueeze_dim::<2>(0).expand([n, a]);
        Self { mean, log_std }
    }

    /// Draws `mean + std · eps` for given standard-normal noise.
    ///
    /// # Shapes
    /// - eps: [batch, act_dim]
    pub fn sample_with_noise(&self, eps: Tensor<B, 2>) -> Tensor<B, 2> {
        self.mean.clone() + self.log_std.clone().exp() * eps
    }
}

impl<B: Backend> ActionDistribution<B> for DiagGaussian<B> {
    type Actions = Tensor<B, 2>;

    fn batch_size(&self) -> usize {
        self.mean.dims()[0]
    }

    fn log_prob(&self, actions: Tensor<B, 2>) -> Tensor<B, 1> {
        let z = (actions - self.mean.clone()) * self.log_std.clone().neg().exp();
        let per_dim = z.clone().mul(z).mul_scalar(-0.5) - self.log_std.clone();
        per_dim
            .sum_dim(1)
            .squeeze_dim::<1>(1)
            .sub_scalar(0.5 * LN_2PI * self.act_dim() as f64)
    }

    fn entropy(&self) -> Tensor<B, 1> {
        let c = 0.5 * (1.0 + LN_2PI) * self.act_dim() as f64;
        self.log_std
            .clone()
            .sum_dim(1)
            .squeeze_dim::<1>(1)
            .add_scalar(c)
    }

    fn kl(&self, other: &Self) -> Tensor<B, 1> {
        // Σ log σq − log σp + (σp² + (μp − μq)²) / (2 σq²) − 1/2
        let var_p = self.log_std.clone().mul_scalar(2.0).exp();
        let inv_var_q = other.log_std.clone().mul_scalar(-2.0).exp();
        let d = self.mean.clone() - other.mean.clone();
        let per_dim = other.log_std.clone() - self.log_std.clone()
            + (var_p + d.clone().mul(d)).mul(inv_var_q).mul_scalar(0.5)
            - 0.5;
        per_dim.sum_dim(1).squeeze_dim::<1>(1)
    }

    fn mode(&self) -> Tensor<B, 2> {
        self.mean.clone()
    }

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Tensor<B, 2> {
        let [n, a] = self.mean.dims();
        let eps = normal_noise(n * a, rng);
        let eps = Tensor::from_data(TensorData::new(eps, [n, a]), &self.mean.device());
        self.sample_with_noise(eps)
    }
}

impl<B: Backend> DiagGaussian<B> {
    fn act_dim(&self) -> usize {
        self.mean.dims()[1]
    }
}

/// Categorical distribution over `n_actions` choices, stored as normalised log-probabilities.
#[derive(Debug, Clone)]
pub struct Categorical<B: Backend> {
    /// `log p`, normalised along the action axis, [batch, n_actions].
    pub log_probs: Tensor<B, 2>,
}

impl<B: Backend> Categorical<B> {
    /// A categorical distribution from unnormalised logits.
    ///
    /// Normalised with a log-sum-exp shifted by the row maximum, which is stable and built
    /// from `max`, `exp`, `sum` and `log` only, so it can be differentiated twice.
    ///
    /// # Shapes
    /// - logits: [batch, n_actions]
    pub fn from_logits(logits: Tensor<B, 2>) -> Self {
        let shift = logits.clone().max_dim(1).detach();
        let z = logits - shift;
        let lse = z.clone().exp().sum_dim(1).log();
        Self { log_probs: z - lse }
    }

    /// Probabilities, [batch, n_actions].
    pub fn probs(&self) -> Tensor<B, 2> {
        self.log_probs.clone().exp()
    }

    /// Number of choices.
    pub fn n_actions(&self) -> usize {
        self.log_probs.dims()[1]
    }

    fn one_hot(&self, actions: Tensor<B, 1, Int>) -> Tensor<B, 2> {
        actions.one_hot::<2>(self.n_actions()).float()
    }
}

impl<B: Backend> ActionDistribution<B> for Categorical<B> {
    type Actions = Tensor<B, 1, Int>;

    fn batch_size(&self) -> usize {
        self.log_probs.dims()[0]
    }

    fn log_prob(&self, actions: Tensor<B, 1, Int>) -> Tensor<B, 1> {
        // A one-hot product rather than `gather`: only element-wise ops and a sum.
        let one_hot = self.one_hot(actions);
        (self.log_probs.clone() * one_hot)
            .sum_dim(1)
            .squeeze_dim::<1>(1)
    }

    fn entropy(&self) -> Tensor<B, 1> {
        (self.probs() * self.log_probs.clone())
            .sum_dim(1)
            .squeeze_dim::<1>(1)
            .neg()
    }

    fn kl(&self, other: &Self) -> Tensor<B, 1> {
        (self.probs() * (self.log_probs.clone() - other.log_probs.clone()))
            .sum_dim(1)
            .squeeze_dim::<1>(1)
    }

    fn mode(&self) -> Tensor<B, 1, Int> {
        self.log_probs.clone().argmax(1).squeeze_dim::<1>(1)
    }

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Tensor<B, 1, Int> {
        // Gumbel-max: argmax(log p − log(−log u)), u ~ U(0, 1).
        let [n, c] = self.log_probs.dims();
        let g = gumbel_noise(n * c, rng);
        let g = Tensor::from_data(TensorData::new(g, [n, c]), &self.log_probs.device());
        (self.log_probs.clone() + g).argmax(1).squeeze_dim::<1>(1)
    }
}
