//! The survey answers the `cocoa report` tests seed a data folder with, and running the binary.

use cocoa_server::store::{SqliteStore, SurveyStore};
use cocoa_server::survey::{AgeGroup, Commute, SurveyDayFlag, SurveyResponse};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// 2022-04-07, the default `[survey] first_day`.
pub const FIRST: i64 = 19_089;
/// Every answer is received on 2022-05-07: the window's last day.
pub const RECEIVED: i64 = FIRST + 30;
/// The day flagged (2022-04-13).
pub const FLAG_DAY: i64 = FIRST + 6;

/// `n` answers of one group; the first `flagged` have `FLAG_DAY` flagged. Daily data covers
/// days FIRST+1 ..= FIRST+10 when `data`.
pub fn group(
    tag: u64,
    n: usize,
    age: Option<u8>,
    commute: Option<u8>,
    start: Option<i64>,
    data: bool,
    flagged: usize,
) -> Vec<SurveyResponse> {
    (0..n)
        .map(|i| SurveyResponse {
            id_hash: format!("{tag:032x}{i:032x}"),
            received_day: RECEIVED,
            age_group: age.and_then(AgeGroup::new),
            commute: commute.and_then(Commute::new),
            start_day: start,
            days: data.then(|| {
                (FIRST + 1..=FIRST + 10)
                    .map(|day| SurveyDayFlag {
                        day,
                        exposure_detected: day == FLAG_DAY && i < flagged,
                    })
                    .collect()
            }),
        })
        .collect()
}

/// 353 answers: age 3 commuting 1 (200, 40 notified, start given), age 5 commuting 3 (100, 30
/// notified), age 7 commuting 2 (3, none notified), and 50 with no answer and no daily data.
pub fn seed(data: &Path) {
    std::fs::create_dir_all(data).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let url = format!("sqlite://{}", data.join("cocoa.db").display());
        cocoa_server::private_files::prepare_sqlite(&url).unwrap();
        let store = SqliteStore::connect(&url).await.unwrap();
        let mut all = group(1, 200, Some(3), Some(1), Some(18_500), true, 40);
        all.extend(group(2, 100, Some(5), Some(3), None, true, 30));
        all.extend(group(3, 3, Some(7), Some(2), None, true, 0));
        all.extend(group(4, 50, None, None, None, false, 0));
        assert_eq!(store.insert_survey_responses(&all).await.unwrap(), 353);
    });
}

pub fn cocoa(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cocoa"))
        .args(args)
        .env("COCOA_LOG", "warn")
        .env_remove("COCOA_DATABASE_URL")
        .env_remove("COCOA_BLOB_URL")
        .output()
        .unwrap()
}

pub fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

pub struct Setup {
    pub _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub data: String,
}

pub fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let data = root.join("data");
    seed(&data);
    Setup {
        data: data.display().to_string(),
        root,
        _dir: dir,
    }
}
