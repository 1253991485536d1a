//! With the `gymnasium` feature (on whenever cinder-env's bridge is compiled in through the
//! `cinder` crate), this crate's tests find the libpython they were linked against through an
//! rpath, as cinder-env's do.
//! With `mujoco`, they find MuJoCo's shared library through an rpath to
//! `MUJOCO_DYNAMIC_LINK_DIR` (the folder mujoco-rs linked against).

fn main() {
    #[cfg(feature = "gymnasium")]
    pyo3_build_config::add_libpython_rpath_link_args();
    #[cfg(feature = "mujoco")]
    {
        // MuJoCo's shared library, found at run time where mujoco-rs linked it.
        println!("cargo::rerun-if-env-changed=MUJOCO_DYNAMIC_LINK_DIR");
        if let Some(dir) = std::env::var_os("MUJOCO_DYNAMIC_LINK_DIR") {
            println!("cargo::rustc-link-arg=-Wl,-rpath,{}", dir.to_string_lossy());
        }
    }
}
