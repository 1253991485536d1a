//! Seeded orthogonal initialisation (as `torch.nn.init.orthogonal_`).

use rand::{SeedableRng, rngs::StdRng};
use rand_distr::{Distribution, StandardNormal};

/// A `rows × cols` matrix (row-major) with orthonormal columns when `rows ≥ cols`, orthonormal
/// rows otherwise, scaled by `gain`; drawn from `seed`.
///
/// The same construction as `torch.nn.init.orthogonal_`: the Q factor of a Gaussian matrix
/// with the signs fixed so that R has a positive diagonal (Gram-Schmidt gives exactly that).
/// Generated on the host so that the result depends on the seed alone, not on the backend.
pub fn orthogonal(rows: usize, cols: usize, gain: f64, seed: u64) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    let (long, short) = if rows >= cols {
        (rows, cols)
    } else {
        (cols, rows)
    };
    // `short` vectors of length `long`, orthonormalised by modified Gram-Schmidt.
    let mut q: Vec<Vec<f64>> = Vec::with_capacity(short);
    while q.len() < short {
        let mut v: Vec<f64> = (0..long).map(|_| StandardNormal.sample(&mut rng)).collect();
        for u in &q {
            let d: f64 = v.iter().zip(u).map(|(a, b)| a * b).sum();
            v.iter_mut().zip(u).for_each(|(a, b)| *a -= d * b);
        }
        let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        if norm < 1e-10 {
            continue; // numerically dependent draw: draw again
        }
        v.iter_mut().for_each(|a| *a /= norm);
        q.push(v);
    }
    let mut out = vec![0.0; rows * cols];
    for (k, v) in q.iter().enumerate() {
        for (i, &x) in v.iter().enumerate() {
            // rows ≥ cols: vector k is column k; else vector k is row k.
            let (r, c) = if rows >= cols { (i, k) } else { (k, i) };
            out[r * cols + c] = gain * x;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gram(m: &[f64], rows: usize, cols: usize, by_cols: bool) -> Vec<f64> {
        let n = if by_cols { cols } else { rows };
        let mut g = vec![0.0; n * n];
        for a in 0..n {
            for b in 0..n {
                g[a * n + b] = if by_cols {
                    (0..rows).map(|i| m[i * cols + a] * m[i * cols + b]).sum()
                } else {
                    (0..cols).map(|j| m[a * cols + j] * m[b * cols + j]).sum()
                };
            }
        }
        g
    }

    #[test]
    fn orthonormal_columns_and_rows_with_gain() {
        for &(rows, cols, by_cols) in &[(11, 64, false), (64, 64, true), (64, 3, true)] {
            let gain = 2f64.sqrt();
            let m = orthogonal(rows, cols, gain, 3);
            let g = gram(&m, rows, cols, by_cols);
            let n = rows.min(cols);
            for a in 0..n {
                for b in 0..n {
                    let want = if a == b { gain * gain } else { 0.0 };
                    assert!(
                        (g[a * n + b] - want).abs() < 1e-10,
                        "{rows}x{cols} [{a},{b}]"
                    );
                }
            }
        }
    }

    #[test]
    fn seeded() {
        assert_eq!(orthogonal(5, 4, 1.0, 9), orthogonal(5, 4, 1.0, 9));
        assert_ne!(orthogonal(5, 4, 1.0, 9), orthogonal(5, 4, 1.0, 10));
    }
}
