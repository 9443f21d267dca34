//! The daemon's end of the control socket: accepts connections, reads one
//! request line, hands the command to the node's task and writes the reply.
//! It never touches node state itself.

use std::future::Future;
use std::net::Ipv6Addr;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::time::timeout;

use super::proto::{Command, Query, Response, IO_TIMEOUT, MAX_REQUEST};
use crate::limits::{self, CONTROL_CLIENTS};

/// A command on its way to the node task, with where to send the reply.
#[derive(Debug)]
pub struct ControlRequest {
    pub command: Command,
    pub reply: oneshot::Sender<Response>,
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("control socket {path}: another daemon is already listening there")]
    InUse { path: PathBuf },
    #[error("control socket {path}: {call} failed: {source}")]
    Syscall {
        path: PathBuf,
        call: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// A bound control socket; the socket file is removed on drop.
#[derive(Debug)]
pub struct ControlServer {
    listener: UnixListener,
    path: PathBuf,
    /// The node's fips0 address: `show_listening_sockets` is answered
    /// here, off the node task (it reads /proc).
    fips0: Option<Ipv6Addr>,
}

impl ControlServer {
    /// Binds the socket (mode 0770), replacing a stale file left by a dead
    /// daemon but never one a live daemon answers on.
    pub fn bind(path: &Path) -> Result<ControlServer, ControlError> {
        let err = |call, source| ControlError::Syscall {
            path: path.into(),
            call,
            source,
        };
        if let Some(dir) = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty() && !d.exists())
        {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o770)
                .create(dir)
                .map_err(|e| err("mkdir", e))?;
        }
        if path.exists() {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(ControlError::InUse { path: path.into() });
            }
            std::fs::remove_file(path).map_err(|e| err("unlink stale socket", e))?;
        }
        let listener = UnixListener::bind(path).map_err(|e| err("bind", e))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o770))
            .map_err(|e| err("chmod", e))?;
        Ok(ControlServer {
            listener,
            path: path.into(),
            fips0: None,
        })
    }

    /// Answers `show_listening_sockets` for this fips0 address itself.
    pub fn with_fips0(mut self, addr: Ipv6Addr) -> ControlServer {
        self.fips0 = Some(addr);
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Serves until `shutdown` completes. Each connection runs in its own
    /// task so a slow client cannot stall the others; beyond
    /// [`CONTROL_CLIENTS`] at once, a new connection is closed unserved.
    pub async fn run(
        self,
        requests: mpsc::Sender<ControlRequest>,
        shutdown: impl Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let clients = Arc::new(Semaphore::new(CONTROL_CLIENTS));
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => match clients.clone().try_acquire_owned() {
                        Ok(permit) => {
                            limits::CONTROL_CLIENTS_NOW.fetch_add(1, Relaxed);
                            let requests = requests.clone();
                            tokio::spawn(serve_connection(stream, requests, permit, self.fips0));
                        }
                        Err(_) => {
                            limits::count(&limits::CONTROL_REFUSED);
                            drop(stream);
                        }
                    },
                    Err(e) => {
                        tracing::warn!(error = %e, "control socket accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                },
            }
        }
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        let _ignored_if_already_gone = std::fs::remove_file(&self.path);
    }
}

async fn serve_connection(
    mut stream: UnixStream,
    requests: mpsc::Sender<ControlRequest>,
    _permit: OwnedSemaphorePermit,
    fips0: Option<Ipv6Addr>,
) {
    let _gone = ClientGone;
    let response = match timeout(IO_TIMEOUT, read_request(&mut stream)).await {
        Err(_) => {
            limits::count(&limits::CONTROL_BAD_REQUESTS);
            Response::error("read timeout")
        }
        Ok(Err(message)) => {
            limits::count(&limits::CONTROL_BAD_REQUESTS);
            Response::Error(message)
        }
        Ok(Ok(line)) => match Command::parse_line(&line) {
            Err(message) => Response::Error(message),
            Ok(command) => match (command, fips0) {
                (Command::Show(Query::ListeningSockets), Some(addr)) => listening(addr).await,
                (command, _) => dispatch(command, &requests).await,
            },
        },
    };
    let line = response.to_line();
    match timeout(IO_TIMEOUT, stream.write_all(line.as_bytes())).await {
        Ok(Ok(())) => {
            let _best_effort = stream.shutdown().await;
        }
        Ok(Err(e)) => tracing::debug!(error = %e, "control reply write failed"),
        Err(_) => tracing::debug!("control reply write timed out"),
    }
}

/// Keeps `CONTROL_CLIENTS_NOW` true however a connection task ends.
struct ClientGone;

impl Drop for ClientGone {
    fn drop(&mut self) {
        limits::CONTROL_CLIENTS_NOW.fetch_sub(1, Relaxed);
    }
}

/// Reads up to the first newline, at most [`MAX_REQUEST`] bytes.
async fn read_request(stream: &mut UnixStream) -> Result<Vec<u8>, String> {
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("read error: {e}"))?;
        if n == 0 {
            // EOF: a request without its newline still counts.
            return if buf.is_empty() {
                Err("empty request".into())
            } else {
                Ok(buf)
            };
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.iter().position(|&b| b == b'\n') {
            buf.truncate(end);
            return Ok(buf);
        }
        if buf.len() > MAX_REQUEST {
            return Err("request too large".into());
        }
    }
}

async fn dispatch(command: Command, requests: &mpsc::Sender<ControlRequest>) -> Response {
    let (reply, answer) = oneshot::channel();
    if requests
        .send(ControlRequest { command, reply })
        .await
        .is_err()
    {
        return Response::error("node shutting down");
    }
    match timeout(IO_TIMEOUT, answer).await {
        Ok(Ok(response)) => response,
        Ok(Err(_)) => Response::error("node shutting down"),
        Err(_) => Response::error("query timeout"),
    }
}

/// `show_listening_sockets` on a blocking thread: /proc reads must not
/// stall the runtime the node task shares.
async fn listening(fips0: Ipv6Addr) -> Response {
    match tokio::task::spawn_blocking(move || super::listening_sockets(fips0)).await {
        Ok(reply) => reply,
        Err(e) => Response::error(format!("internal error: {e}")),
    }
}
