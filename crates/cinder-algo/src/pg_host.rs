//! The epochs of PPO-clip, PPO-KL and VPG in plain Rust on the host, for the built-in MLP
//! policies ([`PolicyGradient::update_natively`]).
//!
//! PPO's update is 320 Adam steps of two 64-64 MLPs on 64-row minibatches (CleanRL's
//! values). As burn ops each step is about a hundred ops (forward and backward of both nets,
//! the surrogate, the value loss, the global norm and two Adam updates), each with a fixed
//! cost far above its arithmetic at these sizes. Here a step is a [`HostMlp`] forward and
//! backward pass per net (one matrix product per layer and direction), the distribution's
//! terms by their closed forms ([`NativeFamily::backward`]) and burn's Adam on flat vectors.
//! The networks and Adam state are read once per update and written back once.

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Tensor, TensorData, Transaction};
use cinder_policy::{HostMlp, HostWorkspace, ValueMlp, flat};

use crate::actor::NativeFamily;
use crate::batch::{Batch, UpdateStats, gather_rows};
use crate::comm::Communicator;
use crate::error::{AlgoError, Result};
use crate::family::{ActionFamily, AgentPolicy};
use crate::host_adam::HostAdam;
use crate::pg::{Attempt, EpochTally, HostNets, Objective, PolicyGradient};

