//! Property tests: export files round-trip, any change to `export.bin` breaks its signature, the
//! fast derivation equals the reference one, and no decoder panics on arbitrary bytes.

use gaen::export::{decode_signature_list, read_container};
use gaen::{
    reference, Advertisement, DaysSinceOnset, DiagnosisKey, ExportSigner, IntervalNumber,
    KeyExport, ReportType, RollingPeriod, Rpi, SignatureInfo, SignedExport, Tek,
};
use proptest::prelude::*;
use std::sync::OnceLock;

fn signer() -> &'static ExportSigner {
    static SIGNER: OnceLock<ExportSigner> = OnceLock::new();
    SIGNER.get_or_init(|| {
        use rand::SeedableRng;
        ExportSigner::generate(
            &mut rand::rngs::StdRng::seed_from_u64(7),
            SignatureInfo::p256("440", "v1"),
        )
    })
}

fn key() -> impl Strategy<Value = DiagnosisKey> {
    (
        any::<[u8; 16]>(),
        0u32..=i32::MAX as u32,
        1i64..=144,
        proptest::option::of(0i32..=8),
        proptest::option::of(0i32..=5),
        proptest::option::of(-14i32..=14),
    )
        .prop_map(|(bytes, start, period, trl, rt, dsos)| DiagnosisKey {
            key: Tek::from_bytes(bytes),
            rolling_start: IntervalNumber::new(start),
            rolling_period: RollingPeriod::new(period).unwrap(),
            transmission_risk_level: trl.map(|t| gaen::TransmissionRiskLevel::new(t).unwrap()),
            report_type: rt.map(|r| ReportType::try_from(r).unwrap()),
            days_since_onset: dsos.map(|d| DaysSinceOnset::new(d).unwrap()),
        })
}

fn export() -> impl Strategy<Value = KeyExport> {
    (
        any::<u64>(),
        any::<u64>(),
        "[A-Z0-9]{0,5}",
        any::<i32>(),
        any::<i32>(),
        proptest::collection::vec(key(), 0..40),
        proptest::collection::vec(key(), 0..5),
    )
        .prop_map(
            |(start, end, region, batch_num, batch_size, keys, revised_keys)| KeyExport {
                start_timestamp: start,
                end_timestamp: end,
                region,
                batch_num,
                batch_size,
                signature_infos: vec![SignatureInfo::p256("440", "v1")],
                keys,
                revised_keys,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn export_bin_round_trips(export in export()) {
        let bin = export.to_export_bin();
        prop_assert_eq!(KeyExport::from_export_bin(&bin).unwrap(), export);
    }

    #[test]
    fn signed_zip_round_trips_and_verifies(export in export()) {
        let signed = SignedExport::sign(export, std::slice::from_ref(signer())).unwrap();
        let back = SignedExport::from_zip(&signed.to_zip()).unwrap();
        prop_assert!(back.verify(&[signer().verifier()]).is_ok());
        prop_assert_eq!(back, signed);
    }

    #[test]
    fn any_change_to_export_bin_breaks_the_signature(
        export in export(),
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let signed = SignedExport::sign(export, std::slice::from_ref(signer())).unwrap();
        let mut tampered = signed.clone();
        let i = at.index(tampered.export_bin.len());
        tampered.export_bin[i] ^= flip;
        prop_assert!(tampered.verify(&[signer().verifier()]).is_err());
        // Also through the zip: whether or not the changed bytes still parse, the file is refused.
        let zip = tampered.to_zip();
        if let Ok(file) = SignedExport::from_zip(&zip) {
            prop_assert!(file.verify(&[signer().verifier()]).is_err());
        }
    }

    #[test]
    fn fast_derivation_equals_reference(tek in any::<[u8; 16]>(), start in any::<u32>(), count in 1u32..=144) {
        let tek = Tek::from_bytes(tek);
        let start = IntervalNumber::new(start);
        let mut fast = vec![Rpi::default(); count as usize];
        tek.rpik().rpis_into(start, &mut fast);
        prop_assert_eq!(fast, reference::rpis(&tek, start, count));
        prop_assert_eq!(*tek.aemk().as_bytes(), reference::hkdf16(&tek, b"EN-AEMK"));
        prop_assert_eq!(tek.derive(), (tek.rpik(), tek.aemk()));
    }

    #[test]
    fn batched_rpiks_equal_reference(teks in proptest::collection::vec(any::<[u8; 16]>(), 0..20)) {
        let teks: Vec<Tek> = teks.into_iter().map(Tek::from_bytes).collect();
        let mut rpiks = vec![Tek::from_bytes([0; 16]).rpik(); teks.len()];
        Tek::rpiks_into(&teks, &mut rpiks);
        for (tek, rpik) in teks.iter().zip(&rpiks) {
            prop_assert_eq!(*rpik.as_bytes(), reference::hkdf16(tek, b"EN-RPIK"));
        }
    }

    #[test]
    fn advertisement_round_trips(rpi in any::<[u8; 16]>(), aem in any::<[u8; 4]>(), flags in any::<u8>()) {
        let adv = Advertisement { rpi: Rpi::from_bytes(rpi), aem: gaen::Aem::from_bytes(aem) };
        prop_assert_eq!(Advertisement::parse(&adv.to_bytes_with_flags(flags)).unwrap(), adv);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = SignedExport::from_zip(&bytes);
        let _ = read_container(&bytes);
        let _ = decode_signature_list(&bytes);
        let _ = Advertisement::parse(&bytes);
        let mut bin = b"EK Export v1    ".to_vec();
        bin.extend_from_slice(&bytes);
        let _ = KeyExport::from_export_bin(&bin);
    }

    #[test]
    fn mutated_reference_zip_never_panics(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = include_bytes!("../testdata/reference-sample-export.zip").to_vec();
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        let _ = SignedExport::from_zip(&bytes);
    }
}
