//! Sliding replay window over frame counters (2048 packets, as the
//! reference). Callers `check` before decrypting and `update` only after the
//! frame authenticated, so forged frames cannot move the window.

const WINDOW: u64 = 2048;
const WORDS: usize = (WINDOW / 64) as usize;

#[derive(Clone, Debug)]
pub struct ReplayWindow {
    /// Highest counter accepted so far, `None` before the first frame.
    highest: Option<u64>,
    /// Bit `c % 2048` is set when counter `c` (within the window) was seen.
    bits: [u64; WORDS],
}

impl Default for ReplayWindow {
    fn default() -> Self {
        Self::new()
    }
}

impl ReplayWindow {
    pub fn new() -> Self {
        ReplayWindow {
            highest: None,
            bits: [0; WORDS],
        }
    }

    /// Whether a frame with this counter may be new: above the highest, or
    /// inside the window and not yet seen. Counters at or below
    /// highest - 2048 are too old.
    pub fn check(&self, c: u64) -> bool {
        let Some(highest) = self.highest else {
            return true;
        };
        if c > highest {
            return true;
        }
        if highest - c >= WINDOW {
            return false;
        }
        !self.bit(c)
    }

    /// Records an authenticated counter, sliding the window forward if needed.
    pub fn update(&mut self, c: u64) {
        match self.highest {
            Some(highest) if c <= highest => {
                if highest - c < WINDOW {
                    self.set(c);
                }
                return;
            }
            Some(highest) if c - highest < WINDOW => {
                // Forget the counters that the slide reuses slots for.
                for old in highest + 1..c {
                    self.clear(old);
                }
            }
            _ => self.bits = [0; WORDS],
        }
        self.highest = Some(c);
        self.set(c);
    }

    fn slot(c: u64) -> (usize, u64) {
        let i = c % WINDOW;
        ((i / 64) as usize, 1u64 << (i % 64))
    }

    fn bit(&self, c: u64) -> bool {
        let (w, m) = Self::slot(c);
        self.bits[w] & m != 0
    }

    fn set(&mut self, c: u64) {
        let (w, m) = Self::slot(c);
        self.bits[w] |= m;
    }

    fn clear(&mut self, c: u64) {
        let (w, m) = Self::slot(c);
        self.bits[w] &= !m;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_window_accepts_counter_zero_once() {
        let mut w = ReplayWindow::new();
        assert!(w.check(0));
        w.update(0);
        assert!(!w.check(0));
        assert!(w.check(1));
    }

    #[test]
    fn out_of_order_counters_inside_the_window_are_accepted_once() {
        let mut w = ReplayWindow::new();
        w.update(100);
        for c in [99, 50, 0] {
            assert!(w.check(c), "{c} should be new");
            w.update(c);
            assert!(!w.check(c), "{c} is now a replay");
        }
        assert!(w.check(98));
    }

    #[test]
    fn counters_at_or_below_highest_minus_2048_are_rejected() {
        let mut w = ReplayWindow::new();
        w.update(5000);
        assert!(!w.check(5000 - 2048));
        assert!(!w.check(0));
        assert!(w.check(5000 - 2047));
    }

    #[test]
    fn sliding_forward_forgets_slots_reused_by_new_counters() {
        let mut w = ReplayWindow::new();
        w.update(10);
        // 10 + 2048 reuses the slot of 10; 10 itself is now too old anyway.
        w.update(10 + 2048);
        assert!(!w.check(10));
        // 20 + 2048 was never seen although slot 20 % 2048 is 20.
        w.update(20);
        w.update(2100);
        assert!(
            w.check(2068),
            "2068 shares a slot with 20 but was never seen"
        );
        assert!(!w.check(2100));
    }

    #[test]
    fn a_jump_beyond_the_window_clears_everything() {
        let mut w = ReplayWindow::new();
        for c in 0..100 {
            w.update(c);
        }
        w.update(1_000_000);
        assert!(w.check(1_000_000 - 1));
        assert!(!w.check(1_000_000));
        assert!(!w.check(99));
    }

    #[test]
    fn the_largest_counter_does_not_overflow() {
        let mut w = ReplayWindow::new();
        w.update(u64::MAX);
        assert!(!w.check(u64::MAX));
        assert!(w.check(u64::MAX - 1));
    }
}
