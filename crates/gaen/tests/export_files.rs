//! Export files: the two reference files made by other implementations parse and verify with their
//! public keys, tampered copies fail, and files we write read back and verify.

use gaen::export::{read_container, write_container, MAX_EXPORT_SIG_BYTES};
use gaen::{
    DiagnosisKey, Error, ExportSigner, ExportVerifier, IntervalNumber, KeyExport, ReportType,
    RollingPeriod, SignatureInfo, SignedExport, Tek,
};

const SAMPLE_ZIP: &[u8] = include_bytes!("../testdata/reference-sample-export.zip");
const SAMPLE_PUB: &str = include_str!("../testdata/reference-sample-export.pub.pem");
const SERVER_ZIP: &[u8] = include_bytes!("../testdata/reference-server-export.zip");
const SERVER_PUB: &str = include_str!("../testdata/reference-server-export.pub.pem");

fn verifier(pem: &str) -> ExportVerifier {
    ExportVerifier::from_pem(pem).unwrap()
}

#[test]
fn reference_sample_export_parses_and_verifies() {
    let file = SignedExport::from_zip(SAMPLE_ZIP).unwrap();
    assert_eq!(file.export.region, "US");
    assert_eq!(file.export.keys.len(), 140);
    assert_eq!(file.signatures.len(), 1);
    let info = &file.signatures[0].signature_info;
    assert_eq!(info.verification_key_id, "310");
    assert_eq!(info.verification_key_version, "v1");
    assert_eq!(info.signature_algorithm, "1.2.840.10045.4.3.2");
    // This file omits rolling_period: proto2's default of 144 applies.
    assert!(file
        .export
        .keys
        .iter()
        .all(|k| k.rolling_period == RollingPeriod::FULL_DAY));
    assert!(file.verify(&[verifier(SAMPLE_PUB)]).is_ok());
}

#[test]
fn reference_server_export_parses_and_verifies() {
    let file = SignedExport::from_zip(SERVER_ZIP).unwrap();
    assert_eq!(file.export.keys.len(), 2);
    let verified = file
        .verify(&[verifier(SAMPLE_PUB), verifier(SERVER_PUB)])
        .unwrap();
    assert_eq!(verified.key_index, 1);
}

#[test]
fn reference_files_do_not_verify_with_the_other_key() {
    let sample = SignedExport::from_zip(SAMPLE_ZIP).unwrap();
    let server = SignedExport::from_zip(SERVER_ZIP).unwrap();
    assert!(matches!(
        sample.verify(&[verifier(SERVER_PUB)]),
        Err(Error::SignatureMismatch {
            signatures: 1,
            keys: 1
        })
    ));
    assert!(server.verify(&[verifier(SAMPLE_PUB)]).is_err());
    assert!(server.verify(&[]).is_err());
}

#[test]
fn tampered_export_bin_fails_verification() {
    let (bin, sig) = read_container(SAMPLE_ZIP).unwrap();
    // Flip one bit in each of several places of export.bin, keeping it parseable where possible:
    // in key data (deep inside), and the last byte.
    for at in [40, bin.len() / 2, bin.len() - 1] {
        let mut bad = bin.clone();
        bad[at] ^= 0x01;
        let zip = write_container(&bad, &sig);
        // A bit flip that breaks parsing is rejected too; one that parses must not verify.
        if let Ok(file) = SignedExport::from_zip(&zip) {
            assert!(file.verify(&[verifier(SAMPLE_PUB)]).is_err(), "byte {at}");
        }
    }
}

#[test]
fn tampered_signature_fails_verification() {
    let (bin, sig) = read_container(SERVER_ZIP).unwrap();
    let mut bad = sig.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x01;
    let file = SignedExport::from_zip(&write_container(&bin, &bad)).unwrap();
    assert!(file.verify(&[verifier(SERVER_PUB)]).is_err());
}

#[test]
fn corrupt_zip_bytes_are_errors() {
    let mut bad = SAMPLE_ZIP.to_vec();
    let mid = bad.len() / 2;
    bad[mid] ^= 0xff;
    assert!(SignedExport::from_zip(&bad).is_err());
    assert!(SignedExport::from_zip(&SAMPLE_ZIP[..SAMPLE_ZIP.len() - 10]).is_err());
    assert!(SignedExport::from_zip(b"").is_err());
    assert!(SignedExport::from_zip(b"PK\x03\x04").is_err());
}

