//! One conformance suite for every `Store`: run against SQLite and against a real PostgreSQL
//! (`COCOA_TEST_DATABASE_URL`; required under CI).

mod common;

use chrono::{TimeZone, Utc};
use cocoa_server::registration::{Accepted, NewKey, NumberDates, Rejection};
use cocoa_server::store::{Claim, NewNumber, RegisterOutcome, StoreError, SurveyWriter};
use cocoa_server::survey::{AgeGroup, Commute, SurveyDayFlag, SurveyResponse};
use common::Backend;
use gaen::{DaysSinceOnset, IntervalNumber, ReportType, RollingPeriod, Tek};

const NOW: i64 = 1_660_000_000;

fn number(tag: u8, expires_at: i64) -> NewNumber {
    NewNumber {
        tag: vec![tag; 32],
        created_at: NOW - 60,
        expires_at,
        dates: NumberDates {
            symptom_onset_day: Some(19_200),
            test_day: None,
        },
    }
}

fn claim(tag: u8, request: u8, idempotency: Option<u8>) -> Claim {
    Claim {
        tag: vec![tag; 32],
        now: NOW,
        request_hash: vec![request; 32],
        idempotency_hash: idempotency.map(|i| vec![i; 32]),
    }
}

fn key(i: u8) -> NewKey {
    NewKey {
        region: "440".into(),
        key: Tek::from_bytes([i; 16]),
        rolling_start: IntervalNumber::new(2_764_224 + u32::from(i) * 144),
        rolling_period: RollingPeriod::FULL_DAY,
        report_type: ReportType::ConfirmedTest,
        days_since_onset: DaysSinceOnset::new(i32::from(i % 10) - 3).unwrap(),
        release_at: NOW - NOW % 3600,
    }
}

fn accepted(keys: Vec<NewKey>) -> Accepted {
    Accepted {
        keys,
        accepted_wire_keys: vec![],
        warnings: vec![],
        symptomatic: false,
    }
}

#[tokio::test]
async fn secrets_first_writer_wins() {
    for b in Backend::all().await {
        let first = b.store.secret("k", b"first").await.unwrap();
        let second = b.store.secret("k", b"second").await.unwrap();
        assert_eq!(first, b"first", "{}", b.name);
        assert_eq!(second, b"first", "{}", b.name);
        assert_eq!(b.store.secret("other", b"x").await.unwrap(), b"x");
    }
}

#[tokio::test]
async fn numbers_insert_all_or_none() {
    for b in Backend::all().await {
        b.store
            .insert_numbers(&[number(1, NOW + 3600), number(2, NOW + 3600)])
            .await
            .unwrap();
        let err = b
            .store
            .insert_numbers(&[number(3, NOW + 3600), number(1, NOW + 3600)])
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::DuplicateNumber),
            "{}: {err}",
            b.name
        );
        assert_eq!(b.store.count_numbers().await.unwrap(), 2, "{}", b.name);
        b.store.health().await.unwrap();
    }
}

#[tokio::test]
async fn register_claims_once_and_stores_keys_with_the_numbers_dates() {
    for b in Backend::all().await {
        b.store
            .insert_numbers(&[number(1, NOW + 3600)])
            .await
            .unwrap();
        let seen = std::sync::Mutex::new(None);
        let accept = |dates: NumberDates| {
            *seen.lock().unwrap() = Some(dates);
            Ok(accepted(vec![key(1), key(2)]))
        };
        let outcome = b
            .store
            .register(&claim(1, 7, Some(9)), &accept)
            .await
            .unwrap();
        assert!(
            matches!(outcome, RegisterOutcome::Registered(_)),
            "{}: {outcome:?}",
            b.name
        );
        assert_eq!(
            seen.lock().unwrap().unwrap().symptom_onset_day,
            Some(19_200)
        );
        let stored = b.store.all_keys().await.unwrap();
        assert_eq!(
            stored.iter().map(|k| k.key.clone()).collect::<Vec<_>>(),
            vec![key(1), key(2)],
            "{}",
            b.name
        );

        // Retries: the same keys, with the same idempotency key, none, or a fresh one.
        for retry in [
            claim(1, 7, Some(9)),
            claim(1, 7, None),
            claim(1, 7, Some(10)),
        ] {
            let outcome = b.store.register(&retry, &accept).await.unwrap();
            assert!(
                matches!(outcome, RegisterOutcome::Replayed(d) if d.symptom_onset_day == Some(19_200)),
                "{}: {outcome:?}",
                b.name
            );
        }
        // A different registration with the used number, even under the same idempotency key:
        // its keys were never stored, so it must not be told they were.
        for other in [claim(1, 8, Some(10)), claim(1, 8, Some(9))] {
            let outcome = b.store.register(&other, &accept).await.unwrap();
            assert!(
                matches!(outcome, RegisterOutcome::Used),
                "{}: {outcome:?}",
                b.name
            );
        }
        assert_eq!(
            b.store.all_keys().await.unwrap().len(),
            2,
            "{}: nothing stored twice",
            b.name
        );
    }
}

