//! The backend-generic tests: every test here runs once per compiled-in backend (flex,
//! ndarray, wgpu) through [`backend_tests!`].
//!
//! They are one test binary, not one per file, on purpose. Each binary that instantiates the
//! library for three backends (plain, `Autodiff<B>` and `Autodiff<Autodiff<B>>`) costs minutes
//! of optimised code generation, and that cost was paid again by every file; one binary pays
//! it once. It also means one process on wgpu, so lavapipe compiles each GPU kernel once for
//! all of these tests.

#[macro_use]
mod common;
#[path = "../support/scratch.rs"]
mod support;

mod cg;
mod distributions;
mod fisher;
mod trainer;
