//! Remembers recently handled msgids so re-delivered pages are invisible.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub(crate) struct Dedupe {
    seen: HashMap<String, Instant>,
    order: VecDeque<(Instant, String)>,
    ttl: Duration,
    capacity: usize,
}

impl Dedupe {
    pub(crate) fn new(ttl: Duration, capacity: usize) -> Self {
        Dedupe { seen: HashMap::new(), order: VecDeque::new(), ttl, capacity: capacity.max(1) }
    }

    pub(crate) fn contains(&mut self, msgid: &str) -> bool {
        self.evict(Instant::now());
        self.seen.contains_key(msgid)
    }

    pub(crate) fn insert(&mut self, msgid: &str) {
        let now = Instant::now();
        self.evict(now);
        if self.seen.insert(msgid.to_owned(), now).is_none() {
            self.order.push_back((now, msgid.to_owned()));
        }
        while self.seen.len() > self.capacity {
            match self.order.pop_front() {
                Some((_, id)) => {
                    self.seen.remove(&id);
                }
                None => break,
            }
        }
    }

    fn evict(&mut self, now: Instant) {
        while let Some((at, _)) = self.order.front() {
            if now.duration_since(*at) < self.ttl {
                break;
            }
            if let Some((_, id)) = self.order.pop_front() {
                self.seen.remove(&id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_and_stays_bounded() {
        let mut d = Dedupe::new(Duration::from_secs(3600), 3);
        d.insert("a");
        assert!(d.contains("a"));
        assert!(!d.contains("b"));
        for id in ["b", "c", "d"] {
            d.insert(id);
        }
        assert!(!d.contains("a"), "the oldest is dropped past capacity");
        assert!(d.contains("d"));
        let mut short = Dedupe::new(Duration::ZERO, 10);
        short.insert("x");
        assert!(!short.contains("x"));
    }
}
