//! The end-of-use survey on the phone: consents default to off, the 15-day rule, the exact JSON
//! for each combination of answers, a failed send keeps everything (and the idempotency key),
//! and a confirmed send wipes the phone.

mod common;

use cocoa_device::{
    DailySummary, Error, MemoryStorage, Phone, PhoneSettings, Storage, SurveyAnswer,
};
use common::FakeHttp;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::json;

const SERVER: &str = "http://server.test";
const FIRST_DAY: i64 = 19_089; // 2022-04-07
const START: i64 = 19_000 * 86_400 + 3600; // use began on day 19,000 (2022-01-08)
const NOW: i64 = 19_320 * 86_400 + 7200; // 2022-11-24

fn phone() -> Phone<MemoryStorage> {
    let mut p = Phone::new(MemoryStorage::default());
    p.configure(&PhoneSettings {
        server_url: SERVER.into(),
        region: "440".into(),
        public_keys_pem: vec![],
        tx_power_dbm: -10,
    })
    .unwrap();
    p.record_start_of_use(START).unwrap();
    p.record_start_of_use(NOW).unwrap(); // only the first consent counts
    let day = |date: i64, max: f64| DailySummary {
        date,
        score_sum: max * 2.0,
        maximum_score: max,
        weighted_duration_sum: 600.0,
    };
    // Before the survey's first day, long ago (beyond 15 days), and recent.
    let days = [
        day(19_080, 2000.0),
        day(19_200, 1349.9),
        day(19_201, 1350.0),
        day(19_319, 3000.0),
    ];
    p.storage_mut().commit_check(&days, &[], &[]).unwrap();
    p
}

#[test]
fn consents_are_off_by_default() {
    let answer = SurveyAnswer::default();
    assert!(!answer.send_start_date && !answer.send_exposure_data);
    assert_eq!(answer.age_group, None);
    let content = phone().survey_content(&answer, FIRST_DAY).unwrap();
    assert_eq!(
        serde_json::to_value(content).unwrap(),
        json!({"q1": null, "q2": null, "start_date": null, "exposure_data": null})
    );
}

#[test]
fn the_exact_content_for_each_combination() {
    let p = phone();
    let days = json!({"daily_summaries": [
        {"DateMillisSinceEpoch": 19_200i64 * 86_400_000, "ExposureDetected": 0},
        {"DateMillisSinceEpoch": 19_201i64 * 86_400_000, "ExposureDetected": 1},
        {"DateMillisSinceEpoch": 19_319i64 * 86_400_000, "ExposureDetected": 1},
    ]});
    for (start, exposure, expected_start, expected_days) in [
        (false, false, json!(null), json!(null)),
        (true, false, json!(19_000i64 * 86_400), json!(null)),
        (false, true, json!(null), days.clone()),
        (true, true, json!(19_000i64 * 86_400), days.clone()),
    ] {
        for (age, commute) in [
            (Some(5), Some(3)),
            (None, Some(1)),
            (Some(9), None),
            (None, None),
        ] {
            let answer = SurveyAnswer {
                age_group: age,
                commute,
                send_start_date: start,
                send_exposure_data: exposure,
            };
            let content =
                serde_json::to_value(p.survey_content(&answer, FIRST_DAY).unwrap()).unwrap();
            assert_eq!(
                content,
                json!({"q1": age, "q2": commute, "start_date": expected_start, "exposure_data": expected_days}),
                "{answer:?}"
            );
        }
    }
    for bad in [
        SurveyAnswer {
            age_group: Some(10),
            ..Default::default()
        },
        SurveyAnswer {
            commute: Some(0),
            ..Default::default()
        },
    ] {
        assert!(matches!(
            p.survey_content(&bad, FIRST_DAY),
            Err(Error::Invalid(_))
        ));
    }
}

#[test]
fn days_older_than_15_days_appear_only_in_the_survey_and_only_with_consent() {
    let p = phone();
    let history: Vec<String> = p
        .history(NOW, false)
        .unwrap()
        .into_iter()
        .map(|d| d.date)
        .collect();
    assert_eq!(history, ["2022-11-23"], "the screen shows 15 days");
    let with = p
        .survey_content(
            &SurveyAnswer {
                send_exposure_data: true,
                ..Default::default()
            },
            FIRST_DAY,
        )
        .unwrap();
    assert_eq!(
        with.exposure_data.unwrap().daily_summaries.len(),
        3,
        "older days included, before the first day not"
    );
    let without = p
        .survey_content(&SurveyAnswer::default(), FIRST_DAY)
        .unwrap();
    assert!(without.exposure_data.is_none());
}

