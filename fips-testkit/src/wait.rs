//! The one polling wait of the test kit, and its retrying form.

use std::time::{Duration, Instant};

/// How often a wait asks again.
pub const POLL: Duration = Duration::from_millis(50);

/// Polls `cond` every [`POLL`] until it holds (true) or `timeout` passes
/// (false). The condition is asked once more at the deadline.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    poll(timeout, || cond().then_some(())).is_some()
}

/// Polls `probe` every [`POLL`] until it yields a value or `timeout` passes.
pub fn poll<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(POLL);
    }
}

/// Calls `attempt` every [`POLL`] until it succeeds or `timeout` passes;
/// its last result (the error that was still there at the deadline).
pub fn retry<T, E>(timeout: Duration, mut attempt: impl FnMut() -> Result<T, E>) -> Result<T, E> {
    let deadline = Instant::now() + timeout;
    loop {
        let result = attempt();
        if result.is_ok() || Instant::now() >= deadline {
            return result;
        }
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_until_returns_false_once_the_timeout_passes() {
        let t0 = Instant::now();
        assert!(!wait_until(Duration::from_millis(120), || false));
        assert!(t0.elapsed() >= Duration::from_millis(120));
    }

    #[test]
    fn retry_gives_the_last_error_once_the_timeout_passes() {
        let mut n = 0;
        let got: Result<(), u32> = retry(Duration::from_millis(120), || {
            n += 1;
            Err(n)
        });
        assert_eq!(got, Err(n));
        assert!(n >= 2, "asked {n} times");
        let mut m = 0;
        assert_eq!(
            retry(Duration::from_secs(5), || {
                m += 1;
                if m == 3 {
                    Ok(m)
                } else {
                    Err(())
                }
            }),
            Ok(3)
        );
    }

    #[test]
    fn poll_returns_the_first_value_the_probe_yields() {
        let mut n = 0;
        let got = poll(Duration::from_secs(5), || {
            n += 1;
            (n == 3).then_some(n)
        });
        assert_eq!(got, Some(3));
    }
}