impl<B: AutodiffBackend, P: AgentPolicy<B>> PolicyGradient<B, P>
where
    P::Family: NativeFamily,
{
    /// Runs every update's epochs in plain Rust on the host: `policy_net` is the policy's
    /// MLP (its head's parameters, a Gaussian's log σ, follow in the flat order) and
    /// `value_net` the value net's. The parameters, the batch's actions, log-probabilities
    /// and advantages, and both Adam states are read once per update; each minibatch step is
    /// a [`HostMlp`] forward and backward pass per network and burn's Adam on flat vectors;
    /// the results are written back once. Checkpoints are unchanged (burn's Adam records).
    ///
    /// What is learned is what the burn ops learn up to float rounding (the products sum in
    /// another order, `tanh` uses an `exp` of its own): the same objective, advantage
    /// normalisation, value clipping, global-norm clipping, early stop, metrics, and the same
    /// random numbers (the minibatch orders). A non-finite loss or gradient norm abandons the
    /// update as it does on the device.
    pub fn update_natively(&mut self, policy_net: HostMlp, value_net: HostMlp) {
        self.host = Some(HostNets {
            policy: policy_net,
            value: value_net,
            run: Self::epochs_on_host,
        });
    }

    /// The epochs on the host (see [`update_natively`](Self::update_natively)).
    fn epochs_on_host(
        &mut self,
        nets: &HostNets<B, P>,
        policy: P,
        value: ValueMlp<B>,
        batch: &Batch<B, P::Family>,
        lr: f64,
        shuffle: &mut dyn FnMut(&mut [usize]),
    ) -> Result<Attempt<B, P>> {
        let s = self.settings.clone();
        let comm = self.comm.clone();
        let comm = &*comm;
        let (pnet, vnet) = (&nets.policy, &nets.value);
        let m = batch.len;
        let d = pnet.dims()[0];
        let n_out = pnet.dims()[pnet.dims().len() - 1];
        let n_mlp = pnet.num_params();
        let width = P::Family::action_width(pnet);
        let vanilla = s.objective == Objective::Vanilla;
        let device = batch.obs.device();

        // One read of the networks, one of the batch's actions, log-probabilities and
        // advantages (the observations, returns and values have host copies).
        let mut pparams = host_vec(flat::flatten(&policy.valid()));
        let n_pi = pparams.len();
        if n_pi != n_mlp + P::Family::extra_params(pnet) || batch.host_obs.len() != m * d {
            return Err(AlgoError::Unsupported(format!(
                "the host update's policy network {:?} does not fit the policy ({n_pi} \
                 parameters) or the batch's observations; build it from the learner's MLP",
                pnet.dims()
            )));
        }
        let mut vparams = if vanilla {
            Vec::new()
        } else {
            host_vec(flat::flatten(&value.valid()))
        };
        let n_v = vparams.len();
        if !vanilla && n_v != vnet.num_params() {
            return Err(AlgoError::Unsupported(format!(
                "the host update's value network {:?} does not fit the value net ({n_v} \
                 parameters); build it from the learner's value net",
                vnet.dims()
            )));
        }
        let actions = P::Family::host_actions(P::Family::to_host(&batch.actions))?;
        let [old_log_probs, advantages] = read_vecs(
            Transaction::default()
                .register(batch.old_log_probs.clone())
                .register(batch.advantages.clone()),
        );
        let mut adam_pi = HostAdam::read(&self.policy_optim, &policy);
        let mut adam_v = (!vanilla).then(|| HostAdam::read(&self.value_optim, &value));
        let eps = self.adam_epsilon;

        let mut full_adv = advantages;
        if s.normalize_advantage && vanilla {
            normalize(comm, &mut full_adv);
        }
        let kl_coef = match s.objective {
            Objective::KlPenalty { .. } => Some(self.kl_coef as f32),
            _ => None,
        };
        let mut ws = HostWorkspace::default();
        // π_old's outputs, for the KL penalty.
        let old_out = kl_coef.map(|_| {
            pnet.forward(&pparams[..n_mlp], &batch.host_obs, m, &mut ws)
                .to_vec()
        });
        let old_head = pparams[n_mlp..].to_vec();

        let mb = s.batch_size.min(m);
        let mut order: Vec<usize> = (0..m).collect();
        let mut ep = Epoch::<<P::Family as NativeFamily>::HostAction>::default();
        let mut vws = HostWorkspace::default();
        let (mut out, mut log_probs, mut d_log_probs) = (Vec::new(), Vec::new(), Vec::new());
        let (mut d_out, mut d_value, mut adv) = (Vec::new(), Vec::new(), Vec::new());
        let mut grad = vec![0.0f32; n_pi + n_v];
        let mut tally = EpochTally::default();
        for _ in 0..s.n_epochs {
            tally.epochs += 1;
            if mb < m {
                shuffle(&mut order);
            }
            // The epoch's data in minibatch order: each minibatch is then a slice.
            gather_rows(&order, &batch.host_obs, d, &mut ep.obs);
            gather_rows(&order, &actions, width, &mut ep.actions);
            gather_rows(&order, &old_log_probs, 1, &mut ep.old_log_probs);
            gather_rows(&order, &full_adv, 1, &mut ep.advantages);
            if !vanilla {
                gather_rows(&order, &batch.host_returns, 1, &mut ep.returns);
                gather_rows(&order, &batch.host_values, 1, &mut ep.old_values);
            }
            if let Some(old) = &old_out {
                gather_rows(&order, old, n_out, &mut ep.old_out);
            }
            let mut bad = 0.0f64;
            let mut clip_sum = 0.0f32;
            let mut last = [0.0f32; 4]; // policy loss, value loss, entropy, approx_kl
            for start in (0..m).step_by(mb) {
                let len = mb.min(m - start);
                let rows = start..start + len;
                let n = len as f32;
                let x = &ep.obs[start * d..(start + len) * d];
                let acts = &ep.actions[start * width..(start + len) * width];
                adv.clear();
                adv.extend_from_slice(&ep.advantages[rows.clone()]);
                if s.normalize_advantage && !vanilla {
                    normalize(comm, &mut adv);
                }
                out.clear();
                out.extend_from_slice(pnet.forward(&pparams[..n_mlp], x, len, &mut ws));
                let head = &pparams[n_mlp..];
                log_probs.clear();
                P::Family::log_probs(&out, head, acts, &mut log_probs);

                // The surrogate and ∂/∂ log π of each row.
                d_log_probs.clear();
                let (mut pg_sum, mut kl_sum, mut clipped) = (0.0f32, 0.0f32, 0usize);
                for (i, (&lp, &old)) in log_probs
                    .iter()
                    .zip(&ep.old_log_probs[rows.clone()])
                    .enumerate()
                {
                    let log_ratio = lp - old;
                    let r = log_ratio.exp();
                    kl_sum += (r - 1.0) - log_ratio;
                    let a = adv[i];
                    let d_log_prob = match s.objective {
                        Objective::Clip { clip_range, .. } => {
                            // max(−A r, −A clip(r)): the gradient flows through the larger
                            // term, and not at all through a clipped ratio; ∂r/∂ log π = r.
                            let c = clip_range as f32;
                            let (lo, hi) = (1.0 - c, 1.0 + c);
                            let unclipped = -a * r;
                            let clipped_term = -a * r.clamp(lo, hi);
                            if (r - 1.0).abs() > c {
                                clipped += 1;
                            }
                            if unclipped >= clipped_term {
                                pg_sum += unclipped;
                                -a * r
                            } else {
                                pg_sum += clipped_term;
                                if (lo..=hi).contains(&r) { -a * r } else { 0.0 }
                            }
                        }
                        Objective::KlPenalty { .. } => {
                            pg_sum -= r * a;
                            -a * r
                        }
                        Objective::Vanilla => {
                            pg_sum -= log_ratio * a;
                            -a
                        }
                    };
                    d_log_probs.push(d_log_prob / n);
                }
                let mut pg_loss = pg_sum / n;
                let entropy = P::Family::mean_entropy(&out, head, len);
                let kl = match (kl_coef, &old_out) {
                    (Some(beta), Some(_)) => {
                        let old = &ep.old_out[start * n_out..(start + len) * n_out];
                        pg_loss += beta * P::Family::mean_kl((old, &old_head), (&out, head), len);
                        Some((old, old_head.as_slice(), beta))
                    }
                    _ => None,
                };
                let d_entropy = if vanilla { 0.0 } else { -(s.ent_coef as f32) };
                let (g_pi, g_v) = grad.split_at_mut(n_pi);
                let (g_mlp, g_head) = g_pi.split_at_mut(n_mlp);
                P::Family::backward(
                    &out,
                    head,
                    acts,
                    &d_log_probs,
                    d_entropy,
                    kl,
                    &mut d_out,
                    g_head,
                );
                pnet.backward(&pparams[..n_mlp], x, &d_out, &mut ws, g_mlp);

                // The value loss, ½ mean((v − R)²), or its clipped form.
                let mut v_loss = None;
                if !vanilla {
                    let v = vnet.forward(&vparams, x, len, &mut vws);
                    let returns = &ep.returns[rows.clone()];
                    let old_values = &ep.old_values[rows.clone()];
                    let vf = s.vf_coef as f32;
                    let mut sum = 0.0f32;
                    d_value.clear();
                    for i in 0..len {
                        let diff = v[i] - returns[i];
                        let unclipped = diff * diff;
                        let (square, d_v) = match s.objective {
                            Objective::Clip {
                                clip_range_vf: Some(c),
                                ..
                            } => {
                                let c = c as f32;
                                let delta = v[i] - old_values[i];
                                let clipped_diff = old_values[i] + delta.clamp(-c, c) - returns[i];
                                let clipped = clipped_diff * clipped_diff;
                                if unclipped >= clipped {
                                    (unclipped, diff)
                                } else if (-c..=c).contains(&delta) {
                                    (clipped, clipped_diff)
                                } else {
                                    (clipped, 0.0)
                                }
                            }
                            _ => (unclipped, diff),
                        };
                        sum += square;
                        d_value.push(d_v * vf / n);
                    }
                    v_loss = Some(0.5 * sum / n);
                    vnet.backward(&vparams, x, &d_value, &mut vws, g_v);
                }
                if comm.size() > 1 {
                    // Data-parallel: the ranks' mean gradients, clipped by their norm.
                    comm.all_reduce_sum_f32(&mut grad);
                    let k = comm.size() as f32;
                    grad.iter_mut().for_each(|g| *g /= k);
                }
                // Global grad-norm clipping, as PyTorch's `clip_grad_norm_`.
                let norm2: f32 = grad.iter().map(|g| g * g).sum();
                if let Some(max) = s.max_grad_norm {
                    let scale = (1.0 / (norm2.sqrt() + 1e-6) * max as f32).min(1.0);
                    grad.iter_mut().for_each(|g| *g *= scale);
                }
                if !norm2.is_finite() || !pg_loss.is_finite() {
                    bad += 1.0;
                }
                let (g_pi, g_v) = grad.split_at(n_pi);
                adam_pi.step(&mut pparams, g_pi, lr, eps);
                if let Some(adam_v) = &mut adam_v {
                    adam_v.step(&mut vparams, g_v, lr, eps);
                }
                if matches!(s.objective, Objective::Clip { .. }) {
                    clip_sum += clipped as f32 / n;
                    tally.clip_batches += 1;
                }
                last = [pg_loss, v_loss.unwrap_or(0.0), entropy, kl_sum / n];
            }
            let mut read = vec![bad, last[0] as f64, last[2] as f64, last[3] as f64];
            if !vanilla {
                read.push(last[1] as f64);
            }
            if matches!(s.objective, Objective::Clip { .. }) {
                read.push(clip_sum as f64);
            }
            match tally.end_epoch(read, !vanilla, comm, &s.objective) {
                Ok(false) => {}
                Ok(true) => break,
                Err(reason) => return Ok(Err(reason)),
            }
        }

        adam_pi.write(&mut self.policy_optim, &device);
        let policy = flat::load(policy, upload::<B>(pparams, &device))?;
        let value = match adam_v {
            Some(adam_v) => {
                adam_v.write(&mut self.value_optim, &device);
                flat::load(value, upload::<B>(vparams, &device))?
            }
            None => value,
        };
        let stats: UpdateStats = tally.stats(lr);
        Ok(Ok((policy, value, stats)))
    }
}

