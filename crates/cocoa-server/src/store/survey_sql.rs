//! The survey's statements, once for SQLite and once for PostgreSQL (one macro, as in
//! `sql.rs`), and the compact form of the daily data (see `migrations/*/0003_survey.sql`).

use super::sql::{PostgresStore, SqliteStore};
use super::{StoreError, SurveyStore};
use crate::survey::{AgeGroup, Commute, SurveyDayFlag, SurveyResponse};
use async_trait::async_trait;
use cocoa_api::survey_domain;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use sqlx::Row as _;

/// Answers per INSERT statement (6 parameters each: well under both databases' limits).
const ROWS_PER_STATEMENT: usize = 500;

/// The daily data as stored (`cocoa_api::survey_domain::encode_days`); a day that cannot be
/// stored is corrupt data.
pub(super) fn encode_days(days: &[SurveyDayFlag]) -> Result<Vec<u8>, StoreError> {
    survey_domain::encode_days(days).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(super) fn decode_days(bytes: &[u8]) -> Result<Vec<SurveyDayFlag>, StoreError> {
    survey_domain::decode_days(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

type Row = (
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<Vec<u8>>,
);

fn response_from_row(row: Row) -> Result<SurveyResponse, StoreError> {
    let (id_hash, received_day, q1, q2, start_day, days) = row;
    let corrupt = |what: &str| StoreError::Corrupt(format!("survey_responses {id_hash}: {what}"));
    let age_group = q1
        .map(|q| {
            u8::try_from(q)
                .ok()
                .and_then(AgeGroup::new)
                .ok_or_else(|| corrupt("q1"))
        })
        .transpose()?;
    let commute = q2
        .map(|q| {
            u8::try_from(q)
                .ok()
                .and_then(Commute::new)
                .ok_or_else(|| corrupt("q2"))
        })
        .transpose()?;
    let days = days.as_deref().map(decode_days).transpose()?;
    Ok(SurveyResponse {
        id_hash,
        received_day,
        age_group,
        commute,
        start_day,
        days,
    })
}

/// The analysis scan ([`SurveyStore::for_each_survey_response`]): every column of an answer in
/// two values per row, the same statement for both databases. A hand-written fast path: on
/// SQLite, each value sqlx hands over costs allocations on its worker thread that the reading
/// thread frees (measured: 6 columns 9.8 s, these 2 columns 5.7 s for 3,030,000 answers; see
/// BENCHMARKS.md), so the id and the four numbers travel as one text, `id received q1 q2 start`,
/// an empty field for NULL, parsed back by [`parse_scan_head`].
const SCAN: &str = "SELECT id_hash || ' ' || CAST(received_day AS TEXT) \
     || ' ' || COALESCE(CAST(q1 AS TEXT), '') || ' ' || COALESCE(CAST(q2 AS TEXT), '') \
     || ' ' || COALESCE(CAST(start_day AS TEXT), ''), days FROM survey_responses";

/// Rows of the analysis scan kept before they are dropped together, on SQLite. Another
/// hand-written fast path: sqlx copied their values on its worker thread under SQLite's global
/// memory mutex, and freeing them takes that mutex again; freed one row at a time, as the worker
/// copies the next, the two threads meet on it all the time (5.3 million futex calls in a run of
/// 3,030,000 answers), while in bursts they mostly do not (0.2 million). Measured (BENCHMARKS.md):
/// 1 row 5.8-8.0 s, 256 rows 3.8-4.3 s, 4,096 rows 3.1-3.4 s, 16,384 rows 3.4-4.7 s (the held rows,
/// about 4 MiB here, no longer fit in the caches).
const SQLITE_ROWS_HELD: usize = 4096;

/// On PostgreSQL rows are dropped at once: they share the connection's read buffer, which holding
/// them keeps from being reused (measured: 8-12 % more CPU with 4,096 held).
const POSTGRES_ROWS_HELD: usize = 1;

/// The first value of a [`SCAN`] row: `(id_hash, received_day, q1, q2, start_day)`.
type ScanHead<'a> = (&'a str, i64, Option<i64>, Option<i64>, Option<i64>);

fn parse_scan_head(text: &str) -> Result<ScanHead<'_>, StoreError> {
    // From the right: the four numbers hold no space; the id is the rest.
    let mut fields = text.rsplitn(5, ' ');
    let mut next = || fields.next();
    let (start, q2, q1, received, id) = (next(), next(), next(), next(), next());
    let corrupt = || StoreError::Corrupt(format!("survey_responses: unreadable row {text:?}"));
    let number = |field: Option<&str>| -> Result<Option<i64>, StoreError> {
        match field {
            Some("") => Ok(None),
            Some(f) => f.parse().map(Some).map_err(|_| corrupt()),
            None => Err(corrupt()),
        }
    };
    Ok((
        id.ok_or_else(corrupt)?,
        number(received)?.ok_or_else(corrupt)?,
        number(q1)?,
        number(q2)?,
        number(start)?,
    ))
}

/// Overwrites `answer` with a stored row, reusing its buffers: the id's `String` and the days'
/// `Vec` (kept in `spare` while an answer has no daily data) keep their capacity, so that a
/// scan allocates nothing per answer. The days are decoded straight from the row's bytes: the
/// format of [`decode_days`], checked the same way.
fn fill_response(
    answer: &mut SurveyResponse,
    spare: &mut Vec<SurveyDayFlag>,
    (id_hash, received_day, q1, q2, start_day): ScanHead<'_>,
    days: Option<&[u8]>,
) -> Result<(), StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("survey_responses {id_hash}: {what}"));
    answer.id_hash.clear();
    answer.id_hash.push_str(id_hash);
    answer.received_day = received_day;
    answer.age_group = match q1 {
        None => None,
        Some(q) => Some(
            u8::try_from(q)
                .ok()
                .and_then(AgeGroup::new)
                .ok_or_else(|| corrupt("q1"))?,
        ),
    };
    answer.commute = match q2 {
        None => None,
        Some(q) => Some(
            u8::try_from(q)
                .ok()
                .and_then(Commute::new)
                .ok_or_else(|| corrupt("q2"))?,
        ),
    };
    answer.start_day = start_day;
    if let Some(old) = answer.days.take() {
        *spare = old;
    }
    if let Some(bytes) = days {
        let chunks = bytes.chunks_exact(4);
        if !chunks.remainder().is_empty() {
            return Err(corrupt(&format!("survey days of {} bytes", bytes.len())));
        }
        let mut list = std::mem::take(spare);
        list.clear();
        list.extend(chunks.map(|c| {
            let value = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
            SurveyDayFlag {
                day: i64::from(value >> 1),
                exposure_detected: value & 1 == 1,
            }
        }));
        answer.days = Some(list);
    }
    Ok(())
}

