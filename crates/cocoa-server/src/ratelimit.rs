//! Limits on failed attempts (processing numbers, admin tokens) and on survey submissions, per
//! client and overall, in fixed windows.
//!
//! A failure limit only holds under concurrency if a slot is taken *before* the attempt is
//! evaluated: checking first and counting the failure afterwards lets a burst of parallel guesses
//! all pass the check (found by probing: 1,000 of 1,000 parallel guesses were evaluated). So an
//! attempt [`reserve`](RateLimiter::reserve)s a slot, in one step under the lock, and then
//! [`settle`](RateLimiter::settle)s it: a failure keeps it, a success gives it back. A slot held
//! by an attempt still in flight counts against the limit, but a client refused only because of
//! its own attempts in flight is told to retry in a second, not at the end of the window.
//!
//! A client is keyed by an HMAC of its address under a key drawn at start-up and never stored:
//! the map holds no address, and nothing here is logged or persisted.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Who is asking, as far as rate limiting cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientTag([u8; 16]);

/// Failures counted and attempts in flight, of one client or of everyone.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub failures: u32,
    pub in_flight: u32,
}

impl Budget {
    /// Takes a slot if `failures + in_flight < limit`; otherwise says why not.
    pub fn take(&mut self, limit: u32) -> Result<(), Refusal> {
        if self.failures >= limit {
            return Err(Refusal::Exhausted);
        }
        if self.failures.saturating_add(self.in_flight) >= limit {
            return Err(Refusal::Busy);
        }
        self.in_flight += 1;
        Ok(())
    }

    /// Ends an attempt that held a slot: a failure keeps the slot, a success frees it.
    pub fn settle(&mut self, failed: bool) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if failed {
            self.failures = self.failures.saturating_add(1);
        }
    }
}

/// Why no slot was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The window's failures are used up: wait for the next window.
    Exhausted,
    /// Every remaining slot is held by attempts still in flight: retry in a moment.
    Busy,
}

/// A slot held by one attempt, to be settled exactly once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a reserved slot must be settled"]
pub struct Slot {
    client: ClientTag,
    window_start: i64,
}

impl Slot {
    /// The start of the window the slot belongs to (unix seconds).
    pub fn window_start(&self) -> i64 {
        self.window_start
    }
}

#[derive(Debug, Default)]
struct Window {
    start: i64,
    global: Budget,
    clients: HashMap<ClientTag, Budget>,
}

/// Counts attempts in the current window.
#[derive(Debug)]
pub struct RateLimiter {
    key: [u8; 32],
    window_seconds: i64,
    client_limit: u32,
    global_limit: u32,
    window: Mutex<Window>,
}

impl RateLimiter {
    /// `global_limit` is this process's own; a limit shared by replicas is kept by
    /// [`SharedSlots`] instead, and then this one is `u32::MAX`.
    pub fn new(key: [u8; 32], window_seconds: u64, client_limit: u32, global_limit: u32) -> Self {
        Self {
            key,
            window_seconds: window_seconds.max(1) as i64,
            client_limit,
            global_limit,
            window: Mutex::new(Window::default()),
        }
    }

    /// The tag of an address (or of "unknown" when the transport gives none).
    pub fn tag(&self, address: Option<IpAddr>) -> ClientTag {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        match address {
            Some(IpAddr::V4(a)) => mac.update(&a.octets()),
            Some(IpAddr::V6(a)) => match a.to_ipv4_mapped() {
                Some(v4) => mac.update(&v4.octets()),
                // One client per /64: a single IPv6 host usually has a whole /64 to rotate
                // through.
                None => mac.update(&a.octets()[..8]),
            },
            None => mac.update(b"unknown"),
        }
        let mut tag = [0u8; 16];
        tag.copy_from_slice(&mac.finalize().into_bytes()[..16]);
        ClientTag(tag)
    }

    /// The start of the window `now` falls in.
    pub fn window_start(&self, now: i64) -> i64 {
        now - now.rem_euclid(self.window_seconds)
    }

    /// Seconds a refused client should wait.
    pub fn retry_after(&self, refusal: Refusal, now: i64) -> u64 {
        match refusal {
            Refusal::Busy => 1,
            Refusal::Exhausted => {
                (self.window_start(now) + self.window_seconds - now).max(1) as u64
            }
        }
    }

