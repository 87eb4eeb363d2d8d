//! Record sinks: JSON lines on stdout or in a file.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

/// Writes one JSON object per line.
pub struct JsonLines {
    out: Box<dyn Write + Send>,
    target: String,
}

impl JsonLines {
    /// A sink on standard output.
    pub fn stdout() -> Self {
        Self {
            out: Box::new(io::stdout()),
            target: "stdout".into(),
        }
    }

    /// A sink writing (and truncating) the file at `path`.
    pub fn file(path: &Path) -> io::Result<Self> {
        let f = File::create(path)?;
        Ok(Self {
            out: Box::new(f),
            target: path.display().to_string(),
        })
    }

    /// A sink appending to the file at `path` (created when missing).
    pub fn append(path: &Path) -> io::Result<Self> {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Self {
            out: Box::new(f),
            target: path.display().to_string(),
        })
    }

    /// A sink on any writer (tests, pipes).
    pub fn writer(out: Box<dyn Write + Send>, target: &str) -> Self {
        Self {
            out,
            target: target.to_string(),
        }
    }

    /// Appends one record, as one write (a line is never interleaved with another writer's).
    pub fn write<T: Serialize>(&mut self, record: &T) -> Result<(), SinkError> {
        let mut line = serde_json::to_vec(record).map_err(|e| self.error(io::Error::other(e)))?;
        line.push(b'\n');
        self.out.write_all(&line).map_err(|e| self.error(e))
    }

    /// Pushes everything written so far to its destination.
    pub fn flush(&mut self) -> Result<(), SinkError> {
        self.out.flush().map_err(|e| self.error(e))
    }

    fn error(&self, source: io::Error) -> SinkError {
        SinkError {
            target: PathBuf::from(&self.target),
            source,
        }
    }
}

/// A record could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write records to {}: {source}", target.display())]
pub struct SinkError {
    target: PathBuf,
    source: io::Error,
}

impl SinkError {
    /// A failure of the writing machinery itself rather than of a destination.
    pub fn other(message: &str) -> Self {
        Self {
            target: PathBuf::from("(record writer)"),
            source: io::Error::other(message.to_string()),
        }
    }
}
