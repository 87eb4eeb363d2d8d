//! Our side of the image-encoder benchmark (see `scripts/bench/encoder.sh`): times
//! `SaClip::encode_image` on the batch and weights that `scripts/bench/encoder.py prepare` wrote.
//!
//! Usage: `bench_image DIR THREADS [WARMUP ITERS]`; prints one JSON object.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use saclip_model::import_hf;
use tch::{Device, Tensor};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 2 && args.len() != 4 {
        bail!("usage: bench_image DIR THREADS [WARMUP ITERS]");
    }
    let dir = PathBuf::from(&args[0]);
    let threads: i32 = args[1].parse().context("THREADS")?;
    let (warmup, iters): (usize, usize) = match args.get(2..4) {
        Some([w, i]) => (w.parse().context("WARMUP")?, i.parse().context("ITERS")?),
        _ => (1, 5),
    };
    tch::set_num_threads(threads);
    let model = import_hf(&dir, Device::Cpu)
        .with_context(|| format!("importing {}", dir.display()))?
        .model;
    let pixels_file = dir.join("pixels.safetensors");
    let pixels = Tensor::read_safetensors(&pixels_file)
        .with_context(|| format!("reading {}", pixels_file.display()))?
        .into_iter()
        .find_map(|(name, t)| (name == "pixels").then_some(t))
        .context("no `pixels` tensor")?;
    let batch = pixels.size()[0];
    let _guard = tch::no_grad_guard();
    let mut times = Vec::with_capacity(iters);
    let mut out = None;
    for i in 0..warmup + iters {
        let start = Instant::now();
        let embeds = model.encode_image(&pixels);
        let elapsed = start.elapsed().as_secs_f64();
        if i >= warmup {
            times.push(elapsed);
        }
        out = Some(embeds);
    }
    if let Some(embeds) = out {
        Tensor::write_safetensors(&[("embeds", embeds)], dir.join("ours.safetensors"))?;
    }
    times.sort_by(f64::total_cmp);
    let median = times
        .get(times.len() / 2)
        .copied()
        .context("ITERS must be > 0")?;
    println!(
        "{{\"impl\": \"saclip-tch\", \"threads\": {}, \"batch\": {batch}, \"median_s\": {median}, \"images_per_s\": {}}}",
        tch::get_num_threads(),
        batch as f64 / median
    );
    Ok(())
}
