//! The client end (fipsctl): blocking, one request per connection.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use super::proto::{Command, Response, IO_TIMEOUT};

/// Replies larger than this are refused (a full `show_peers` on a big
/// node is a few hundred KiB).
const MAX_REPLY: u64 = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the fips daemon at {path}: {source} (is it running? use -s to pick another socket)")]
    Connect {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("control socket {path}: {action} failed: {source}")]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("control socket {path}: the daemon closed the connection without a reply")]
    NoReply { path: PathBuf },
    #[error("control socket {path}: reply is not valid JSON: {source}")]
    BadReply {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// Sends one command and waits for its reply.
pub fn request(path: &Path, command: &Command) -> Result<Response, ClientError> {
    let io = |action, source| ClientError::Io {
        path: path.into(),
        action,
        source,
    };
    let mut stream = UnixStream::connect(path).map_err(|source| ClientError::Connect {
        path: path.into(),
        source,
    })?;
    stream
        .set_read_timeout(Some(IO_TIMEOUT * 2))
        .map_err(|e| io("setting timeout", e))?;
    stream
        .set_write_timeout(Some(IO_TIMEOUT))
        .map_err(|e| io("setting timeout", e))?;
    let mut line = command.to_line();
    line.push('\n');
    stream
        .write_all(line.as_bytes())
        .map_err(|e| io("sending", e))?;
    let mut reply = Vec::new();
    stream
        .take(MAX_REPLY)
        .read_to_end(&mut reply)
        .map_err(|e| io("reading the reply", e))?;
    if reply.iter().all(u8::is_ascii_whitespace) {
        return Err(ClientError::NoReply { path: path.into() });
    }
    Response::parse_line(&reply).map_err(|source| ClientError::BadReply {
        path: path.into(),
        source,
    })
}