fn sample_export() -> KeyExport {
    KeyExport {
        start_timestamp: 1_660_000_000,
        end_timestamp: 1_660_003_600,
        region: "440".into(),
        batch_num: 1,
        batch_size: 1,
        signature_infos: vec![],
        keys: vec![
            DiagnosisKey {
                key: Tek::from_bytes([1; 16]),
                rolling_start: IntervalNumber::new(2_764_224),
                rolling_period: RollingPeriod::FULL_DAY,
                transmission_risk_level: None,
                report_type: Some(ReportType::ConfirmedTest),
                days_since_onset: Some(gaen::DaysSinceOnset::new(-3).unwrap()),
            },
            DiagnosisKey {
                key: Tek::from_bytes([2; 16]),
                rolling_start: IntervalNumber::new(2_764_368),
                rolling_period: RollingPeriod::new(72).unwrap(),
                transmission_risk_level: Some(gaen::TransmissionRiskLevel::new(4).unwrap()),
                report_type: None,
                days_since_onset: None,
            },
        ],
        revised_keys: vec![],
    }
}

fn signer(seed: u8, id: &str) -> ExportSigner {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::from_seed([seed; 32]);
    ExportSigner::generate(&mut rng, SignatureInfo::p256(id, "v1"))
}

#[test]
fn written_files_round_trip_and_verify() {
    let signers = [signer(1, "440"), signer(2, "440")];
    let signed = SignedExport::sign(sample_export(), &signers).unwrap();
    let zip = signed.to_zip();
    let back = SignedExport::from_zip(&zip).unwrap();
    assert_eq!(back, signed);
    assert_eq!(back.export.signature_infos.len(), 2);
    assert_eq!(back.signatures.len(), 2);
    // Each key verifies through its own signature; rotation means either key suffices.
    assert_eq!(
        back.verify(&[signers[1].verifier()])
            .unwrap()
            .signature_index,
        1
    );
    assert_eq!(
        back.verify(&[signers[0].verifier()])
            .unwrap()
            .signature_index,
        0
    );
    assert!(back.verify(&[signer(3, "440").verifier()]).is_err());
    // Same contents, same keys: the same bytes (RFC 6979 signatures, fixed zip timestamps).
    assert_eq!(
        SignedExport::sign(sample_export(), &signers)
            .unwrap()
            .to_zip(),
        zip
    );
}

#[test]
fn signing_needs_one_to_ten_keys() {
    assert!(SignedExport::sign(sample_export(), &[]).is_err());
    let many: Vec<_> = (0..11).map(|i| signer(i, "440")).collect();
    assert!(SignedExport::sign(sample_export(), &many).is_err());
    assert!(SignedExport::sign(sample_export(), &many[..10]).is_ok());
}

#[test]
fn keys_survive_pem_round_trips() {
    let s = signer(9, "440");
    let again = ExportSigner::from_pem(&s.private_key_pem(), s.info().clone()).unwrap();
    assert_eq!(again.verifier(), s.verifier());
    assert_eq!(
        ExportVerifier::from_pem(&s.verifier().to_pem()).unwrap(),
        s.verifier()
    );
    assert!(
        ExportVerifier::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")
            .is_err()
    );
    assert!(ExportVerifier::from_pem("hello").is_err());
    assert!(ExportSigner::from_pem(SAMPLE_PUB, SignatureInfo::default()).is_err());
}

#[test]
fn sec1_private_keys_are_accepted() {
    // `openssl ecparam -name prime256v1 -genkey -noout` writes this SEC1 form.
    let pem = "-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIEwPPmbbzLnYDBLi9Moo08rE4kbjnUZLkxPm4pipel4XoAoGCCqGSM49
AwEHoUQDQgAEFQSRThOfQ3ns9XykY0M3wCQNSKgo3wHZ1W+Xrs339/7vQgNc+X7E
2ycR3VJdRgh2qMniaeWw3eIjg5Nqoeqh/w==
-----END EC PRIVATE KEY-----
";
    let s = ExportSigner::from_pem(pem, SignatureInfo::p256("440", "v1")).unwrap();
    let signed = SignedExport::sign(sample_export(), std::slice::from_ref(&s)).unwrap();
    assert!(signed.verify(&[s.verifier()]).is_ok());
}

#[test]
fn container_rejects_extra_missing_duplicate_and_oversized_members() {
    use std::io::Write;
    use zip::write::SimpleFileOptions;
    let zip_of = |members: &[(&str, &[u8])]| {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, data) in members {
            w.start_file(*name, SimpleFileOptions::default()).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    };
    let ok = zip_of(&[("export.bin", b"a"), ("export.sig", b"b")]);
    assert_eq!(read_container(&ok).unwrap(), (b"a".to_vec(), b"b".to_vec()));
    let reversed = zip_of(&[("export.sig", b"b"), ("export.bin", b"a")]);
    assert!(read_container(&reversed).is_ok());
    for bad in [
        zip_of(&[("export.bin", b"a")]),
        zip_of(&[("export.sig", b"b")]),
        zip_of(&[
            ("export.bin", b"a"),
            ("export.sig", b"b"),
            ("extra.txt", b"c"),
        ]),
        zip_of(&[("export.bin", b"a"), ("other.sig", b"b")]),
        zip_of(&[]),
    ] {
        assert!(matches!(read_container(&bad), Err(Error::Zip(_))));
    }
    // A highly compressible oversized member (a zip bomb in miniature) is refused.
    let big = vec![0u8; MAX_EXPORT_SIG_BYTES as usize + 1];
    let bomb = zip_of(&[("export.bin", b"a"), ("export.sig", &big)]);
    assert!(bomb.len() < 10_000);
    let err = read_container(&bomb).unwrap_err();
    assert!(err.to_string().contains("limit"), "{err}");
}

