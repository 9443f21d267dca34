//! Shutdown: one token every task watches, and a completion signal that
//! fires when the last task holding a guard has finished (the mini-redis
//! pattern: a broadcast plus an mpsc whose senders are the guards).

use std::sync::Arc;

use tokio::sync::{mpsc, watch};

/// Tells every task to stop.
#[derive(Clone)]
pub struct ShutdownToken {
    rx: watch::Receiver<bool>,
}

/// Held by the daemon; `trigger` stops everything, `wait_done` returns once
/// every [`DoneGuard`] has been dropped.
pub struct Shutdown {
    tx: Arc<watch::Sender<bool>>,
    done_tx: Option<mpsc::Sender<()>>,
    done_rx: mpsc::Receiver<()>,
}

/// Dropped by a task when it has finished its cleanup.
#[derive(Clone)]
pub struct DoneGuard {
    _tx: mpsc::Sender<()>,
}

impl Shutdown {
    pub fn new() -> Shutdown {
        let (tx, _) = watch::channel(false);
        let (done_tx, done_rx) = mpsc::channel(1);
        Shutdown {
            tx: Arc::new(tx),
            done_tx: Some(done_tx),
            done_rx,
        }
    }

    pub fn token(&self) -> ShutdownToken {
        ShutdownToken {
            rx: self.tx.subscribe(),
        }
    }

    pub fn guard(&self) -> DoneGuard {
        DoneGuard {
            _tx: self
                .done_tx
                .clone()
                .expect("guards are handed out before wait_done"),
        }
    }

    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// A handle that can trigger shutdown from another task.
    pub fn trigger_handle(&self) -> Trigger {
        Trigger {
            tx: self.tx.clone(),
        }
    }

    /// Waits until every guard is gone.
    pub async fn wait_done(mut self) {
        self.done_tx = None;
        let _ = self.done_rx.recv().await;
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::new()
    }
}

impl ShutdownToken {
    /// Completes once shutdown has been triggered (at once if it already was).
    pub async fn cancelled(mut self) {
        let _ = self.rx.wait_for(|stop| *stop).await;
    }

    /// Runs `fut` to completion unless shutdown comes first (then `None`),
    /// as tokio-util's `CancellationToken::run_until_cancelled`.
    pub async fn run_until_cancelled<F: std::future::Future>(&self, fut: F) -> Option<F::Output> {
        tokio::select! {
            biased;
            _ = self.clone().cancelled() => None,
            out = fut => Some(out),
        }
    }

    pub fn is_cancelled(&self) -> bool {
        *self.rx.borrow()
    }
}

/// Triggers shutdown from anywhere (e.g. the signal task).
#[derive(Clone)]
pub struct Trigger {
    tx: Arc<watch::Sender<bool>>,
}

impl Trigger {
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }
}
