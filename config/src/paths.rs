//! Default file locations and resolution of relative paths.

use std::path::{Component, Path, PathBuf};

/// The project checkout this crate was built from; built-in defaults point into it.
pub fn project_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// A path inside the project checkout.
pub(crate) fn in_project(rel: &str) -> PathBuf {
    project_root().join(rel)
}

/// Makes `path` absolute against `base` when it is relative, folding `..` lexically so that
/// messages show the path a person would write.
pub(crate) fn resolve(path: &mut PathBuf, base: &Path) {
    if path.is_relative() && !base.as_os_str().is_empty() {
        *path = normalize(&base.join(&*path));
    }
}

fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}
