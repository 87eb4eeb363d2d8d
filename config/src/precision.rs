//! Numeric precision of the model's inference (`auto`, `f32`, `bf16`, `f16`).

/// The floating-point format the model computes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// bf16 on CUDA, f32 on the CPU (where bf16 is slower on most cores).
    #[default]
    Auto,
    /// 32-bit floats.
    F32,
    /// bfloat16.
    Bf16,
    /// IEEE half precision.
    F16,
}

impl Precision {
    /// The concrete precision on `device` (resolves `auto`).
    pub fn resolve(self, device: crate::Device) -> Self {
        match (self, device) {
            (Self::Auto, crate::Device::Cuda(_)) => Self::Bf16,
            (Self::Auto, crate::Device::Cpu) => Self::F32,
            (p, _) => p,
        }
    }
}
