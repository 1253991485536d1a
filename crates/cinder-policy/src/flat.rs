//! A module's float parameters as one flat device tensor, and back.
//!
//! The order is the module's visiting order (field order, recursively), each parameter
//! flattened row-major. Everything stays on the device: no host round-trip.
//!
//! ```
//! use burn::backend::Flex;
//! use cinder_policy::{GaussianMlpPolicyConfig, flat};
//!
//! let device = Default::default();
//! let policy = GaussianMlpPolicyConfig::new(3, 2).init::<Flex>(0, &device).unwrap();
//! let theta = flat::flatten(&policy);
//! assert_eq!(theta.dims(), [flat::num_params(&policy)]);
//! let same = flat::load(policy, theta.clone()).unwrap();
//! let again = flat::flatten(&same);
//! assert_eq!(again.into_data(), theta.into_data());
//! ```

use burn::module::{AutodiffModule, Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Shape, Tensor};

use crate::{PolicyError, Result};

/// Number of float parameters in `module`.
pub fn num_params<B: Backend, M: Module<B>>(module: &M) -> usize {
    shapes(module).iter().map(|s| s.num_elements()).sum()
}

/// Shapes of the float parameters, in flattening order.
pub fn shapes<B: Backend, M: Module<B>>(module: &M) -> Vec<Shape> {
    struct Shapes(Vec<Shape>);
    impl<B: Backend> ModuleVisitor<B> for Shapes {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            self.0.push(param.shape());
        }
    }
    let mut v = Shapes(Vec::new());
    module.visit(&mut v);
    v.0
}

/// Each float parameter's path in the module (`mlp.layers.0.weight`) and dimensions, in
/// flattening order: what a checkpoint compares to name the layer that does not fit.
pub fn named_shapes<B: Backend, M: Module<B>>(module: &M) -> Vec<(String, Vec<usize>)> {
    struct Named {
        path: Vec<String>,
        out: Vec<(String, Vec<usize>)>,
    }
    impl<B: Backend> ModuleVisitor<B> for Named {
        fn enter_module(&mut self, name: &str, _container_type: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            self.out.push((self.path.join("."), param.shape().to_vec()));
        }
    }
    let mut v = Named {
        path: Vec::new(),
        out: Vec::new(),
    };
    module.visit(&mut v);
    v.out
}

/// Whether every float parameter of `module` is finite (one read-back). The flag is read as
/// a number: backends store booleans differently (wgpu as `u32`).
pub fn all_finite<B: Backend, M: Module<B>>(module: &M) -> bool {
    if num_params(module) == 0 {
        return true;
    }
    let bad = flatten(module).is_finite().bool_not().int().sum();
    bad.into_data().iter::<i64>().next().unwrap_or(1) == 0
}

/// All float parameters of `module` concatenated.
///
/// # Shapes
/// - output: [num_params]
pub fn flatten<B: Backend, M: Module<B>>(module: &M) -> Tensor<B, 1> {
    struct Collect<B: Backend>(Vec<Tensor<B, 1>>);
    impl<B: Backend> ModuleVisitor<B> for Collect<B> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            self.0.push(param.val().reshape([-1]));
        }
    }
    let mut c = Collect(Vec::new());
    module.visit(&mut c);
    Tensor::cat(c.0, 0)
}

/// `module` with its float parameters replaced by consecutive slices of `flat`.
///
/// Parameter ids are kept, so optimiser state and records stay attached; a parameter that
/// required gradients is a fresh leaf that still does.
///
/// # Shapes
/// - flat: [num_params]
pub fn load<B: Backend, M: Module<B>>(module: M, flat: Tensor<B, 1>) -> Result<M> {
    let expected = num_params(&module);
    let [got] = flat.dims();
    if got != expected {
        return Err(PolicyError::FlatLength { expected, got });
    }
    struct Load<B: Backend> {
        flat: Tensor<B, 1>,
        offset: usize,
    }
    impl<B: Backend> ModuleMapper<B> for Load<B> {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
            let (id, tensor, mapper) = param.consume();
            let shape = tensor.shape();
            let n = shape.num_elements();
            let require_grad = tensor.is_require_grad();
            let value = self
                .flat
                .clone()
                .narrow(0, self.offset, n)
                .reshape(shape)
                .detach()
                .set_require_grad(require_grad);
            self.offset += n;
            Param::from_mapped_value(id, value, mapper)
        }
    }
    Ok(module.map(&mut Load { flat, offset: 0 }))
}

/// `module` with every float parameter a fresh gradient leaf.
///
/// burn 0.21 keeps a parameter's "requires gradient" flag only on autodiff backends: a
/// module built (or loaded) on a plain backend and lifted with `Module::train` tracks no
/// gradients, and every gradient read from it is empty. Call this on the lifted module.
pub fn require_grad<B: AutodiffBackend, M: Module<B>>(module: M) -> M {
    struct Leaves;
    impl<B: AutodiffBackend> ModuleMapper<B> for Leaves {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
            let (id, tensor, mapper) = param.consume();
            Param::from_mapped_value(id, tensor.detach().require_grad(), mapper)
        }
    }
    module.map(&mut Leaves)
}

/// The gradient of every float parameter of `module`, concatenated in flattening order; a
/// parameter without a gradient contributes zeros.
///
/// # Shapes
/// - output: [num_params]
pub fn gradient<B: AutodiffBackend, M: AutodiffModule<B>>(
    module: &M,
    grads: &B::Gradients,
) -> Tensor<B::InnerBackend, 1> {
    struct Grads<'a, B: AutodiffBackend> {
        grads: &'a B::Gradients,
        out: Vec<Tensor<B::InnerBackend, 1>>,
    }
    impl<B: AutodiffBackend> ModuleVisitor<B> for Grads<'_, B> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            let value = param.val();
            let g = match value.grad(self.grads) {
                Some(g) => g,
                None => Tensor::zeros(value.shape(), &value.device()),
            };
            self.out.push(g.reshape([-1]));
        }
    }
    let mut v = Grads {
        grads,
        out: Vec::new(),
    };
    module.visit(&mut v);
    Tensor::cat(v.out, 0)
}
