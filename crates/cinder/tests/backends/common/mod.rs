//! Shared helpers of the integration tests: host data, host reference maths, and the macro
//! that runs each generic test on every compiled-in backend.
#![allow(dead_code)]

use burn::tensor::{Tensor, TensorData, backend::Backend};
use rand::{SeedableRng, rngs::StdRng};
use rand_distr::{Distribution, StandardNormal};

/// Instantiates `fn name<B: Backend>(device: &B::Device)` as a `#[test]` per backend.
///
/// Tests listed after `lavapipe_ignored:` are `#[ignore]`d on wgpu only. On lavapipe (the
/// wgpu of CI machines without a GPU) every GPU kernel is compiled by LLVM on the CPU, about
/// two seconds each, and a double-backprop test compiles a hundred or more: the whole wgpu
/// list took over 35 minutes of a 2-core machine, more than CI has. The ignored ones repeat,
/// at other sizes, device code that the tests left on wgpu already run (each file says
/// which); they still run on flex and ndarray, and on wgpu with
/// `cargo test ... -- --include-ignored` (a GPU, or time to spare).
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        backend_tests!($($name),* ; lavapipe_ignored:);
    };
    ($($name:ident),* ; lavapipe_ignored: $($slow:ident),* $(,)?) => {
        #[cfg(feature = "flex")]
        mod flex {
            $( #[test] fn $name() { super::$name::<cinder::backend::Flex>(&Default::default()); } )*
            $( #[test] fn $slow() { super::$slow::<cinder::backend::Flex>(&Default::default()); } )*
        }
        #[cfg(feature = "ndarray")]
        mod ndarray {
            $( #[test] fn $name() { super::$name::<cinder::backend::NdArray>(&Default::default()); } )*
            $( #[test] fn $slow() { super::$slow::<cinder::backend::NdArray>(&Default::default()); } )*
        }
        #[cfg(feature = "wgpu")]
        mod wgpu {
            $( #[test] fn $name() { super::$name::<cinder::backend::Wgpu>(&$crate::common::wgpu_device(module_path!())); } )*
            $(
                #[test]
                #[ignore = "minutes of kernel compilation on lavapipe; covered at other sizes by this file's wgpu tests (--include-ignored runs it)"]
                fn $slow() { super::$slow::<cinder::backend::Wgpu>(&$crate::common::wgpu_device(module_path!())); }
            )*
        }
    };
}

/// The wgpu device of the tests in module `path`, after [`exit_without_driver_teardown`] has
/// been armed.
///
/// On lavapipe the wgpu tests' time is kernel compilation, and cubecl compiles on one server
/// thread per device. So with `CINDER_TEST_FISHER_ON_CPU_ADAPTER=1` (scripts/test.sh sets it;
/// it installs lavapipe) the Fisher tests (most of the kernels) get a device of their own,
/// `WgpuDevice::Cpu`, whose thread compiles on the second core while the default device's
/// serves the rest. Without it every test uses the default device, so a plain `cargo test`
/// also works on a machine with a GPU and no CPU adapter.
#[cfg(feature = "wgpu")]
pub fn wgpu_device(path: &str) -> burn::backend::wgpu::WgpuDevice {
    use burn::backend::wgpu::WgpuDevice;
    static ARMED: std::sync::Once = std::sync::Once::new();
    let split = std::env::var_os("CINDER_TEST_FISHER_ON_CPU_ADAPTER").is_some_and(|v| v == "1");
    let device = if split && path.contains("::fisher::") {
        WgpuDevice::Cpu
    } else {
        WgpuDevice::default()
    };
    ARMED.call_once(|| {
        // Start the driver (instance, device, one compiled kernel) first, so that its exit
        // handlers are registered before ours and therefore run after it: never.
        let t = Tensor::<cinder::backend::Wgpu, 1>::from_floats([1.0, 2.0], &device);
        let _ = (t.clone() * t).sum().into_data();
        exit_without_driver_teardown();
    });
    device
}

/// Ends the process with `_exit` once the test harness calls `exit`, with the harness's exit
/// status, skipping the exit handlers registered before this call.
///
/// Mesa's lavapipe (with LLVM inside it) registers exit handlers that tear down its thread
/// pools and compiler state; cubecl's device threads are still alive then, as every global
/// GPU runtime is at exit. The race showed once as a SIGSEGV of a test binary *after*
/// `test result: ok`. The tests' outcome is the harness's exit status, which glibc's
/// `on_exit` passes through unchanged; nothing is left to flush (the harness flushed stdout,
/// and the tests write their files before they return).
#[cfg(feature = "wgpu")]
fn exit_without_driver_teardown() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn on_exit(
                f: extern "C" fn(i32, *mut std::ffi::c_void),
                arg: *mut std::ffi::c_void,
            ) -> i32;
            fn _exit(status: i32) -> !;
        }
        extern "C" fn exit_now(status: i32, _: *mut std::ffi::c_void) {
            // SAFETY: `_exit` ends the process at once; it is async-signal-safe.
            unsafe { _exit(status) }
        }
        // SAFETY: registers a plain function with no argument to read.
        let rc = unsafe { on_exit(exit_now, std::ptr::null_mut()) };
        assert_eq!(rc, 0, "on_exit failed");
    }
}

/// A seeded RNG.
pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// `n` standard-normal draws.
pub fn normal_vec(n: usize, rng: &mut StdRng) -> Vec<f64> {
    (0..n).map(|_| StandardNormal.sample(rng)).collect()
}

/// Host values as an f32 tensor.
pub fn tensor<B: Backend, const D: usize>(
    v: &[f64],
    shape: [usize; D],
    device: &B::Device,
) -> Tensor<B, D> {
    let v: Vec<f32> = v.iter().map(|&x| x as f32).collect();
    Tensor::from_data(TensorData::new(v, shape), device)
}

/// A tensor's values on the host, as f64.
pub fn host<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f64> {
    t.into_data().iter::<f64>().collect()
}

/// `‖a − b‖ / ‖b‖`.
pub fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    cinder::bench::rel_err(a, b)
}

/// Element-wise `|got − want| ≤ tol · (1 + |want|)`.
pub fn assert_close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{what}[{i}]: got {g}, want {w} (tol {tol})"
        );
    }
}
