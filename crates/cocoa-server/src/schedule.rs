//! What is due when, inside `cocoa serve`: pure, with time given as an argument. The `Clock`
//! owns time; `App::run_due` asks it for `now` and this module says which job is due then.
//! Tokio's clock only paces the background task's wake-ups (see `App::serve`).
//!
//! - The export runs every `[export] interval_minutes`, the first time one interval after
//!   start-up plus a random offset (up to a tenth of the interval, at most 30 s) so that
//!   replicas started together do not all reach for the lease at once.
//! - Retention runs at start-up and every `[retention] interval_minutes` (10).
//! - An interval of 0 turns that job's schedule off: it then runs only when asked (`cocoa
//!   export` or `POST /api/v1/admin/export`; `cocoa cleanup`).
//!
//! A job that fails, or finds the lease held by another replica, stays due: it is tried again
//! at the next tick. A job that ran is next due at the first slot of its own phase after the
//! moment it ran, so a clock that jumps by days runs it once, not once per missed slot.

use chrono::{DateTime, TimeDelta, Utc};
use rand::Rng;

/// The largest random offset of the first export.
pub const MAX_OFFSET_SECONDS: i64 = 30;

/// Which jobs are due at a moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Due {
    pub export: bool,
    pub retention: bool,
}

/// One periodic job: its period and when it is next due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Job {
    every: TimeDelta,
    next: DateTime<Utc>,
}

impl Job {
    fn due(&self, now: DateTime<Utc>) -> bool {
        now >= self.next
    }

    /// After a run at `now`: the first slot of the job's phase later than `now`.
    fn ran(&mut self, now: DateTime<Utc>) {
        if now < self.next {
            return;
        }
        let every_ms = self.every.num_milliseconds().max(1);
        let behind_ms = (now - self.next).num_milliseconds();
        let slots = behind_ms / every_ms + 1;
        self.next = TimeDelta::try_milliseconds(every_ms.saturating_mul(slots))
            .and_then(|step| self.next.checked_add_signed(step))
            .unwrap_or(now + self.every);
    }
}

/// The schedule of the export and retention jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    export: Option<Job>,
    retention: Option<Job>,
}

impl Schedule {
    /// The schedule of a process started at `start`, exporting every `export_minutes` and
    /// running retention every `retention_minutes` (0: that job is not scheduled); the first
    /// export's offset comes from `rng`.
    pub fn new(
        export_minutes: u32,
        retention_minutes: u32,
        start: DateTime<Utc>,
        rng: &mut impl Rng,
    ) -> Self {
        let export = (export_minutes > 0).then(|| {
            let every = TimeDelta::minutes(i64::from(export_minutes));
            let max_offset_ms = (every.num_milliseconds() / 10).min(MAX_OFFSET_SECONDS * 1000);
            let offset = TimeDelta::milliseconds(rng.gen_range(0..=max_offset_ms));
            Job {
                every,
                next: start + every + offset,
            }
        });
        let retention = (retention_minutes > 0).then(|| Job {
            every: TimeDelta::minutes(i64::from(retention_minutes)),
            next: start,
        });
        Self { export, retention }
    }

    /// Nothing is ever due.
    pub fn off() -> Self {
        Self {
            export: None,
            retention: None,
        }
    }

    /// Whether anything is scheduled.
    pub fn is_on(&self) -> bool {
        self.export.is_some() || self.retention.is_some()
    }

    /// What is due at `now`.
    pub fn due(&self, now: DateTime<Utc>) -> Due {
        Due {
            export: self.export.is_some_and(|j| j.due(now)),
            retention: self.retention.is_some_and(|j| j.due(now)),
        }
    }

    /// When the export is next due (`None`: never).
    pub fn next_export(&self) -> Option<DateTime<Utc>> {
        self.export.map(|j| j.next)
    }

    /// When retention is next due (`None`: never).
    pub fn next_retention(&self) -> Option<DateTime<Utc>> {
        self.retention.map(|j| j.next)
    }