    fn lock(&self, now: i64) -> std::sync::MutexGuard<'_, Window> {
        let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
        let start = self.window_start(now);
        if window.start != start {
            *window = Window {
                start,
                ..Window::default()
            };
        }
        window
    }

    /// Takes a slot for one attempt of `client`, in one step: `Err(seconds to wait)` when the
    /// client, or everyone in this process, has no slot left. Settle the slot when the attempt
    /// has been evaluated.
    pub fn reserve(&self, client: ClientTag, now: i64) -> Result<Slot, u64> {
        let mut guard = self.lock(now);
        let window = &mut *guard;
        let start = window.start;
        let budget = window.clients.entry(client).or_default();
        let taken = budget.take(self.client_limit).and_then(|()| {
            window.global.take(self.global_limit).inspect_err(|_| {
                budget.in_flight -= 1;
            })
        });
        drop(guard);
        taken
            .map(|()| Slot {
                client,
                window_start: start,
            })
            .map_err(|refusal| self.retry_after(refusal, now))
    }

    /// Ends the attempt that holds `slot`: `failed` keeps the slot used for the rest of the
    /// window, otherwise it is given back. A slot of a window that has ended is forgotten.
    pub fn settle(&self, slot: Slot, failed: bool, now: i64) {
        let mut window = self.lock(now);
        if window.start != slot.window_start {
            return;
        }
        window.global.settle(failed);
        if let Some(budget) = window.clients.get_mut(&slot.client) {
            budget.settle(failed);
        }
    }

    /// Checks and counts one attempt in one step, for limits on every attempt rather than on
    /// failures (survey submissions): `Err(seconds to wait)`, not counted, when over the limit.
    pub fn admit(&self, client: ClientTag, now: i64) -> Result<(), u64> {
        let slot = self.reserve(client, now)?;
        self.settle(slot, true, now);
        Ok(())
    }
}

/// This process's share of the global failure budget: slots taken from the store
/// ([`FailureBudget`](crate::store::FailureBudget)) a few at a time and handed out one per
/// attempt. An attempt takes a slot before its number is evaluated; a wrong number uses it up, a
/// right one gives it back for the next attempt. So failures evaluated by all replicas together
/// never exceed what the store granted, which never exceeds the limit, and an honest
/// registration touches the store about once per window, not once per request. A replica holds
/// at most one chunk unused: with R replicas the budget may run out up to R chunks before the
/// limit, never after it.
#[derive(Debug)]
pub struct SharedSlots {
    limit: u32,
    chunk: u32,
    pool: Mutex<Pool>,
    /// One refill from the store at a time.
    refill: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct Pool {
    window_start: i64,
    available: u32,
    in_flight: u32,
}

impl SharedSlots {
    /// Slots come from the store `limit / 100` at a time (1..=10).
    pub fn new(limit: u32) -> Self {
        Self {
            limit,
            chunk: (limit / 100).clamp(1, 10),
            pool: Mutex::new(Pool::default()),
            refill: tokio::sync::Mutex::new(()),
        }
    }

    fn pool(&self, window_start: i64) -> std::sync::MutexGuard<'_, Pool> {
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        if pool.window_start < window_start {
            *pool = Pool {
                window_start,
                ..Pool::default()
            };
        }
        pool
    }

    fn try_take(&self, window_start: i64) -> bool {
        let mut pool = self.pool(window_start);
        if pool.window_start != window_start || pool.available == 0 {
            return false;
        }
        pool.available -= 1;
        pool.in_flight += 1;
        true
    }

    /// Takes a slot of the window starting at `window_start`, from this process's share or,
    /// when that is empty, from the store: `Ok(Err(why))` when the budget is spent (`Busy` if
    /// this process's own attempts in flight may still give slots back).
    pub async fn take(
        &self,
        store: &dyn crate::store::FailureBudget,
        window_start: i64,
    ) -> Result<Result<(), Refusal>, crate::store::StoreError> {
        if self.try_take(window_start) {
            return Ok(Ok(()));
        }
        let _refilling = self.refill.lock().await;
        if self.try_take(window_start) {
            return Ok(Ok(()));
        }
        let mut wants = vec![self.chunk];
        if self.chunk > 1 {
            // Fewer than a chunk may be left: then one at a time, to the last.
            wants.push(1);
        }
        for want in wants {
            if store
                .grant_failure_slots(window_start, want, self.limit)
                .await?
            {
                let mut pool = self.pool(window_start);
                if pool.window_start == window_start {
                    pool.available += want - 1;
                    pool.in_flight += 1;
                }
                return Ok(Ok(()));
            }
        }
        let pool = self.pool(window_start);
        Ok(Err(if pool.in_flight > 0 {
            Refusal::Busy
        } else {
            Refusal::Exhausted
        }))
    }

