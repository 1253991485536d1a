//! Allocator tuning for the CPU backends.
//!
//! burn's CPU backends allocate a fresh buffer for every op's output. With glibc's default
//! thresholds, a buffer above 128 KiB (one [5000, 64] f32 activation is 1.25 MiB) is mmapped
//! on allocation and unmapped on free, so every op pays page faults on its output: measured
//! here, a Gauss-Newton FVP at batch 5000 took 4.9 ms by default and 3.3 ms with the
//! thresholds raised. PyTorch's CPU allocator has the same problem (the reference harness
//! measures it both ways).

/// Raises glibc's mmap and trim thresholds so freed buffers are reused instead of returned
/// to the kernel. Call once at the start of `main`; a no-op on other C libraries. Library
/// users can get the same with `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:\
/// glibc.malloc.trim_threshold=2147483648` in the environment.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn mallopt(param: i32, value: i32) -> i32;
        }
        const M_TRIM_THRESHOLD: i32 = -1;
        const M_MMAP_THRESHOLD: i32 = -3;
        // SAFETY: mallopt only changes allocator parameters; the values are within the
        // ranges glibc documents (mmap threshold ≤ 32 MiB on 64-bit).
        unsafe {
            mallopt(M_MMAP_THRESHOLD, 32 << 20);
            mallopt(M_TRIM_THRESHOLD, i32::MAX);
        }
    }
}