macro_rules! survey_store {
    ($store:ty, $db:ty, $rows_held:expr) => {
        #[async_trait]
        impl SurveyStore for $store {
            async fn insert_survey_responses(&self, responses: &[SurveyResponse]) -> Result<u64, StoreError> {
                if responses.is_empty() {
                    return Ok(0);
                }
                let encoded = responses
                    .iter()
                    .map(|r| r.days.as_deref().map(encode_days).transpose())
                    .collect::<Result<Vec<_>, _>>()?;
                let mut tx = self.write.begin().await?;
                let mut new = 0;
                for (chunk, days) in responses.chunks(ROWS_PER_STATEMENT).zip(encoded.chunks(ROWS_PER_STATEMENT)) {
                    let mut insert = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO survey_responses (id_hash, received_day, q1, q2, start_day, days) ",
                    );
                    insert.push_values(chunk.iter().zip(days), |mut row, (r, days)| {
                        row.push_bind(r.id_hash.clone())
                            .push_bind(r.received_day)
                            .push_bind(r.age_group.map(|a| i64::from(a.get())))
                            .push_bind(r.commute.map(|c| i64::from(c.get())))
                            .push_bind(r.start_day)
                            .push_bind(days.clone());
                    });
                    insert.push(" ON CONFLICT (id_hash) DO NOTHING");
                    new += insert.build().execute(&mut *tx).await?.rows_affected();
                }
                tx.commit().await?;
                Ok(new)
            }

            async fn count_survey_responses(&self) -> Result<u64, StoreError> {
                let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM survey_responses")
                    .fetch_one(&self.read)
                    .await?;
                Ok(n as u64)
            }

            async fn all_survey_responses(&self) -> Result<Vec<SurveyResponse>, StoreError> {
                self.survey_responses_stream().try_collect().await
            }

            fn survey_responses_stream(&self) -> BoxStream<'_, Result<SurveyResponse, StoreError>> {
                sqlx::query_as::<_, Row>(
                    "SELECT id_hash, received_day, q1, q2, start_day, days FROM survey_responses ORDER BY id_hash",
                )
                .fetch(&self.read)
                .map(|row| response_from_row(row?))
                .boxed()
            }

            async fn last_survey_received_day(&self) -> Result<Option<i64>, StoreError> {
                let (last,): (Option<i64>,) =
                    sqlx::query_as("SELECT MAX(received_day) FROM survey_responses")
                        .fetch_one(&self.read)
                        .await?;
                Ok(last)
            }

            async fn for_each_survey_response(
                &self,
                f: &mut (dyn for<'a> FnMut(&'a SurveyResponse) + Send),
            ) -> Result<u64, StoreError> {
                // One statement (one snapshot), no ORDER BY: the table in its own order.
                let mut rows = sqlx::query(SCAN).fetch(&self.read);
                let mut answer = SurveyResponse {
                    id_hash: String::with_capacity(64),
                    received_day: 0,
                    age_group: None,
                    commute: None,
                    start_day: None,
                    days: None,
                };
                let mut spare = Vec::new();
                let mut read = 0u64;
                // Rows are dropped in bursts (see `SQLITE_ROWS_HELD`).
                let mut held = Vec::with_capacity($rows_held);
                while let Some(row) = rows.try_next().await? {
                    let head = parse_scan_head(row.try_get(0)?)?;
                    fill_response(&mut answer, &mut spare, head, row.try_get(1)?)?;
                    f(&answer);
                    read += 1;
                    held.push(row);
                    if held.len() == $rows_held {
                        held.clear();
                    }
                }
                Ok(read)
            }

            async fn delete_survey_responses(&self) -> Result<u64, StoreError> {
                let done = sqlx::query("DELETE FROM survey_responses").execute(&self.write).await?;
                Ok(done.rows_affected())
            }
        }
    };
}