    /// Ends the attempt that took a slot of that window: a failure uses it up, a success gives
    /// it back to this process's share.
    pub fn settle(&self, window_start: i64, failed: bool) {
        let mut pool = self.pool(window_start);
        if pool.window_start != window_start {
            return;
        }
        pool.in_flight = pool.in_flight.saturating_sub(1);
        if !failed {
            pool.available += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_and_global_limits_reset_with_the_window() {
        let limiter = RateLimiter::new([1; 32], 60, 2, 3);
        let a = limiter.tag(Some("192.0.2.1".parse().unwrap()));
        let b = limiter.tag(Some("192.0.2.2".parse().unwrap()));
        assert_ne!(a, b);
        for t in [1, 2] {
            let slot = limiter.reserve(a, t).unwrap();
            limiter.settle(slot, true, t);
        }
        assert_eq!(limiter.reserve(a, 10), Err(50));
        let slot = limiter.reserve(b, 11).unwrap();
        limiter.settle(slot, true, 11);
        // Three failures in all: the global limit now stops everyone.
        assert!(limiter.reserve(limiter.tag(None), 12).is_err());
        assert!(limiter.reserve(a, 60).is_ok());
    }

    #[test]
    fn a_success_gives_its_slot_back() {
        let limiter = RateLimiter::new([1; 32], 60, 1, 10);
        let a = limiter.tag(Some("192.0.2.1".parse().unwrap()));
        for t in 0..5 {
            let slot = limiter.reserve(a, t).unwrap();
            limiter.settle(slot, false, t);
        }
    }

    #[test]
    fn slots_in_flight_count_but_only_ask_for_a_short_wait() {
        let limiter = RateLimiter::new([1; 32], 3600, 2, 100);
        let a = limiter.tag(Some("192.0.2.1".parse().unwrap()));
        let first = limiter.reserve(a, 0).unwrap();
        let second = limiter.reserve(a, 0).unwrap();
        // Both slots are in flight: a third attempt may not be evaluated, and waits a second.
        assert_eq!(limiter.reserve(a, 0), Err(1));
        limiter.settle(first, true, 1);
        limiter.settle(second, true, 1);
        // Both failed: now the window is used up.
        assert_eq!(limiter.reserve(a, 1), Err(3599));
    }

    #[test]
    fn a_refused_global_slot_leaves_the_client_budget_alone() {
        let limiter = RateLimiter::new([1; 32], 60, 5, 1);
        let a = limiter.tag(Some("192.0.2.1".parse().unwrap()));
        let b = limiter.tag(Some("192.0.2.2".parse().unwrap()));
        let held = limiter.reserve(a, 0).unwrap();
        for _ in 0..10 {
            assert_eq!(limiter.reserve(b, 0), Err(1));
        }
        limiter.settle(held, false, 0);
        // b's refused attempts took nothing from it.
        for _ in 0..5 {
            let slot = limiter.reserve(b, 0).unwrap();
            limiter.settle(slot, false, 0);
        }
    }

    #[test]
    fn parallel_reservations_never_exceed_the_limit() {
        let limiter = std::sync::Arc::new(RateLimiter::new([3; 32], 3600, 10, 1000));
        let a = limiter.tag(Some("192.0.2.1".parse().unwrap()));
        let evaluated = std::sync::atomic::AtomicU32::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..100 {
                        if let Ok(slot) = limiter.reserve(a, 5) {
                            evaluated.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            limiter.settle(slot, true, 5);
                        }
                    }
                });
            }
        });
        assert_eq!(evaluated.into_inner(), 10);
    }

    /// A shared budget in memory that counts how often it is asked.
    #[derive(Default)]
    struct CountingBudget {
        granted: Mutex<u64>,
        calls: std::sync::atomic::AtomicU32,
    }

    #[async_trait::async_trait]
    impl crate::store::FailureBudget for CountingBudget {
        async fn grant_failure_slots(
            &self,
            _window_start: i64,
            want: u32,
            limit: u32,
        ) -> Result<bool, crate::store::StoreError> {
            self.calls
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut granted = self.granted.lock().unwrap();
            if *granted + u64::from(want) > u64::from(limit) {
                return Ok(false);
            }
            *granted += u64::from(want);
            Ok(true)
        }

        async fn purge_failure_budget(&self, _: i64) -> Result<u64, crate::store::StoreError> {
            Ok(0)
        }
    }

    #[tokio::test]
    async fn replicas_never_evaluate_more_failures_than_the_shared_limit() {
        let budget = CountingBudget::default();
        let replicas = [
            SharedSlots::new(1000),
            SharedSlots::new(1000),
            SharedSlots::new(1000),
        ];
        let mut failures = 0;
        for i in 0..5000 {
            if let Ok(()) = replicas[i % 3].take(&budget, 0).await.unwrap() {
                replicas[i % 3].settle(0, true);
                failures += 1;
            }
        }
        assert_eq!(failures, 1000);
        assert_eq!(*budget.granted.lock().unwrap(), 1000);
        assert_eq!(
            replicas[0].take(&budget, 0).await.unwrap(),
            Err(Refusal::Exhausted)
        );
        // The next window starts afresh (its own row in the store; here, the same counter).
        *budget.granted.lock().unwrap() = 0;
        assert_eq!(replicas[0].take(&budget, 3600).await.unwrap(), Ok(()));
    }

    #[tokio::test]
    async fn right_numbers_reuse_their_slot_without_asking_the_store() {
        let budget = CountingBudget::default();
        let slots = SharedSlots::new(1000);
        for _ in 0..10_000 {
            slots.take(&budget, 0).await.unwrap().unwrap();
            slots.settle(0, false);
        }
        assert_eq!(budget.calls.load(std::sync::atomic::Ordering::Relaxed), 1);
        // Attempts in flight hold their slots: with all of a chunk in flight and the budget
        // spent, the next attempt is told to come back in a moment.
        let tight = SharedSlots::new(1);
        let spent = CountingBudget::default();
        tight.take(&spent, 0).await.unwrap().unwrap();
        assert_eq!(tight.take(&spent, 0).await.unwrap(), Err(Refusal::Busy));
        tight.settle(0, false);
        assert_eq!(tight.take(&spent, 0).await.unwrap(), Ok(()));
    }

    #[test]
    fn admit_counts_every_attempt_up_to_the_limit() {
        let limiter = RateLimiter::new([2; 32], 60, 2, u32::MAX);
        let a = limiter.tag(Some("192.0.2.1".parse().unwrap()));
        let b = limiter.tag(Some("192.0.2.2".parse().unwrap()));
        assert_eq!(limiter.admit(a, 0), Ok(()));
        assert_eq!(limiter.admit(a, 1), Ok(()));
        assert_eq!(limiter.admit(a, 2), Err(58));
        assert_eq!(limiter.admit(b, 2), Ok(()));
        assert_eq!(limiter.admit(a, 60), Ok(()));
    }

    #[test]
    fn ipv6_clients_are_grouped_by_64_bit_prefix() {
        let limiter = RateLimiter::new([1; 32], 60, 2, 3);
        let x = limiter.tag(Some("2001:db8::1".parse().unwrap()));
        let y = limiter.tag(Some("2001:db8::2".parse().unwrap()));
        let z = limiter.tag(Some("2001:db8:0:1::1".parse().unwrap()));
        assert_eq!(x, y);
        assert_ne!(x, z);
        // An IPv4 client seen through a dual-stack socket is still its own client.
        let v4 = limiter.tag(Some("192.0.2.1".parse().unwrap()));
        let mapped = limiter.tag(Some("::ffff:192.0.2.1".parse().unwrap()));
        let other = limiter.tag(Some("::ffff:192.0.2.2".parse().unwrap()));
        assert_eq!(v4, mapped);
        assert_ne!(mapped, other);
    }
}
