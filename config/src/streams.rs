//! Video sources: the streams a daemon watches, their URIs and per-stream options.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// URI schemes a stream may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// A local video file (a bare path means this too).
    File,
    /// RTSP camera or server.
    Rtsp,
    /// RTSP over TLS.
    Rtsps,
    /// HTTP: MJPEG (multipart), HLS playlists, progressive files.
    Http,
    /// HTTPS, as HTTP.
    Https,
    /// A local V4L2 capture device (`v4l2:///dev/video0`).
    V4l2,
}

impl Scheme {
    /// Every scheme the daemon can ingest.
    pub const ALL: [Scheme; 6] = [
        Self::File,
        Self::Rtsp,
        Self::Rtsps,
        Self::Http,
        Self::Https,
        Self::V4l2,
    ];

    /// The scheme as written in a URI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Rtsp => "rtsp",
            Self::Rtsps => "rtsps",
            Self::Http => "http",
            Self::Https => "https",
            Self::V4l2 => "v4l2",
        }
    }

    /// Whether sources of this scheme are live (cameras): they recover from outages and drop
    /// frames rather than fall behind. Files are replayed.
    pub fn is_live(self) -> bool {
        !matches!(self, Self::File)
    }
}

/// How a stream treats a full frame queue and its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamMode {
    /// Live for cameras and network sources, replay for files.
    #[default]
    Auto,
    /// Drop the oldest queued frame when the scorer falls behind; reconnect after outages.
    Live,
    /// Block the decoder when the scorer falls behind (no frame lost); end at end of stream.
    Replay,
}

/// RTSP lower transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RtspTransport {
    /// Interleaved in the RTSP TCP connection: works through NAT and firewalls.
    #[default]
    Tcp,
    /// RTP over UDP: lower latency on a clean network.
    Udp,
}

/// One stream: an id, a source and the options that differ from the ingest defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    /// Unique id, used in records, metrics and the API (letters, digits, `-`, `_`, `.`).
    pub id: String,
    /// Source URI (`rtsp://`, `http(s)://`, `v4l2:///dev/videoN`, `file://`) or a file path.
    pub uri: String,
    /// Frames per second kept for scoring (default: `ingest.sample_fps`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_fps: Option<f64>,
    /// `auto`, `live` or `replay`.
    #[serde(default)]
    pub mode: StreamMode,
    /// RTSP jitter-buffer latency in ms (default: `ingest.rtsp_latency_ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtsp_latency_ms: Option<u32>,
    /// RTSP transport (default: `ingest.rtsp_transport`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtsp_transport: Option<RtspTransport>,
}

/// A validated source: its scheme and a URI GStreamer can open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The scheme.
    pub scheme: Scheme,
    /// The absolute URI.
    pub uri: String,
}

impl StreamConfig {
    /// Checks the id and options and resolves the URI; `base` anchors relative file paths.
    /// Errors are (key within the stream, message).
    pub fn source(&self, allowed: &[Scheme], base: &Path) -> Result<Source, (String, String)> {
        let bad = |key: &str, message: String| Err((key.to_string(), message));
        if self.id.is_empty()
            || self.id.len() > 64
            || !self
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return bad(
                "id",
                format!(
                    "'{}' is not a stream id: use 1 to 64 letters, digits, '-', '_' or '.'",
                    self.id
                ),
            );
        }
        if let Some(fps) = self.sample_fps
            && !(fps.is_finite() && fps > 0.0 && fps <= 1000.0)
        {
            return bad("sample_fps", "must be in (0, 1000]".into());
        }
        if let Some(ms) = self.rtsp_latency_ms
            && ms > 60_000
        {
            return bad("rtsp_latency_ms", "must be at most 60000".into());
        }
        let source = parse_source(&self.uri, base).map_err(|m| ("uri".to_string(), m))?;
        if !allowed.contains(&source.scheme) {
            let list: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
            return bad(
                "uri",
                format!(
                    "scheme '{}' is not allowed here (ingest.allowed_schemes: {})",
                    source.scheme.as_str(),
                    list.join(", ")
                ),
            );
        }
        Ok(source)
    }

    /// Whether the stream runs live (see [`StreamMode`]).
    pub fn is_live(&self, source: &Source) -> bool {
        match self.mode {
            StreamMode::Auto => source.scheme.is_live(),
            StreamMode::Live => true,
            StreamMode::Replay => false,
        }
    }
}

/// Parses a source URI or file path into a scheme and an absolute URI.
fn parse_source(text: &str, base: &Path) -> Result<Source, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("is empty".into());
    }
    if text.chars().any(|c| c.is_control()) {
        return Err("contains control characters".into());
    }
    let has_scheme = text
        .split_once("://")
        .is_some_and(|(s, _)| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric()));
    if !has_scheme {
        // A file path, relative to the config's folder (or the daemon's working folder).
        let path = base.join(text);
        let url = url::Url::from_file_path(std::path::absolute(&path).map_err(|e| e.to_string())?)
            .map_err(|()| format!("'{text}' is not a usable file path"))?;
        return Ok(Source {
            scheme: Scheme::File,
            uri: url.to_string(),
        });
    }
    let url = url::Url::parse(text).map_err(|e| format!("'{text}' is not a valid URI: {e}"))?;
    let scheme = Scheme::ALL
        .into_iter()
        .find(|s| s.as_str() == url.scheme())
        .ok_or_else(|| {
            format!(
                "unsupported scheme '{}' (supported: file, rtsp, rtsps, http, https, v4l2)",
                url.scheme()
            )
        })?;
    let needs_host = matches!(
        scheme,
        Scheme::Rtsp | Scheme::Rtsps | Scheme::Http | Scheme::Https
    );
    if needs_host && url.host_str().is_none_or(str::is_empty) {
        return Err(format!("'{text}' has no host"));
    }
    if matches!(scheme, Scheme::File | Scheme::V4l2) && url.path().len() <= 1 {
        return Err(format!("'{text}' names no file or device"));
    }
    Ok(Source {
        scheme,
        uri: url.to_string(),
    })
}
