//! `saclip-train weights pull` against a stand-in Hub on 127.0.0.1 (hf-hub's resolve protocol).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;

use saclip_model::SaClip;
use tch::Device;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Serves `files` (URL path -> bytes) with the headers hf-hub reads; other paths get 404.
fn serve(files: HashMap<String, Vec<u8>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            answer(stream, &files);
        }
    });
    format!("http://{addr}")
}

fn answer(mut stream: TcpStream, files: &HashMap<String, Vec<u8>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut line = String::new();
    reader.read_line(&mut line).expect("request line");
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut start = 0usize;
    let mut end: Option<usize> = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).expect("header") == 0 || h.trim().is_empty() {
            break;
        }
        if let Some(range) = h.to_ascii_lowercase().strip_prefix("range: bytes=") {
            let (a, b) = range.trim().split_once('-').expect("range");
            start = a.parse().expect("range start");
            end = b.parse().ok();
        }
    }
    let Some(body) = files.get(&path) else {
        let _ = stream
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    let last = end.unwrap_or(body.len() - 1).min(body.len() - 1);
    let part = &body[start..=last];
    let head = format!(
        "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{last}/{}\r\n\
         ETag: \"etag-{}\"\r\nX-Repo-Commit: 0123456789abcdef\r\nConnection: close\r\n\r\n",
        part.len(),
        body.len(),
        path.len() * 1000 + body.len(),
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(part);
}

fn hub_with_fixture_checkpoint() -> String {
    let parity = root().join("fixtures/parity");
    let files = ["config.json", "model.safetensors"]
        .into_iter()
        .map(|f| {
            (
                format!("/tiny/clip/resolve/main/{f}"),
                std::fs::read(parity.join(f)).expect("fixture"),
            )
        })
        .collect();
    serve(files)
}

fn pull(endpoint: &str, repo: &str, cache: &Path, out: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_saclip-train"))
        .args([
            "weights",
            "pull",
            repo,
            "--endpoint",
            endpoint,
            "--cache-dir",
        ])
        .arg(cache)
        .arg("--out")
        .arg(out)
        .output()
        .expect("run saclip-train")
}

#[test]
fn pull_downloads_and_converts_like_a_local_import() {
    let endpoint = hub_with_fixture_checkpoint();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("pulled.safetensors");
    let output = pull(&endpoint, "tiny/clip", &dir.path().join("cache"), &out);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let local = dir.path().join("local.safetensors");
    let status = Command::new(env!("CARGO_BIN_EXE_saclip-train"))
        .args(["weights", "import-hf"])
        .arg(root().join("fixtures/parity"))
        .arg("--out")
        .arg(&local)
        .status()
        .expect("run saclip-train");
    assert!(status.success());

    // Same checkpoint, same head seed: every parameter identical.
    let pulled = SaClip::load(&out, Device::Cpu).expect("pulled model loads");
    let reference = SaClip::load(&local, Device::Cpu).expect("local model loads");
    let a = pulled.var_store().variables();
    let b = reference.var_store().variables();
    assert_eq!(a.len(), b.len());
    for (name, t) in &a {
        assert!(t.equal(&b[name]), "{name} differs");
    }
}

#[test]
fn pull_offline_says_how_to_import_by_hand() {
    // A port nothing listens on: the connection is refused, as on a machine without network.
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let dir = tempfile::tempdir().expect("tempdir");
    let output = pull(
        &format!("http://127.0.0.1:{port}"),
        "openai/clip-vit-base-patch32",
        &dir.path().join("cache"),
        &dir.path().join("x.safetensors"),
    );
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("cannot reach"), "{err}");
    assert!(err.contains("weights import-hf"), "{err}");
    assert!(!dir.path().join("x.safetensors").exists());
}

#[test]
fn pull_of_a_missing_repository_names_the_status_and_file() {
    let endpoint = hub_with_fixture_checkpoint();
    let dir = tempfile::tempdir().expect("tempdir");
    let output = pull(
        &endpoint,
        "tiny/nothing-here",
        &dir.path().join("cache"),
        &dir.path().join("x.safetensors"),
    );
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("HTTP 404"), "{err}");
    assert!(err.contains("config.json"), "{err}");
}
