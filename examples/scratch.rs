use burn::tensor::{Tensor, backend::Backend};
use cinder::bench::randn;
use rand::{SeedableRng, rngs::StdRng};
use std::time::Instant;

fn t<B: Backend>(name: &str, d: &B::Device, mut f: impl FnMut()) {
    for _ in 0..3 { f(); } B::sync(d).unwrap();
    let s = Instant::now();
    for _ in 0..20 { f(); }
    B::sync(d).unwrap();
    println!("{name}: {:.3} ms", s.elapsed().as_secs_f64() * 1e3 / 20.0);
}

fn run<B: Backend>() {
    let d = Default::default();
    let mut r = StdRng::seed_from_u64(0);
    let h2: Tensor<B, 2> = randn([5000, 64], &mut r, &d);
    let w2: Tensor<B, 2> = randn([64, 64], &mut r, &d);
    let h3: Tensor<B, 3> = h2.clone().unsqueeze_dim(0);
    let w3: Tensor<B, 3> = w2.clone().unsqueeze_dim(0);
    let ht3 = h3.clone().swap_dims(1, 2);
    let ht3c = h3.clone().swap_dims(1, 2) * 1.0;
    let ht2 = h2.clone().transpose();
    let g2: Tensor<B, 2> = randn([5000, 64], &mut r, &d);
    let g3 = g2.clone().unsqueeze_dim::<3>(0);
    let wt3 = w3.clone();
    let hT3 = ht3c.clone();
    t::<B>("A [64,64]x[64,5000]", &d, || { let _ = wt3.clone().matmul(hT3.clone()); });
    let small: Tensor<B, 3> = randn([1, 3, 64], &mut r, &d);
    let g3t: Tensor<B, 3> = randn([1, 3, 5000], &mut r, &d);
    t::<B>("A' [3,64]x[64,5000]", &d, || { let _ = small.clone().matmul(hT3.clone()); });
    t::<B>("B' [3,5000]x[5000,64]", &d, || { let _ = g3t.clone().matmul(h3.clone()); });
    t::<B>("2d matmul h·w", &d, || { let _ = h2.clone().matmul(w2.clone()); });
    t::<B>("3d matmul h·w", &d, || { let _ = h3.clone().matmul(w3.clone()); });
    t::<B>("3d ht·g (view)", &d, || { let _ = ht3.clone().matmul(g3.clone()); });
    t::<B>("3d ht·g (contig)", &d, || { let _ = ht3c.clone().matmul(g3.clone()); });
    t::<B>("2d ht·g (view)", &d, || { let _ = ht2.clone().matmul(g2.clone()); });
    t::<B>("3d mul", &d, || { let _ = h3.clone() * g3.clone(); });
    t::<B>("3d add bias", &d, || { let _ = h3.clone() + w3.clone().narrow(1, 0, 1); });
    t::<B>("3d sum_dim1", &d, || { let _ = g3.clone().sum_dim(1); });
    t::<B>("3d g·wT view", &d, || { let _ = g3.clone().matmul(w3.clone().swap_dims(1,2)); });
}

fn main() {
    println!("flex"); run::<cinder::backend::Flex>();
    #[cfg(feature = "ndarray")] { println!("ndarray"); run::<cinder::backend::NdArray>(); }
}