#[test]
fn export_bin_parsing_is_strict() {
    let bin = sample_export().to_export_bin();
    assert!(KeyExport::from_export_bin(&bin).is_ok());
    // Wrong header.
    let mut bad = bin.clone();
    bad[3] = b'x';
    assert_eq!(KeyExport::from_export_bin(&bad), Err(Error::ExportHeader));
    assert_eq!(
        KeyExport::from_export_bin(&bin[..10]),
        Err(Error::ExportHeader)
    );
    // Truncated protobuf.
    assert!(matches!(
        KeyExport::from_export_bin(&bin[..bin.len() - 3]),
        Err(Error::Protobuf { .. })
    ));
    // Trailing bytes that are not protobuf.
    let mut trailing = bin.clone();
    trailing.extend_from_slice(&[0, 0, 0]);
    assert!(matches!(
        KeyExport::from_export_bin(&trailing),
        Err(Error::Protobuf { .. })
    ));
}

#[test]
fn keys_phones_reject_are_errors() {
    type Mutation = Box<dyn Fn(&mut DiagnosisKeyProto)>;
    let cases: Vec<(Mutation, &str)> = vec![
        (
            Box::new(|k| k.key_data = vec![0; 15]),
            "TEK must be 16 bytes",
        ),
        (Box::new(|k| k.rolling_period = Some(0)), "rolling period 0"),
        (
            Box::new(|k| k.rolling_period = Some(145)),
            "rolling period 145",
        ),
        (
            Box::new(|k| k.dsos = Some(15)),
            "days since onset of symptoms 15",
        ),
        (
            Box::new(|k| k.dsos = Some(-15)),
            "days since onset of symptoms -15",
        ),
        (Box::new(|k| k.report_type = Some(6)), "report type 6"),
        (Box::new(|k| k.start = -1), "interval number -1"),
        (Box::new(|k| k.trl = Some(9)), "transmission risk level 9"),
    ];
    for (mutate, expected) in cases {
        let mut key = DiagnosisKeyProto::valid();
        mutate(&mut key);
        let bin = key.export_bin();
        let err = KeyExport::from_export_bin(&bin).unwrap_err();
        assert!(matches!(err, Error::ExportKey { index: 0, .. }), "{err}");
        assert!(
            err.to_string().contains(expected),
            "{err} should mention {expected}"
        );
    }
    assert!(KeyExport::from_export_bin(&DiagnosisKeyProto::valid().export_bin()).is_ok());
}

/// Hand-encodes one key so that tests can write values the typed writer refuses to write.
struct DiagnosisKeyProto {
    key_data: Vec<u8>,
    trl: Option<i32>,
    start: i32,
    rolling_period: Option<i32>,
    report_type: Option<i32>,
    dsos: Option<i32>,
}

impl DiagnosisKeyProto {
    fn valid() -> Self {
        Self {
            key_data: vec![7; 16],
            trl: None,
            start: 2_764_224,
            rolling_period: Some(144),
            report_type: Some(1),
            dsos: Some(0),
        }
    }

    fn export_bin(&self) -> Vec<u8> {
        fn varint(out: &mut Vec<u8>, mut v: u64) {
            while v >= 0x80 {
                out.push((v as u8) | 0x80);
                v >>= 7;
            }
            out.push(v as u8);
        }
        let mut key = Vec::new();
        key.push(0x0a);
        varint(&mut key, self.key_data.len() as u64);
        key.extend_from_slice(&self.key_data);
        let int32 = |key: &mut Vec<u8>, tag: u8, v: i32| {
            key.push(tag << 3);
            varint(key, v as i64 as u64);
        };
        if let Some(t) = self.trl {
            int32(&mut key, 2, t);
        }
        int32(&mut key, 3, self.start);
        if let Some(p) = self.rolling_period {
            int32(&mut key, 4, p);
        }
        if let Some(r) = self.report_type {
            int32(&mut key, 5, r);
        }
        if let Some(d) = self.dsos {
            key.push(6 << 3);
            varint(&mut key, ((d << 1) ^ (d >> 31)) as u32 as u64);
        }
        let mut bin = b"EK Export v1    ".to_vec();
        bin.push(0x3a); // field 7, length-delimited
        varint(&mut bin, key.len() as u64);
        bin.extend_from_slice(&key);
        bin
    }
}
