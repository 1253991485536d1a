//! With the `gymnasium` feature, tests and examples of this crate find the libpython they were
//! linked against through an rpath (the venv's interpreter may live outside the loader's
//! default paths).
//!
//! With the `mujoco` feature, they find MuJoCo's shared library through an rpath to
//! `MUJOCO_DYNAMIC_LINK_DIR` (the folder mujoco-rs links against; `.cargo/config.toml` points it
//! at `.venv/mujoco-lib`), and the crate records where the venv's Gymnasium keeps its MuJoCo
//! model files, as the default place to load them from.

fn main() {
    #[cfg(feature = "gymnasium")]
    pyo3_build_config::add_libpython_rpath_link_args();
    #[cfg(feature = "mujoco")]
    mujoco();
}

#[cfg(feature = "mujoco")]
fn mujoco() {
    use std::path::Path;
    println!("cargo::rerun-if-env-changed=MUJOCO_DYNAMIC_LINK_DIR");
    let Some(dir) = std::env::var_os("MUJOCO_DYNAMIC_LINK_DIR") else {
        return;
    };
    let dir = Path::new(&dir);
    println!("cargo::rustc-link-arg=-Wl,-rpath,{}", dir.display());
    // <venv>/mujoco-lib → <venv>/lib/python3.*/site-packages/gymnasium/envs/mujoco/assets
    let Some(venv) = dir.parent() else { return };
    let Ok(entries) = std::fs::read_dir(venv.join("lib")) else {
        return;
    };
    for entry in entries.flatten() {
        let assets = entry
            .path()
            .join("site-packages/gymnasium/envs/mujoco/assets");
        if assets.join("hopper.xml").is_file() {
            println!(
                "cargo::rustc-env=CINDER_BUILD_MUJOCO_ASSETS={}",
                assets.display()
            );
            return;
        }
    }
}