    /// The earliest moment something is due (`None`: never).
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        match (self.next_export(), self.next_retention()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Records an export that ran (to completion) at `now`.
    pub fn export_ran(&mut self, now: DateTime<Utc>) {
        if let Some(j) = &mut self.export {
            j.ran(now);
        }
    }

    /// Records a retention run that ran (to completion) at `now`.
    pub fn retention_ran(&mut self, now: DateTime<Utc>) {
        if let Some(j) = &mut self.retention {
            j.ran(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2022, 8, 10, 5, 30, 0).unwrap()
    }

    #[test]
    fn retention_is_due_at_start_up_and_the_export_one_interval_plus_a_small_offset_later() {
        for seed in 0..200 {
            let s = Schedule::new(288, 10, start(), &mut StdRng::seed_from_u64(seed));
            assert_eq!(
                s.due(start()),
                Due {
                    export: false,
                    retention: true
                }
            );
            let first = s.next_export().unwrap();
            assert!(first >= start() + TimeDelta::minutes(288));
            assert!(first <= start() + TimeDelta::minutes(288) + TimeDelta::seconds(30));
            assert!(!s.due(first - TimeDelta::milliseconds(1)).export);
            assert!(s.due(first).export);
        }
        // A short interval: the offset is at most a tenth of it.
        for seed in 0..200 {
            let s = Schedule::new(1, 10, start(), &mut StdRng::seed_from_u64(seed));
            let first = s.next_export().unwrap();
            assert!(first >= start() + TimeDelta::seconds(60));
            assert!(first <= start() + TimeDelta::seconds(66), "{first}");
        }
    }

    #[test]
    fn offsets_differ_between_replicas() {
        let firsts: std::collections::BTreeSet<_> = (0..20)
            .map(|seed| {
                Schedule::new(288, 10, start(), &mut StdRng::seed_from_u64(seed))
                    .next_export()
                    .unwrap()
            })
            .collect();
        assert!(firsts.len() > 10, "{firsts:?}");
    }

    #[test]
    fn an_interval_of_zero_schedules_nothing() {
        let s = Schedule::new(0, 0, start(), &mut StdRng::seed_from_u64(1));
        assert!(!s.is_on());
        assert_eq!(s.due(start() + TimeDelta::days(1000)), Due::default());
        assert_eq!(s.next_due(), None);
    }

    #[test]
    fn a_job_that_ran_is_next_due_one_period_later_in_its_phase() {
        let mut s = Schedule::new(60, 10, start(), &mut StdRng::seed_from_u64(3));
        s.retention_ran(start());
        assert_eq!(s.next_retention(), Some(start() + TimeDelta::minutes(10)));
        // Run late (the tick came 3 s after the slot): the phase is kept.
        s.retention_ran(start() + TimeDelta::minutes(10) + TimeDelta::seconds(3));
        assert_eq!(s.next_retention(), Some(start() + TimeDelta::minutes(20)));
        let first = s.next_export().unwrap();
        s.export_ran(first);
        assert_eq!(s.next_export(), Some(first + TimeDelta::minutes(60)));
    }

    #[test]
    fn a_clock_that_jumps_by_days_runs_each_job_once() {
        let mut s = Schedule::new(288, 10, start(), &mut StdRng::seed_from_u64(4));
        let first = s.next_export().unwrap();
        let later = start() + TimeDelta::days(15);
        assert_eq!(
            s.due(later),
            Due {
                export: true,
                retention: true
            }
        );
        s.export_ran(later);
        s.retention_ran(later);
        assert_eq!(s.due(later), Due::default());
        let next = s.next_export().unwrap();
        assert!(next > later && next <= later + TimeDelta::minutes(288));
        assert_eq!(
            (next - first).num_milliseconds() % TimeDelta::minutes(288).num_milliseconds(),
            0
        );
        assert!(s.next_retention().unwrap() <= later + TimeDelta::minutes(10));
    }

    #[test]
    fn a_job_not_recorded_as_run_stays_due() {
        let s = Schedule::new(288, 10, start(), &mut StdRng::seed_from_u64(5));
        // A failed retention run is not recorded: still due a second later.
        assert!(s.due(start() + TimeDelta::seconds(1)).retention);
        assert_eq!(s.next_due(), Some(start()));
    }
}
