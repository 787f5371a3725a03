//! `GET /api/v1/stats/registrations` (public): new positive registrations per UTC day and
//! region, from the aggregate `register` keeps (`Store::registration_stats`), published with
//! the protections peers' statistics APIs use:
//! - an embargo: a day is published once it ended at least [`EMBARGO_HOURS`] before
//!   `clock.now()`, so the counts of the last two days (which would tell when someone
//!   registered, almost as it happens) are never shown;
//! - small days withheld: a day and region with fewer than [`MIN_PUBLISHED_REGISTRATIONS`]
//!   registrations is listed with `suppressed: true` and its three counts `null` (listed, not
//!   omitted, so that "withheld" and "none" stay apart: a day and region absent from the list
//!   had no registration at all). Only the registrations decide; the keys and symptomatic
//!   counts of a published day are shown whatever their size.

use super::{ApiError, AppState};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use cocoa_api::stats::{RegistrationDay, RegistrationStats, RegistrationStatsDay};
use std::sync::Arc;

/// How long after its end a day is published.
pub const EMBARGO_HOURS: i64 = 48;

/// The fewest registrations a day and region must have for its counts to be shown.
pub const MIN_PUBLISHED_REGISTRATIONS: u64 = 10;

/// The answer's `Cache-Control`: published days do not change (the current day is always under
/// the embargo), and a new day appears once a day.
pub const CACHE_CONTROL: &str = "public, max-age=3600";

pub async fn registrations(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let days = state
        .store
        .registration_stats()
        .await
        .map_err(ApiError::storage)?;
    let stats = published(&days, state.clock.now());
    Ok(([(header::CACHE_CONTROL, CACHE_CONTROL)], Json(stats)).into_response())
}

/// What may be published at `now` of the aggregate (in its order: by day, then region).
pub fn published(days: &[RegistrationDay], now: DateTime<Utc>) -> RegistrationStats {
    let now = now.timestamp();
    let days = days
        .iter()
        .filter(|d| {
            d.day
                .checked_add(1)
                .and_then(|next| next.checked_mul(86_400))
                .and_then(|end| end.checked_add(EMBARGO_HOURS * 3600))
                .is_some_and(|published_at| published_at <= now)
        })
        .filter_map(|d| {
            let date = DateTime::from_timestamp(d.day.checked_mul(86_400)?, 0)?.date_naive();
            let suppressed = d.registrations < MIN_PUBLISHED_REGISTRATIONS;
            let shown = |n: u64| (!suppressed).then_some(n);
            Some(RegistrationStatsDay {
                date: date.format("%Y-%m-%d").to_string(),
                region: d.region.clone(),
                suppressed,
                registrations: shown(d.registrations),
                keys: shown(d.keys),
                symptomatic: shown(d.symptomatic_registrations),
            })
        })
        .collect();
    RegistrationStats { days }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn day(day: i64, region: &str, registrations: u64) -> RegistrationDay {
        RegistrationDay {
            day,
            region: region.into(),
            registrations,
            keys: registrations * 10,
            symptomatic_registrations: registrations / 2,
        }
    }

    #[test]
    fn a_day_is_published_48_hours_after_it_ends_and_small_days_are_withheld() {
        // 2022-08-01 is day 19_205; it ends at 2022-08-02T00:00Z.
        let days = [
            day(19_205, "440", 12),
            day(19_205, "441", 9),
            day(19_206, "440", 30),
        ];
        let at = |h: u32, m: u32, s: u32| Utc.with_ymd_and_hms(2022, 8, 3, h, m, s).unwrap();
        assert_eq!(published(&days, at(23, 59, 59)).days, vec![]);
        let first = published(&days, Utc.with_ymd_and_hms(2022, 8, 4, 0, 0, 0).unwrap());
        assert_eq!(
            first.days,
            vec![
                RegistrationStatsDay {
                    date: "2022-08-01".into(),
                    region: "440".into(),
                    suppressed: false,
                    registrations: Some(12),
                    keys: Some(120),
                    symptomatic: Some(6),
                },
                RegistrationStatsDay {
                    date: "2022-08-01".into(),
                    region: "441".into(),
                    suppressed: true,
                    registrations: None,
                    keys: None,
                    symptomatic: None,
                },
            ]
        );
        let later = published(&days, Utc.with_ymd_and_hms(2022, 8, 5, 0, 0, 0).unwrap());
        assert_eq!(later.days.len(), 3);
        assert_eq!(later.days[2].date, "2022-08-02");
        assert_eq!(later.days[2].registrations, Some(30));
        // Exactly the threshold is shown.
        let ten = published(
            &[day(19_205, "440", 10)],
            at(0, 0, 0) + chrono::Days::new(1),
        );
        assert!(!ten.days[0].suppressed);
        // Days no clock reaches are never published, and never panic.
        assert_eq!(
            published(&[day(i64::MAX, "440", 99)], at(0, 0, 0)).days,
            vec![]
        );
    }
}
