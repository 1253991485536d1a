//! With the `gymnasium` feature, tests and examples of this crate find the libpython they were
//! linked against through an rpath (the venv's interpreter may live outside the loader's
//! default paths, e.g. under pyenv).

fn main() {
    #[cfg(feature = "gymnasium")]
    pyo3_build_config::add_libpython_rpath_link_args();
}