#[test]
fn a_failed_send_keeps_everything_and_the_retry_uses_the_same_key() {
    let mut rng = StdRng::seed_from_u64(1);
    let mut p = phone();
    let http = FakeHttp::default();
    let url = format!("{SERVER}/api/v1/event_log");
    let answer = SurveyAnswer {
        age_group: Some(4),
        commute: Some(2),
        send_start_date: true,
        send_exposure_data: true,
    };
    // A dry run sends nothing and keeps nothing.
    let dry = p.survey_dry_run(NOW, &answer, FIRST_DAY, &mut rng).unwrap();
    assert!(http.sent.borrow().is_empty());
    assert_eq!(
        dry.platform, None,
        "nothing that identifies the device is sent"
    );
    assert_eq!(dry.event_logs[0].epoch % 86_400, 0, "the day only");
    http.fail(&url);
    assert!(matches!(
        p.submit_survey(NOW, &http, &answer, FIRST_DAY, &mut rng),
        Err(Error::Network(_))
    ));
    http.answer(&url, 503, "");
    assert!(matches!(
        p.submit_survey(NOW, &http, &answer, FIRST_DAY, &mut rng),
        Err(Error::ServerUnavailable { status: 503 })
    ));
    http.answer(&url, 410, r#"{"error":"survey_closed","message":"closed"}"#);
    assert!(matches!(
        p.submit_survey(NOW, &http, &answer, FIRST_DAY, &mut rng),
        Err(Error::Refused { .. })
    ));
    assert_eq!(
        p.storage().daily_summaries().unwrap().len(),
        4,
        "nothing deleted after failures"
    );
    http.answer(&url, 201, "");
    p.submit_survey(NOW, &http, &answer, FIRST_DAY, &mut rng)
        .unwrap();
    let bodies: Vec<serde_json::Value> = http
        .sent
        .borrow()
        .iter()
        .map(|(_, b)| serde_json::from_slice(b).unwrap())
        .collect();
    assert_eq!(bodies.len(), 4, "four attempts");
    let keys: std::collections::HashSet<_> =
        bodies.iter().map(|b| b["idempotencyKey"].clone()).collect();
    assert_eq!(keys.len(), 1);
    assert!(
        bodies.iter().all(|b| b == &bodies[0]),
        "every retry sends the same request"
    );
    assert_eq!(
        bodies[3]["eventLogs"][0]["content"],
        serde_json::to_value(p_content_before()).unwrap()
    );
    // Wiped: nothing is left.
    let s = p.storage();
    assert!(s.teks().unwrap().is_empty() && s.sightings().unwrap().is_empty());
    assert!(s.daily_summaries().unwrap().is_empty() && s.exposure_windows().unwrap().is_empty());
    assert!(
        s.setting("server_url").unwrap().is_none() && s.setting("started_on").unwrap().is_none()
    );
}

fn p_content_before() -> cocoa_api::SurveyContent {
    let answer = SurveyAnswer {
        age_group: Some(4),
        commute: Some(2),
        send_start_date: true,
        send_exposure_data: true,
    };
    phone().survey_content(&answer, FIRST_DAY).unwrap()
}

#[test]
fn a_changed_answer_is_a_new_answer() {
    let mut rng = StdRng::seed_from_u64(2);
    let mut p = phone();
    let http = FakeHttp::default();
    http.answer(&format!("{SERVER}/api/v1/event_log"), 503, "");
    let first = SurveyAnswer {
        age_group: Some(4),
        ..Default::default()
    };
    let _ = p.submit_survey(NOW, &http, &first, FIRST_DAY, &mut rng);
    let second = SurveyAnswer {
        age_group: Some(5),
        ..Default::default()
    };
    let _ = p.submit_survey(NOW, &http, &second, FIRST_DAY, &mut rng);
    let bodies: Vec<serde_json::Value> = http
        .sent
        .borrow()
        .iter()
        .map(|(_, b)| serde_json::from_slice(b).unwrap())
        .collect();
    assert_ne!(bodies[0]["idempotencyKey"], bodies[1]["idempotencyKey"]);
    assert_eq!(bodies[1]["eventLogs"][0]["content"]["q1"], 5);
}

#[test]
fn skipping_the_survey_ends_use_too() {
    let mut p = phone();
    p.end_of_use().unwrap();
    assert!(p.storage().daily_summaries().unwrap().is_empty());
    assert!(matches!(p.settings(), Err(Error::NotInitialised)));
}

/// What a phone holds, table by table.
fn held<S: Storage>(s: &S) -> (usize, usize, usize, usize, Option<String>) {
    (
        s.teks().unwrap().len(),
        s.sightings().unwrap().len(),
        s.daily_summaries().unwrap().len(),
        s.exposure_windows().unwrap().len(),
        s.setting("server_url").unwrap(),
    )
}

#[test]
fn end_of_use_wipe_is_one_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.db");
    let mut rng = StdRng::seed_from_u64(3);
    let mut p = Phone::new(cocoa_device::SqliteStorage::open(&path).unwrap());
    p.configure(&PhoneSettings {
        server_url: SERVER.into(),
        region: "440".into(),
        public_keys_pem: vec![],
        tx_power_dbm: -10,
    })
    .unwrap();
    let mut other = phone();
    p.meet(&mut other, NOW - 3600, 10, 50, &mut rng).unwrap();
    p.key_for(NOW, &mut rng).unwrap();
    let window = cocoa_device::ExposureWindow {
        date: 19_319,
        report_type: 1,
        infectiousness: 1,
        calibration_confidence: 0,
        scan_instances: vec![],
        weighted_duration: 600.0,
        score: 600.0,
    };
    let day = DailySummary {
        date: 19_319,
        score_sum: 600.0,
        maximum_score: 600.0,
        weighted_duration_sum: 600.0,
    };
    p.storage_mut()
        .commit_check(&[day], &[window], &[])
        .unwrap();
    let before = held(p.storage());
    assert_eq!((before.0, before.2, before.3), (1, 1, 1));
    assert!(before.1 >= 2);
    // The storage fails at its last table, after the others' rows were deleted in the wipe.
    let db = rusqlite::Connection::open(&path).unwrap();
    db.execute_batch(
        "CREATE TRIGGER fail_mid_wipe BEFORE DELETE ON exposure_windows \
         BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
    )
    .unwrap();
    let err = p.end_of_use().unwrap_err();
    assert!(err.to_string().contains("injected failure"), "{err}");
    assert_eq!(held(p.storage()), before, "nothing was deleted");
    // Once the storage works again, the end of use simply runs again.
    db.execute_batch("DROP TRIGGER fail_mid_wipe").unwrap();
    p.end_of_use().unwrap();
    assert_eq!(held(p.storage()), (0, 0, 0, 0, None));
    assert!(matches!(p.settings(), Err(Error::NotInitialised)));
}
