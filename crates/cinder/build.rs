//! With the `gymnasium` feature, the `cinder` binary finds the libpython it was linked against
//! through an rpath (the venv's interpreter may live outside the loader's default paths).

fn main() {
    #[cfg(feature = "gymnasium")]
    pyo3_build_config::add_libpython_rpath_link_args();
}
