//! Build script shared by the crates that link libtorch: it records libtorch's directory as an
//! rpath so binaries and tests run without LD_LIBRARY_PATH, and links libtorch_cuda when the
//! venv carries the CUDA libraries (otherwise CUDA is silently absent at run time).
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    println!("cargo:rerun-if-env-changed=SACLIP_LINK_CUDA");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        return;
    };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    let cuda_present = Path::new(&lib).join("libtorch_cuda.so").exists()
        && Path::new(&lib)
            .join("../../nvidia/cu13/lib/libcublas.so.13")
            .exists();
    if cuda_present || std::env::var_os("SACLIP_LINK_CUDA").is_some() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
}