#[tokio::test]
async fn invalid_and_expired_numbers_are_told_apart() {
    for b in Backend::all().await {
        b.store
            .insert_numbers(&[number(1, NOW), number(2, NOW + 1)])
            .await
            .unwrap();
        let accept = |_: NumberDates| Ok(accepted(vec![key(1)]));
        assert!(matches!(
            b.store.register(&claim(9, 1, None), &accept).await.unwrap(),
            RegisterOutcome::Invalid
        ));
        // Expiry is exclusive: a number expiring at NOW no longer works at NOW.
        assert!(matches!(
            b.store.register(&claim(1, 1, None), &accept).await.unwrap(),
            RegisterOutcome::Expired
        ));
        assert!(matches!(
            b.store.register(&claim(2, 1, None), &accept).await.unwrap(),
            RegisterOutcome::Registered(_)
        ));
    }
}

#[tokio::test]
async fn a_refusal_or_a_failure_leaves_the_number_unclaimed() {
    for b in Backend::all().await {
        b.store
            .insert_numbers(&[number(1, NOW + 3600)])
            .await
            .unwrap();
        let refuse = |_: NumberDates| {
            Err(Rejection {
                code: "no_keys_in_infectious_window",
                message: "none".into(),
            })
        };
        let outcome = b.store.register(&claim(1, 1, None), &refuse).await.unwrap();
        assert!(matches!(outcome, RegisterOutcome::Refused(_)), "{}", b.name);

        b.break_key_inserts().await;
        let accept = |_: NumberDates| Ok(accepted(vec![key(1)]));
        let err = b
            .store
            .register(&claim(1, 2, None), &accept)
            .await
            .unwrap_err();
        // A statement the database refuses (here a trigger) is not "unavailable": retrying
        // would meet the same refusal.
        assert!(
            matches!(err, StoreError::Internal(_)) && !err.is_unavailable(),
            "{}: {err}",
            b.name
        );
        assert!(b.store.all_keys().await.unwrap().is_empty());
        b.repair_key_inserts().await;

        // Still unclaimed: a different registration may use it now.
        let outcome = b.store.register(&claim(1, 3, None), &accept).await.unwrap();
        assert!(
            matches!(outcome, RegisterOutcome::Registered(_)),
            "{}: {outcome:?}",
            b.name
        );
        assert_eq!(b.store.all_keys().await.unwrap().len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_of_one_number_have_one_winner() {
    for b in Backend::all().await {
        b.store
            .insert_numbers(&[number(1, NOW + 3600)])
            .await
            .unwrap();
        let tasks: Vec<_> = (0..24u8)
            .map(|i| {
                let store = b.store.clone();
                tokio::spawn(async move {
                    let accept = move |_: NumberDates| Ok(accepted(vec![key(i)]));
                    store
                        .register(&claim(1, i, Some(i)), &accept)
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut registered = 0;
        let mut used = 0;
        for t in tasks {
            match t.await.unwrap() {
                RegisterOutcome::Registered(_) => registered += 1,
                RegisterOutcome::Used => used += 1,
                other => panic!("{}: unexpected {other:?}", b.name),
            }
        }
        assert_eq!((registered, used), (1, 23), "{}", b.name);
        assert_eq!(b.store.all_keys().await.unwrap().len(), 1, "{}", b.name);
    }
}

/// Makes every write of the registration counts fail inside the database.
async fn break_registration_stats(b: &Backend) {
    if b.name == "sqlite" {
        b.execute(&[
            "CREATE TRIGGER injected_stats_failure BEFORE INSERT ON registration_stats \
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
        ])
        .await;
    } else {
        b.execute(&[
            "CREATE FUNCTION injected_stats_failure() RETURNS trigger AS $$ \
             BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER injected_stats_failure BEFORE INSERT ON registration_stats \
             FOR EACH ROW EXECUTE FUNCTION injected_stats_failure()",
        ])
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn registration_counts_are_written_with_the_keys_or_not_at_all() {
    let day = NOW.div_euclid(86_400);
    for b in Backend::all().await {
        let tags: Vec<u8> = (1..=30).collect();
        let numbers: Vec<NewNumber> = tags.iter().map(|&t| number(t, NOW + 3600)).collect();
        b.store.insert_numbers(&numbers).await.unwrap();

        // A failing count fails the registration: nothing stored, the number still unclaimed.
        break_registration_stats(&b).await;
        let accept = |_: NumberDates| Ok(accepted(vec![key(1), key(2)]));
        let err = b
            .store
            .register(&claim(1, 1, None), &accept)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Internal(_)), "{}: {err}", b.name);
        assert!(b.store.all_keys().await.unwrap().is_empty(), "{}", b.name);
        assert!(b.store.registration_stats().await.unwrap().is_empty());
        b.execute(&[if b.name == "sqlite" {
            "DROP TRIGGER injected_stats_failure"
        } else {
            "DROP TRIGGER injected_stats_failure ON registration_stats"
        }])
        .await;

        // Concurrent registrations of one day and region: every one counted, exactly once. Odd
        // tags are symptomatic, and each stores as many keys as its tag's last digit, plus one.
        let tasks: Vec<_> = tags
            .iter()
            .map(|&t| {
                let store = b.store.clone();
                tokio::spawn(async move {
                    let accept = move |_: NumberDates| {
                        Ok(Accepted {
                            symptomatic: t % 2 == 1,
                            ..accepted((0..=t % 10).map(|i| key(t * 8 + i)).collect())
                        })
                    };
                    store.register(&claim(t, t, None), &accept).await.unwrap()
                })
            })
            .collect();
        for t in tasks {
            let outcome = t.await.unwrap();
            assert!(
                matches!(outcome, RegisterOutcome::Registered(_)),
                "{}: {outcome:?}",
                b.name
            );
        }
        // A replay and a refusal count nothing.
        assert!(matches!(
            b.store.register(&claim(1, 1, None), &accept).await.unwrap(),
            RegisterOutcome::Replayed(_)
        ));
        let keys: u64 = tags.iter().map(|t| u64::from(t % 10) + 1).sum();
        let expected = vec![cocoa_server::store::RegistrationDay {
            day,
            region: "440".into(),
            registrations: 30,
            keys,
            symptomatic_registrations: 15,
        }];
        assert_eq!(
            b.store.registration_stats().await.unwrap(),
            expected,
            "{}",
            b.name
        );
        assert_eq!(b.store.all_keys().await.unwrap().len() as u64, keys);
        assert_eq!(b.store.delete_registration_stats().await.unwrap(), 1);
        assert!(b.store.registration_stats().await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn purge_removes_used_and_expired_numbers_after_the_cutoff() {
    for b in Backend::all().await {
        b.store
            .insert_numbers(&[
                number(1, NOW + 10),
                number(2, NOW + 3600),
                number(3, NOW + 7200),
            ])
            .await
            .unwrap();
        let accept = |_: NumberDates| Ok(accepted(vec![key(1)]));
        // Number 2 is used at NOW.
        assert!(matches!(
            b.store.register(&claim(2, 1, None), &accept).await.unwrap(),
            RegisterOutcome::Registered(_)
        ));
        // Cutoff NOW + 20: number 1 expired before it, number 2 was used before it; 3 is live.
        assert_eq!(
            b.store.purge_numbers(NOW + 20).await.unwrap(),
            2,
            "{}",
            b.name
        );
        assert_eq!(b.store.count_numbers().await.unwrap(), 1);
        // Keys are not touched by purging numbers.
        assert_eq!(b.store.all_keys().await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn stored_keys_read_back_exactly() {
    for b in Backend::all().await {
        b.store
            .insert_numbers(&[number(1, NOW + 3600)])
            .await
            .unwrap();
        let mut k = key(5);
        k.rolling_period = RollingPeriod::new(1).unwrap();
        k.report_type = ReportType::SelfReport;
        k.days_since_onset = DaysSinceOnset::new(-14).unwrap();
        k.release_at = Utc
            .with_ymd_and_hms(2030, 1, 1, 0, 0, 0)
            .unwrap()
            .timestamp();
        let accept = |_: NumberDates| Ok(accepted(vec![k.clone(), key(6)]));
        b.store.register(&claim(1, 1, None), &accept).await.unwrap();
        let back: Vec<NewKey> = b
            .store
            .all_keys()
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.key)
            .collect();
        assert_eq!(back, vec![k.clone(), key(6)], "{}", b.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_planners_never_put_a_key_in_two_files() {
    use cocoa_server::store::{NewExportFile, StoredKey};
    for b in Backend::all().await {
        // 300 keys of one day, released.
        for n in 0..10u8 {
            b.store
                .insert_numbers(&[number(n, NOW + 3600)])
                .await
                .unwrap();
            let keys: Vec<NewKey> = (0..30u8)
                .map(|i| NewKey {
                    key: Tek::from_bytes([n, i, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
                    ..key(1)
                })
                .collect();
            let accept = move |_: NumberDates| Ok(accepted(keys.clone()));
            b.store.register(&claim(n, n, None), &accept).await.unwrap();
        }
        let day = i64::from(key(1).rolling_start.get()) / 144;
        let groups = b.store.pending_groups(NOW).await.unwrap();
        assert_eq!(groups.len(), 1);
        assert_eq!((groups[0].key_day, groups[0].keys), (day, 300));
        // Eight planners race for the group, 50 keys at most each, without any lease.
        let planners: Vec<_> = (0..8i64)
            .map(|i| {
                let store = b.store.clone();
                tokio::spawn(async move {
                    let file = NewExportFile {
                        region: "440".into(),
                        key_day: day,
                        start_timestamp: NOW - 10,
                        end_timestamp: NOW + i,
                        shuffle_seed: i,
                    };
                    let pad = |real: &[StoredKey]| vec![0u8; real.len()];
                    store.plan_file(&file, NOW, 50, &pad).await.unwrap()
                })
            })
            .collect();
        let mut seen = std::collections::HashSet::new();
        let mut planned = 0;
        for p in planners {
            if let Some((row, keys)) = p.await.unwrap() {
                assert!(keys.len() <= 50);
                assert_eq!(row.real_keys as usize, keys.len());
                assert_eq!(
                    row.padding.len(),
                    keys.len(),
                    "padding computed from the file's own keys"
                );
                assert_eq!(b.store.file_keys(row.id).await.unwrap(), keys, "{}", b.name);
                for k in keys {
                    assert!(seen.insert(k.id), "{}: key {} in two files", b.name, k.id);
                }
                planned += 1;
            }
        }
        // Under PostgreSQL a planner may lose every key it chose to a faster one and plan
        // nothing; what matters is that no key is in two files and none is lost.
        assert!(planned >= 1, "{}", b.name);
        // Whatever is left is still pending, and nothing else.
        let left: i64 = b
            .store
            .pending_groups(NOW)
            .await
            .unwrap()
            .iter()
            .map(|g| g.keys)
            .sum();
        assert_eq!(seen.len() as i64 + left, 300, "{}", b.name);
        // Keys released later are not taken early.
        assert!(b.store.pending_groups(NOW - 7200).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn leases_exclude_other_holders_until_they_expire() {
    for b in Backend::all().await {
        assert!(b.store.try_lease("export", "a", NOW, 60).await.unwrap());
        assert!(
            !b.store
                .try_lease("export", "b", NOW + 30, 60)
                .await
                .unwrap(),
            "{}",
            b.name
        );
        assert!(
            b.store
                .try_lease("export", "a", NOW + 30, 60)
                .await
                .unwrap(),
            "renewal"
        );
        assert!(!b
            .store
            .try_lease("export", "b", NOW + 89, 60)
            .await
            .unwrap());
        assert!(
            b.store
                .try_lease("export", "b", NOW + 90, 60)
                .await
                .unwrap(),
            "expired: taken over"
        );
        b.store.release_lease("export", "a").await.unwrap(); // not a's any more: no effect
        assert!(!b
            .store
            .try_lease("export", "a", NOW + 91, 60)
            .await
            .unwrap());
        b.store.release_lease("export", "b").await.unwrap();
        assert!(b
            .store
            .try_lease("export", "a", NOW + 91, 60)
            .await
            .unwrap());
    }
}

#[tokio::test]
async fn retention_deletes_old_files_and_keys() {
    use cocoa_server::store::{NewExportFile, StoredKey};
    for b in Backend::all().await {
        b.store
            .insert_numbers(&[number(1, NOW + 3600)])
            .await
            .unwrap();
        let accept = |_: NumberDates| Ok(accepted(vec![key(1), key(2)]));
        b.store.register(&claim(1, 1, None), &accept).await.unwrap();
        let pad = |_: &[StoredKey]| Vec::new();
        for (day, end) in [
            (i64::from(key(1).rolling_start.get()) / 144, NOW - 100),
            (i64::from(key(2).rolling_start.get()) / 144, NOW + 100),
        ] {
            let file = NewExportFile {
                region: "440".into(),
                key_day: day,
                start_timestamp: end - 10,
                end_timestamp: end,
                shuffle_seed: 0,
            };
            b.store
                .plan_file(&file, NOW, 10, &pad)
                .await
                .unwrap()
                .unwrap();
        }
        let deleted = b.store.delete_files_ended_before(NOW).await.unwrap();
        assert_eq!(deleted.len(), 1, "{}", b.name);
        assert_eq!(deleted[0].end_timestamp, NOW - 100);
        assert_eq!(b.store.files(None).await.unwrap().len(), 1);
        // key(1) ends at its start + 144 intervals.
        let end_of_first = i64::from(key(1).rolling_start.get()) + 144;
        assert_eq!(
            b.store
                .delete_keys_ended_before(end_of_first)
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            b.store
                .delete_keys_ended_before(end_of_first + 1)
                .await
                .unwrap(),
            1
        );
        assert_eq!(b.store.all_keys().await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn imported_keys_read_back_and_wait_for_export() {
    for b in Backend::all().await {
        let keys: Vec<NewKey> = (0..9000u32)
            .map(|i| {
                let mut bytes = [0u8; 16];
                bytes[..4].copy_from_slice(&i.to_le_bytes());
                NewKey {
                    key: Tek::from_bytes(bytes),
                    ..key(1)
                }
            })
            .collect();
        b.store.import_keys(&keys).await.unwrap();
        let back: Vec<NewKey> = b
            .store
            .all_keys()
            .await
            .unwrap()
            .into_iter()
            .map(|k| k.key)
            .collect();
        assert_eq!(back, keys, "{}", b.name);
        let groups = b.store.pending_groups(NOW).await.unwrap();
        assert_eq!(groups.iter().map(|g| g.keys).sum::<i64>(), 9000);
    }
}

fn answer(i: u32, q1: Option<u8>, days: Option<Vec<(i64, bool)>>) -> SurveyResponse {
    SurveyResponse {
        id_hash: format!("{i:064x}"),
        received_day: 19_316,
        age_group: q1.map(|q| AgeGroup::new(q).unwrap()),
        commute: Commute::new(2),
        start_day: Some(18_500),
        days: days.map(|d| {
            d.into_iter()
                .map(|(day, exposure_detected)| SurveyDayFlag {
                    day,
                    exposure_detected,
                })
                .collect()
        }),
    }
}

#[tokio::test]
async fn survey_answers_are_stored_once_and_read_back_exactly() {
    for b in Backend::all().await {
        let first = vec![
            answer(3, Some(5), Some(vec![(19_089, false), (19_090, true)])),
            answer(1, None, None),
            SurveyResponse {
                commute: None,
                start_day: None,
                ..answer(2, Some(9), Some(vec![]))
            },
        ];
        assert_eq!(
            b.store.insert_survey_responses(&first).await.unwrap(),
            3,
            "{}",
            b.name
        );
        // A retry with one new answer, which is also repeated within the batch.
        let second = vec![
            first[0].clone(),
            answer(4, Some(1), None),
            answer(4, Some(1), None),
        ];
        assert_eq!(b.store.insert_survey_responses(&second).await.unwrap(), 1);
        assert_eq!(b.store.insert_survey_responses(&[]).await.unwrap(), 0);
        assert_eq!(b.store.count_survey_responses().await.unwrap(), 4);
        let mut expected = vec![first[1].clone(), first[2].clone(), first[0].clone()];
        expected.push(second[1].clone());
        assert_eq!(
            b.store.all_survey_responses().await.unwrap(),
            expected,
            "{}",
            b.name
        );
        assert_eq!(b.store.delete_survey_responses().await.unwrap(), 4);
        assert_eq!(b.store.count_survey_responses().await.unwrap(), 0);
        assert_eq!(b.store.delete_survey_responses().await.unwrap(), 0);
    }
}

#[tokio::test]
async fn many_survey_answers_in_one_batch_span_statements() {
    for b in Backend::all().await {
        let batch: Vec<SurveyResponse> = (0..1234)
            .map(|i| {
                answer(
                    i,
                    Some(1 + (i % 9) as u8),
                    Some(vec![(19_100 + i64::from(i), i % 2 == 0)]),
                )
            })
            .collect();
        assert_eq!(
            b.store.insert_survey_responses(&batch).await.unwrap(),
            1234,
            "{}",
            b.name
        );
        assert_eq!(
            b.store.all_survey_responses().await.unwrap(),
            batch,
            "{}",
            b.name
        );
    }
}

#[tokio::test]
async fn survey_answers_stream_once_each_from_one_snapshot() {
    use futures::StreamExt;
    for b in Backend::all().await {
        // Even ids now, odd ids inserted while the stream runs: sorted by id, the late ones
        // fall between rows not yet read, so a stream that saw them would return some.
        let before: Vec<SurveyResponse> = (0..3000)
            .map(|i| {
                answer(
                    2 * i,
                    Some(1 + (i % 9) as u8),
                    Some(vec![(19_100, i % 2 == 0)]),
                )
            })
            .collect();
        b.store.insert_survey_responses(&before).await.unwrap();
        let during: Vec<SurveyResponse> = (0..700).map(|i| answer(2 * i + 1, None, None)).collect();

        let mut stream = b.store.survey_responses_stream();
        let mut seen = vec![stream.next().await.unwrap().unwrap()];
        assert_eq!(
            b.store.insert_survey_responses(&during).await.unwrap(),
            700,
            "{}",
            b.name
        );
        while let Some(answer) = stream.next().await {
            seen.push(answer.unwrap());
        }
        drop(stream);

        let late = seen.iter().filter(|a| a.age_group.is_none()).count();
        assert!(
            late == 0 || late == during.len(),
            "{}: {late} of the concurrent batch",
            b.name
        );
        let mut expected = before.clone();
        if late > 0 {
            expected.extend(during.iter().cloned());
            expected.sort_by(|a, b| a.id_hash.cmp(&b.id_hash));
        }
        // Each answer exactly once, in id order, read back exactly.
        assert_eq!(seen.len(), expected.len(), "{}", b.name);
        assert!(seen == expected, "{}: the stream differs", b.name);
        // The next stream sees the batch.
        let next: Vec<_> = b.store.survey_responses_stream().collect().await;
        assert_eq!(next.len(), 3700, "{}", b.name);
        // A stream dropped half-way leaves the store usable.
        let mut partial = b.store.survey_responses_stream();
        partial.next().await.unwrap().unwrap();
        drop(partial);
        assert_eq!(
            b.store.delete_survey_responses().await.unwrap(),
            3700,
            "{}",
            b.name
        );
        assert!(b.store.survey_responses_stream().next().await.is_none());
    }
}

/// Every answer `for_each_survey_response` passes, copied out of its reused buffer, by id.
async fn scanned(b: &Backend) -> Vec<SurveyResponse> {
    let mut seen = Vec::new();
    let read = b
        .store
        .for_each_survey_response(&mut |a| seen.push(a.clone()))
        .await
        .unwrap();
    assert_eq!(read, seen.len() as u64, "{}", b.name);
    seen.sort_by(|a, b| a.id_hash.cmp(&b.id_hash));
    seen
}

#[tokio::test]
async fn the_analysis_scan_reads_every_answer_exactly_and_the_last_day_of_receipt() {
    for b in Backend::all().await {
        assert_eq!(b.store.last_survey_received_day().await.unwrap(), None);
        assert!(scanned(&b).await.is_empty(), "{}", b.name);

        // Every shape a row takes, in an order unlike the ids': daily data after none (the
        // reused buffer must not leak days into an answer without), empty daily data, every
        // field absent, large and small numbers.
        let answers: Vec<SurveyResponse> = (0..500u32)
            .rev()
            .map(|i| {
                let days = match i % 4 {
                    0 => None,
                    1 => Some(vec![]),
                    _ => Some(
                        (0..i64::from(i % 7) + 1)
                            .map(|d| (19_089 + i64::from(i) + d, (i + d as u32).is_multiple_of(3)))
                            .collect(),
                    ),
                };
                SurveyResponse {
                    received_day: 19_300 + i64::from(i % 37),
                    commute: Commute::new((i % 4) as u8),
                    start_day: match i % 3 {
                        0 => None,
                        1 => Some(18_432 + i64::from(i)),
                        _ => Some(0),
                    },
                    ..answer(i, AgeGroup::new((i % 10) as u8).map(AgeGroup::get), days)
                }
            })
            .collect();
        assert_eq!(
            b.store.insert_survey_responses(&answers).await.unwrap(),
            500
        );
        assert_eq!(
            scanned(&b).await,
            b.store.all_survey_responses().await.unwrap(),
            "{}",
            b.name
        );
        assert_eq!(
            b.store.last_survey_received_day().await.unwrap(),
            Some(19_336),
            "{}",
            b.name
        );
        b.store
            .insert_survey_responses(&[SurveyResponse {
                received_day: 19_400,
                ..answer(9_999, None, None)
            }])
            .await
            .unwrap();
        assert_eq!(
            b.store.last_survey_received_day().await.unwrap(),
            Some(19_400),
            "{}",
            b.name
        );
        assert_eq!(scanned(&b).await.len(), 501, "{}", b.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_analysis_scan_reads_one_snapshot() {
    for b in Backend::all().await {
        let before: Vec<SurveyResponse> = (0..20_000)
            .map(|i| {
                answer(
                    2 * i,
                    Some(1 + (i % 9) as u8),
                    Some(vec![(19_100, i % 2 == 0)]),
                )
            })
            .collect();
        b.store.insert_survey_responses(&before).await.unwrap();
        let during: Vec<SurveyResponse> = (0..700).map(|i| answer(2 * i + 1, None, None)).collect();

        // The scan runs in a task of its own; once it has passed its first answer, a batch is
        // stored while it goes on.
        let started = std::sync::Arc::new(tokio::sync::Notify::new());
        let scan = tokio::spawn({
            let (store, started) = (b.store.clone(), started.clone());
            async move {
                let mut seen = Vec::new();
                let read = store
                    .for_each_survey_response(&mut |a| {
                        if seen.is_empty() {
                            started.notify_one();
                        }
                        seen.push(a.clone());
                    })
                    .await
                    .unwrap();
                (read, seen)
            }
        });
        started.notified().await;
        assert_eq!(
            b.store.insert_survey_responses(&during).await.unwrap(),
            700,
            "{}",
            b.name
        );
        let (read, mut seen) = scan.await.unwrap();
        assert_eq!(read, seen.len() as u64);
        let late = seen.iter().filter(|a| a.age_group.is_none()).count();
        assert!(
            late == 0 || late == during.len(),
            "{}: {late} of the concurrent batch",
            b.name
        );
        let mut expected = before.clone();
        if late > 0 {
            expected.extend(during.iter().cloned());
        }
        expected.sort_by(|a, b| a.id_hash.cmp(&b.id_hash));
        seen.sort_by(|a, b| a.id_hash.cmp(&b.id_hash));
        assert!(seen == expected, "{}: the scan differs", b.name);
        assert_eq!(scanned(&b).await.len(), 20_700, "{}", b.name);
    }
}

#[tokio::test]
async fn a_failing_survey_batch_stores_nothing_and_the_schema_refuses_what_the_rules_refuse() {
    use sqlx::Connection;
    for b in Backend::all().await {
        b.break_survey_inserts_of_age_group_9().await;
        let err = b
            .store
            .insert_survey_responses(&[answer(1, Some(1), None), answer(2, Some(9), None)])
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Internal(_)), "{}: {err}", b.name);
        assert_eq!(
            b.store.count_survey_responses().await.unwrap(),
            0,
            "{}",
            b.name
        );

        b.store
            .insert_survey_responses(&[answer(1, Some(1), None)])
            .await
            .unwrap();
        let bad_days = if b.name == "sqlite" {
            "UPDATE survey_responses SET days = X'010203'"
        } else {
            "UPDATE survey_responses SET days = decode('010203', 'hex')"
        };
        for broken in [
            "UPDATE survey_responses SET q1 = 0",
            "UPDATE survey_responses SET q1 = 10",
            "UPDATE survey_responses SET q2 = 4",
            "UPDATE survey_responses SET id_hash = 'abc'",
            bad_days,
        ] {
            let refused = if b.name == "sqlite" {
                let mut c = sqlx::SqliteConnection::connect(&b.url).await.unwrap();
                sqlx::query(broken).execute(&mut c).await.is_err()
            } else {
                let mut c = sqlx::PgConnection::connect(&b.url).await.unwrap();
                sqlx::query(broken).execute(&mut c).await.is_err()
            };
            assert!(refused, "{}: {broken}", b.name);
        }
        assert_eq!(
            b.store.all_survey_responses().await.unwrap(),
            [answer(1, Some(1), None)],
            "{}",
            b.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_survey_writer_commits_concurrent_submissions_and_isolates_a_bad_one() {
    for b in Backend::all().await {
        let writer = SurveyWriter::start(b.store.clone());
        let tasks: Vec<_> = (0..300u32)
            .map(|i| {
                let writer = writer.clone();
                // Every tenth submission repeats the one before it: a retry.
                let id = if i % 10 == 9 { i - 1 } else { i };
                tokio::spawn(async move { writer.store(vec![answer(id, Some(1), None)]).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(
            b.store.count_survey_responses().await.unwrap(),
            270,
            "{}",
            b.name
        );
        writer.store(Vec::new()).await.unwrap();

        b.break_survey_inserts_of_age_group_9().await;
        let tasks: Vec<_> = (1000..1100u32)
            .map(|i| {
                let writer = writer.clone();
                let q1 = if i == 1050 { 9 } else { 2 };
                tokio::spawn(
                    async move { (i, writer.store(vec![answer(i, Some(q1), None)]).await) },
                )
            })
            .collect();
        for t in tasks {
            let (i, result) = t.await.unwrap();
            assert_eq!(result.is_err(), i == 1050, "{}: submission {i}", b.name);
        }
        assert_eq!(
            b.store.count_survey_responses().await.unwrap(),
            369,
            "{}",
            b.name
        );
    }
}