survey_store!(SqliteStore, sqlx::Sqlite, SQLITE_ROWS_HELD);
survey_store!(PostgresStore, sqlx::Postgres, POSTGRES_ROWS_HELD);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip_and_bad_lengths_are_corrupt() {
        let days = vec![
            SurveyDayFlag {
                day: 19_089,
                exposure_detected: false,
            },
            SurveyDayFlag {
                day: 19_090,
                exposure_detected: true,
            },
        ];
        let bytes = encode_days(&days).unwrap();
        assert_eq!(bytes, [0, 0, 0x95, 0x22, 0, 0, 0x95, 0x25]);
        assert_eq!(decode_days(&bytes).unwrap(), days);
        assert!(decode_days(&bytes[..5]).is_err());
        assert!(encode_days(&[SurveyDayFlag {
            day: -1,
            exposure_detected: false
        }])
        .is_err());
    }

    #[test]
    fn scan_rows_parse_back_and_reuse_their_buffers() {
        let id = "ab".repeat(32);
        let text = format!("{id} 19316 5  -3");
        assert_eq!(
            parse_scan_head(&text).unwrap(),
            (id.as_str(), 19_316, Some(5), None, Some(-3))
        );
        let text = format!("{id} 19316   ");
        assert_eq!(
            parse_scan_head(&text).unwrap(),
            (id.as_str(), 19_316, None, None, None)
        );
        // An id is whatever precedes the four numbers, spaces included.
        assert_eq!(parse_scan_head("a b 1 2 3 4").unwrap().0, "a b");
        for bad in [
            "",
            "x 1 2 3",
            "x  1 2 3",
            "x 1.5 1 2 3",
            "x 1 one 2 3",
            "x 1 2 3 4.0",
        ] {
            assert!(
                matches!(parse_scan_head(bad), Err(StoreError::Corrupt(_))),
                "{bad:?}"
            );
        }

        let mut answer = SurveyResponse {
            id_hash: String::new(),
            received_day: 0,
            age_group: None,
            commute: None,
            start_day: None,
            days: None,
        };
        let mut spare = Vec::new();
        let days = [0, 0, 0x95, 0x22, 0, 0, 0x95, 0x25];
        fill_response(
            &mut answer,
            &mut spare,
            ("a", 1, Some(9), Some(3), Some(2)),
            Some(&days),
        )
        .unwrap();
        assert_eq!(
            answer.days.as_deref(),
            Some(&decode_days(&days).unwrap()[..])
        );
        assert_eq!(
            (
                answer.age_group.unwrap().get(),
                answer.commute.unwrap().get()
            ),
            (9, 3)
        );
        let buffer = answer.days.as_ref().unwrap().as_ptr();
        fill_response(&mut answer, &mut spare, ("b", 2, None, None, None), None).unwrap();
        assert_eq!(
            answer,
            SurveyResponse {
                id_hash: "b".into(),
                received_day: 2,
                age_group: None,
                commute: None,
                start_day: None,
                days: None,
            }
        );
        fill_response(
            &mut answer,
            &mut spare,
            ("c", 3, None, None, None),
            Some(&[]),
        )
        .unwrap();
        assert_eq!(answer.days, Some(vec![]));
        assert_eq!(
            answer.days.as_ref().unwrap().as_ptr(),
            buffer,
            "the buffer is reused"
        );
        for (head, days) in [
            (("d", 1, Some(0), None, None), None),
            (("d", 1, Some(10), None, None), None),
            (("d", 1, None, Some(4), None), None),
            (("d", 1, None, None, None), Some(&days[..5])),
        ] {
            assert!(matches!(
                fill_response(&mut answer, &mut spare, head, days),
                Err(StoreError::Corrupt(_))
            ));
        }
    }
}
