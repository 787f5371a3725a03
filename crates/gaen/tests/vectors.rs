//! The 144 reference RPI/AEM vectors of the v1.2 specification, plus RPIK and AEMK, checked
//! against both the fast kernel and the straightforward reference implementation.

use gaen::keys::{Aemk, Metadata, Rpi, Rpik, Tek};
use gaen::{reference, IntervalNumber, RollingPeriod};

struct Vectors {
    tek: Tek,
    rpik: Rpik,
    aemk: Aemk,
    metadata: Metadata,
    start: IntervalNumber,
    rows: Vec<(IntervalNumber, Rpi, gaen::Aem)>,
}

fn vectors() -> Vectors {
    let text = include_str!("../testdata/gaen-test-vectors.tsv");
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let field = |line: &str, name: &str| -> String {
        let at = line
            .find(name)
            .unwrap_or_else(|| panic!("{name} in {line}"))
            + name.len();
        line[at..]
            .split_whitespace()
            .next()
            .unwrap()
            .trim_end_matches(',')
            .to_owned()
    };
    let tek = Tek::from_hex(&field(header, "TEK ")).unwrap();
    let start: u32 = field(header, "(interval ")
        .trim_end_matches(')')
        .parse()
        .unwrap();
    let metadata = Metadata::from_hex(&field(header, "metadata ")).unwrap();
    let keys = lines.next().unwrap();
    let rpik = Rpik::from_hex(&field(keys, "RPIK ")).unwrap();
    let aemk = Aemk::from_hex(&field(keys, "AEMK ")).unwrap();
    assert_eq!(lines.next().unwrap(), "i\tinterval\trpi\taem");
    let rows = lines
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            (
                IntervalNumber::new(cols[1].parse().unwrap()),
                Rpi::from_hex(cols[2]).unwrap(),
                gaen::Aem::from_hex(cols[3]).unwrap(),
            )
        })
        .collect();
    Vectors {
        tek,
        rpik,
        aemk,
        metadata,
        start: IntervalNumber::new(start),
        rows,
    }
}

#[test]
fn file_holds_all_144_vectors() {
    let v = vectors();
    assert_eq!(v.rows.len(), 144);
    assert_eq!(v.metadata, Metadata::v1_0(8));
    for (i, (interval, _, _)) in v.rows.iter().enumerate() {
        assert_eq!(interval.get(), v.start.get() + i as u32);
    }
}

#[test]
fn rpik_and_aemk() {
    let v = vectors();
    assert_eq!(v.tek.rpik(), v.rpik);
    assert_eq!(v.tek.aemk(), v.aemk);
    assert_eq!(v.tek.derive(), (v.rpik, v.aemk));
    assert_eq!(reference::hkdf16(&v.tek, b"EN-RPIK"), *v.rpik.as_bytes());
    assert_eq!(reference::hkdf16(&v.tek, b"EN-AEMK"), *v.aemk.as_bytes());
}

#[test]
fn every_rpi_one_at_a_time() {
    let v = vectors();
    for (interval, rpi, _) in &v.rows {
        assert_eq!(v.rpik.rpi(*interval), *rpi, "interval {interval}");
    }
}

#[test]
fn every_rpi_of_the_whole_key_at_once() {
    let v = vectors();
    let expected: Vec<Rpi> = v.rows.iter().map(|r| r.1).collect();
    assert_eq!(v.rpik.rpis(v.start, RollingPeriod::FULL_DAY), expected);
    assert_eq!(reference::rpis(&v.tek, v.start, 144), expected);
    // Partial runs starting mid-key, of lengths that do not fill the kernel's chunks.
    for (offset, len) in [(0, 1), (1, 15), (5, 17), (100, 44), (143, 1)] {
        let mut out = vec![Rpi::default(); len];
        v.rpik
            .rpis_into(IntervalNumber::new(v.start.get() + offset as u32), &mut out);
        assert_eq!(out, expected[offset..offset + len]);
    }
}

#[test]
fn every_aem_encrypts_and_decrypts() {
    let v = vectors();
    for (_, rpi, aem) in &v.rows {
        assert_eq!(v.aemk.encrypt(rpi, &v.metadata), *aem);
        assert_eq!(v.aemk.decrypt(rpi, aem), v.metadata);
        assert_eq!(v.aemk.decrypt(rpi, aem).plausible_tx_power_dbm(), Some(8));
    }
}

#[test]
fn aem_round_trips_for_other_metadata() {
    let v = vectors();
    let (_, rpi, _) = v.rows[7];
    for metadata in [
        Metadata::v1_0(-50),
        Metadata::v1_1(20, 2),
        Metadata::from_bytes([1, 2, 3, 4]),
    ] {
        let aem = v.aemk.encrypt(&rpi, &metadata);
        assert_eq!(v.aemk.decrypt(&rpi, &aem), metadata);
    }
}
