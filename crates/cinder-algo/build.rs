//! With the `gymnasium` feature (on whenever cinder-env's bridge is compiled in through the
//! `cinder` crate), this crate's tests find the libpython they were linked against through an
//! rpath, as cinder-env's do.

fn main() {
    #[cfg(feature = "gymnasium")]
    pyo3_build_config::add_libpython_rpath_link_args();
}