/// One epoch's data in minibatch order.
#[derive(Default)]
struct Epoch<A> {
    obs: Vec<f32>,
    actions: Vec<A>,
    old_log_probs: Vec<f32>,
    advantages: Vec<f32>,
    returns: Vec<f32>,
    old_values: Vec<f32>,
    old_out: Vec<f32>,
}

/// `(x − mean) / (std + 1e-8)` with the unbiased std over every rank's `x`, in place, as
/// [`comm::normalize_global`] does it on the device.
fn normalize(comm: &dyn Communicator, x: &mut [f32]) {
    let mut first = [x.iter().map(|&v| v as f64).sum::<f64>(), x.len() as f64];
    comm.all_reduce_sum_f64(&mut first);
    let [sum, total] = first;
    if total < 2.0 {
        return;
    }
    let mean = (sum / total) as f32;
    x.iter_mut().for_each(|v| *v -= mean);
    let mut second = [x.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>()];
    comm.all_reduce_sum_f64(&mut second);
    let std = (second[0] / (total - 1.0)).sqrt() as f32;
    x.iter_mut().for_each(|v| *v /= std + 1e-8);
}

/// A device tensor's values on the host.
fn host_vec<B: burn::tensor::backend::Backend>(t: Tensor<B, 1>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}

/// The tensors of a transaction as host vectors (one read).
fn read_vecs<B: burn::tensor::backend::Backend, const N: usize>(
    tx: Transaction<B>,
) -> [Vec<f32>; N] {
    let read: Vec<Vec<f32>> = tx
        .execute()
        .into_iter()
        .map(|d| d.iter::<f32>().collect())
        .collect();
    read.try_into().expect("one vector per registered tensor")
}

/// Flat parameters back on the device.
fn upload<B: AutodiffBackend>(values: Vec<f32>, device: &B::Device) -> Tensor<B, 1> {
    let n = values.len();
    Tensor::from_data(TensorData::new(values, [n]), device)
}
