//! The pure part of exporting: padding with fake keys, the deterministic shuffle, the signed
//! zip of one file, and the `list.json` / `index.txt` of a region. Everything here is a function
//! of its inputs, so a file regenerated from its database row has the same bytes.

use crate::store::{ExportFileRow, StoredKey};
use cocoa_api::ListEntry;
use gaen::{
    DaysSinceOnset, DiagnosisKey, ExportSigner, IntervalNumber, KeyExport, ReportType,
    RollingPeriod, SignedExport, Tek,
};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, RngCore, SeedableRng};

/// One fake key: 16 key bytes and its days since onset.
const PADDING_RECORD: usize = 17;

/// How many fake keys a file with `real` keys gets: up to `min + jitter` in all, where `jitter`
/// was drawn in 0..`padding_jitter`.
pub fn padding_count(real: usize, min_keys: usize, jitter: usize) -> usize {
    (min_keys + jitter).saturating_sub(real)
}

/// Fake keys for a file: random key data, and days since onset copied from random real keys, so
/// that fake keys look like real ones.
pub fn make_padding(real: &[StoredKey], count: usize, seed: u64) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(count * PADDING_RECORD);
    for _ in 0..count {
        let mut key = [0u8; 16];
        rng.fill_bytes(&mut key);
        out.extend_from_slice(&key);
        let dsos = if real.is_empty() {
            rng.gen_range(-3..=10)
        } else {
            real[rng.gen_range(0..real.len())]
                .key
                .days_since_onset
                .get()
        };
        out.push(dsos as i8 as u8);
    }
    out
}

/// The keys of a file, real and fake, in the file's shuffled order.
pub fn file_keys(row: &ExportFileRow, real: &[StoredKey]) -> Vec<DiagnosisKey> {
    let day_start = IntervalNumber::new((row.key_day * 144).clamp(0, i64::from(u32::MAX)) as u32);
    let mut keys: Vec<DiagnosisKey> = real
        .iter()
        .map(|k| DiagnosisKey {
            key: k.key.key,
            rolling_start: k.key.rolling_start,
            rolling_period: k.key.rolling_period,
            transmission_risk_level: None,
            report_type: Some(k.key.report_type),
            days_since_onset: Some(k.key.days_since_onset),
        })
        .collect();
    for record in row.padding.chunks_exact(PADDING_RECORD) {
        let key: [u8; 16] = record[..16].try_into().expect("16 bytes");
        keys.push(DiagnosisKey {
            key: Tek::from_bytes(key),
            rolling_start: day_start,
            rolling_period: RollingPeriod::FULL_DAY,
            transmission_risk_level: None,
            report_type: Some(ReportType::ConfirmedTest),
            days_since_onset: DaysSinceOnset::new(i32::from(record[16] as i8)).ok(),
        });
    }
    keys.shuffle(&mut StdRng::seed_from_u64(row.shuffle_seed as u64));
    keys
}

/// The signed zip of a file.
pub fn build_zip(
    row: &ExportFileRow,
    real: &[StoredKey],
    signers: &[ExportSigner],
) -> Result<Vec<u8>, gaen::Error> {
    let export = KeyExport {
        start_timestamp: row.start_timestamp.max(0) as u64,
        end_timestamp: row.end_timestamp.max(0) as u64,
        region: row.region.clone(),
        batch_num: 1,
        batch_size: 1,
        signature_infos: Vec::new(),
        keys: file_keys(row, real),
        revised_keys: Vec::new(),
    };
    Ok(SignedExport::sign(export, signers)?.to_zip())
}

/// Where a file lives in blob storage.
pub fn zip_path(region: &str, file_id: i64) -> String {
    format!("c19r/{region}/{file_id}.zip")
}

