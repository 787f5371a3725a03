//! The survey's statements, once for SQLite and once for PostgreSQL (one macro, as in
//! `sql.rs`), and the compact form of the daily data (see `migrations/*/0003_survey.sql`).

use super::sql::{PostgresStore, SqliteStore};
use super::{StoreError, SurveyStore};
use crate::survey::{AgeGroup, Commute, SurveyDayFlag, SurveyResponse};
use async_trait::async_trait;
use cocoa_api::survey_domain;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};

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

macro_rules! survey_store {
    ($store:ty, $db:ty) => {
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

            async fn delete_survey_responses(&self) -> Result<u64, StoreError> {
                let done = sqlx::query("DELETE FROM survey_responses").execute(&self.write).await?;
                Ok(done.rows_affected())
            }
        }
    };
}

survey_store!(SqliteStore, sqlx::Sqlite);
survey_store!(PostgresStore, sqlx::Postgres);

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
}