/// `list.json` of a region: its published files, oldest first, with absolute URLs.
pub fn list_json(region: &str, files: &[ExportFileRow], public_base_url: &str) -> Vec<u8> {
    let base = public_base_url.trim_end_matches('/');
    let entries: Vec<ListEntry> = files
        .iter()
        .filter(|f| f.region == region)
        .filter_map(|f| {
            Some(ListEntry {
                region: region.to_owned(),
                url: format!("{base}/{region}/{}.zip", f.id),
                created: f.created_ms?,
            })
        })
        .collect();
    serde_json::to_vec(&entries).expect("plain values serialise")
}

/// `index.txt` of a region: the published files' paths relative to the blob root, oldest first.
pub fn index_txt(region: &str, files: &[ExportFileRow]) -> Vec<u8> {
    files
        .iter()
        .filter(|f| f.region == region && f.created_ms.is_some())
        .map(|f| format!("{}\n", zip_path(region, f.id)))
        .collect::<String>()
        .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registration::NewKey;

    fn stored(i: u8, dsos: i32) -> StoredKey {
        StoredKey {
            id: i64::from(i),
            key: NewKey {
                region: "440".into(),
                key: Tek::from_bytes([i; 16]),
                rolling_start: IntervalNumber::new(19_000 * 144),
                rolling_period: RollingPeriod::FULL_DAY,
                report_type: ReportType::ConfirmedTest,
                days_since_onset: DaysSinceOnset::new(dsos).unwrap(),
                release_at: 0,
            },
        }
    }

    fn row(padding: Vec<u8>) -> ExportFileRow {
        ExportFileRow {
            id: 7,
            region: "440".into(),
            key_day: 19_000,
            start_timestamp: 1,
            end_timestamp: 2,
            shuffle_seed: 99,
            padding,
            real_keys: 3,
            created_ms: Some(5),
        }
    }

    #[test]
    fn padding_fills_to_the_minimum_and_copies_real_onsets() {
        assert_eq!(padding_count(3, 1000, 42), 1039);
        assert_eq!(padding_count(5000, 1000, 42), 0);
        let real = [stored(1, 2), stored(2, 2)];
        let p = make_padding(&real, 10, 1);
        assert_eq!(p.len(), 170);
        assert!(p.chunks(17).all(|r| r[16] as i8 == 2));
        assert_eq!(make_padding(&real, 10, 1), p);
        assert_ne!(make_padding(&real, 10, 2), p);
    }

    #[test]
    fn files_are_shuffled_deterministically_and_hold_every_key() {
        let real: Vec<_> = (1..=50).map(|i| stored(i, 0)).collect();
        let r = row(make_padding(&real, 20, 3));
        let keys = file_keys(&r, &real);
        assert_eq!(keys.len(), 70);
        assert_eq!(file_keys(&r, &real), keys);
        let in_order: Vec<_> = real.iter().map(|k| k.key.key).collect();
        let real_positions: Vec<_> = keys
            .iter()
            .filter(|k| in_order.contains(&k.key))
            .map(|k| k.key)
            .collect();
        assert_eq!(real_positions.len(), 50);
        assert_ne!(
            real_positions, in_order,
            "real keys must not keep upload order"
        );
        assert!(keys.iter().all(|k| k.rolling_start.get() == 19_000 * 144));
    }

    #[test]
    fn list_and_index_hold_only_published_files() {
        let mut a = row(vec![]);
        a.id = 1;
        let mut b = row(vec![]);
        b.id = 2;
        b.created_ms = None;
        let mut c = row(vec![]);
        c.id = 3;
        c.region = "441".into();
        let files = [a, b, c];
        let list: Vec<ListEntry> =
            serde_json::from_slice(&list_json("440", &files, "https://cdn.example/c19r/")).unwrap();
        assert_eq!(
            list,
            vec![ListEntry {
                region: "440".into(),
                url: "https://cdn.example/c19r/440/1.zip".into(),
                created: 5
            }]
        );
        assert_eq!(index_txt("440", &files), b"c19r/440/1.zip\n");
    }
}
