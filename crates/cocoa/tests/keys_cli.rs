//! `cocoa keys ...` end to end through the real binary: output formats, exit codes, and export
//! files that OpenSSL verifies.

use assert_cmd::Command;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const VECTORS: &str = include_str!("../../gaen/testdata/gaen-test-vectors.tsv");
const TEK: &str = "75c734c6dd1a782de7a965da5eb93125";

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../gaen/testdata")
        .join(name)
}

fn cocoa() -> Command {
    Command::cargo_bin("cocoa").unwrap()
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = cocoa().args(args).output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn vector_rows() -> Vec<(String, String, String)> {
    VECTORS
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("i\t"))
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            (c[1].to_owned(), c[2].to_owned(), c[3].to_owned())
        })
        .collect()
}

#[test]
fn derive_prints_all_144_reference_rpis_and_aems() {
    let (code, out, _) = run(&[
        "keys",
        "derive",
        "--tek",
        TEK,
        "--interval",
        "2642976",
        "--metadata",
        "40080000",
    ]);
    assert_eq!(code, 0);
    let expected: String = vector_rows()
        .iter()
        .map(|(i, rpi, aem)| format!("{i}\t{rpi}\t{aem}\n"))
        .collect();
    assert_eq!(out, expected);
}

#[test]
fn derive_without_metadata_and_with_count() {
    let (code, out, _) = run(&[
        "keys",
        "derive",
        "--tek",
        TEK,
        "--interval",
        "2642980",
        "--count",
        "3",
    ]);
    assert_eq!(code, 0);
    let rows = vector_rows();
    let expected: String = rows[4..7]
        .iter()
        .map(|(i, rpi, _)| format!("{i}\t{rpi}\n"))
        .collect();
    assert_eq!(out, expected);
    // More than one key's worth of intervals continues the sequence.
    let (_, out, _) = run(&[
        "keys",
        "derive",
        "--tek",
        TEK,
        "--interval",
        "2642976",
        "--count",
        "300",
    ]);
    assert_eq!(out.lines().count(), 300);
    assert_eq!(
        out.lines().nth(299).unwrap().split('\t').next(),
        Some("2643275")
    );
}

#[test]
fn derive_rejects_bad_arguments_with_usage_errors() {
    for args in [
        vec!["keys", "derive", "--tek", "1234", "--interval", "1"],
        vec!["keys", "derive", "--tek", TEK, "--interval", "x"],
        vec![
            "keys",
            "derive",
            "--tek",
            TEK,
            "--interval",
            "1",
            "--metadata",
            "4008",
        ],
        vec![
            "keys",
            "derive",
            "--tek",
            TEK,
            "--interval",
            "4294967295",
            "--count",
            "2",
        ],
        vec!["keys", "derive", "--interval", "1"],
    ] {
        let (code, out, err) = run(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty());
        assert!(!err.is_empty());
    }
}

#[test]
fn ble_builds_and_decodes_the_advertisement() {
    let (code, out, _) = run(&[
        "keys",
        "ble",
        "--tek",
        TEK,
        "--interval",
        "2642976",
        "--tx-power",
        "8",
    ]);
    assert_eq!(code, 0);
    let payload = out.trim();
    // Flags, UUID list, service data header, then RPI 0 and AEM 0 of the reference vectors.
    assert_eq!(
        payload,
        "02011a03036ffd17166ffd8be6cd371c5c891604bfbe49df84509672033874"
    );
    let (code, out, _) = run(&["keys", "ble", "--decode", payload]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v,
        json!({"rpi": "8be6cd371c5c891604bfbe49df845096", "aem": "72033874"})
    );
    // A negative transmit power is accepted as a value.
    let (code, _, err) = run(&[
        "keys",
        "ble",
        "--tek",
        TEK,
        "--interval",
        "1",
        "--tx-power",
        "-30",
    ]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn ble_decode_rejects_malformed_payloads() {
    let good = "02011a03036ffd17166ffd8be6cd371c5c891604bfbe49df84509672033874";
    let wrong_uuid = good.replace("6ffd1716", "6efd1716");
    for bad in [&good[..60], "zz", wrong_uuid.as_str()] {
        let (code, out, err) = run(&["keys", "ble", "--decode", bad]);
        assert_eq!(code, 1, "{bad}");
        assert!(out.is_empty());
        assert!(err.starts_with("error: "), "{err}");
    }
    let (code, _, _) = run(&["keys", "ble", "--decode", good, "--tek", TEK]);
    assert_eq!(code, 2);
    let (code, _, _) = run(&["keys", "ble", "--tek", TEK]);
    assert_eq!(code, 2);
}

#[test]
fn inspect_reference_sample_shows_default_rolling_period() {
    let file = testdata("reference-sample-export.zip");
    let (code, out, _) = run(&["keys", "inspect", file.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["region"], "US");
    assert_eq!(v["signature_infos"][0]["verification_key_id"], "310");
    let keys = v["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 140);
    for key in keys {
        assert_eq!(key["rolling_period"], 144);
        assert_eq!(base64_len(key["key_data"].as_str().unwrap()), 16);
    }
    assert_eq!(v["revised_keys"], json!([]));
    let (code, out, _) = run(&["keys", "inspect", file.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.contains("keys:          140"), "{out}");
}

fn base64_len(text: &str) -> usize {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
        .len()
}

struct Keypair {
    _dir: tempfile::TempDir,
    private: PathBuf,
    public: PathBuf,
}

fn keypair() -> Keypair {
    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("private.pem");
    let public = dir.path().join("public.pem");
    let (code, _, err) = run(&[
        "keys",
        "new-signing-key",
        "--private-out",
        private.to_str().unwrap(),
        "--public-out",
        public.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    Keypair {
        _dir: dir,
        private,
        public,
    }
}

#[test]
fn new_signing_key_writes_pem_files_and_never_overwrites() {
    let k = keypair();
    let private = std::fs::read_to_string(&k.private).unwrap();
    let public = std::fs::read_to_string(&k.public).unwrap();
    assert!(private.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    assert!(public.starts_with("-----BEGIN PUBLIC KEY-----\n"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&k.private).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let args = [
        "keys",
        "new-signing-key",
        "--private-out",
        k.private.to_str().unwrap(),
        "--public-out",
        k.public.to_str().unwrap(),
    ];
    let (code, _, err) = run(&args);
    assert_eq!(code, 2);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read_to_string(&k.private).unwrap(), private);
    let mut forced = args.to_vec();
    forced.push("--force");
    assert_eq!(run(&forced).0, 0);
    assert_ne!(std::fs::read_to_string(&k.private).unwrap(), private);
}

fn sample_keys() -> Value {
    json!([
        {"key_data": "AQEBAQEBAQEBAQEBAQEBAQ==", "rolling_start_interval_number": 2764224,
         "rolling_period": 144, "report_type": 1, "days_since_onset_of_symptoms": -3},
        {"key_data": "AgICAgICAgICAgICAgICAg==", "rolling_start_interval_number": 2764368,
         "rolling_period": 72, "transmission_risk_level": 4},
        {"key_data": "AwMDAwMDAwMDAwMDAwMDAw==", "rolling_start_interval_number": 2764368,
         "rolling_period": 144, "report_type": 5, "days_since_onset_of_symptoms": 14}
    ])
}

fn sign(dir: &Path, keys: &Value, k: &Keypair) -> (i32, PathBuf, String) {
    let keys_path = dir.join("keys.json");
    std::fs::write(&keys_path, serde_json::to_vec(keys).unwrap()).unwrap();
    let out = dir.join("export.zip");
    let (code, _, err) = run(&[
        "keys",
        "sign",
        "--keys",
        keys_path.to_str().unwrap(),
        "--signing-key",
        k.private.to_str().unwrap(),
        "--region",
        "440",
        "--key-id",
        "440",
        "--key-version",
        "v1",
        "--start",
        "1660000000",
        "--end",
        "1660003600",
        "--out",
        out.to_str().unwrap(),
    ]);
    (code, out, err)
}

#[test]
fn sign_inspect_verify_round_trip() {
    let k = keypair();
    let dir = tempfile::tempdir().unwrap();
    let (code, zip, err) = sign(dir.path(), &sample_keys(), &k);
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = run(&["keys", "inspect", zip.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v,
        json!({
            "region": "440", "start_timestamp": 1660000000u64, "end_timestamp": 1660003600u64,
            "batch_num": 1, "batch_size": 1,
            "signature_infos": [{"verification_key_version": "v1", "verification_key_id": "440",
                                 "signature_algorithm": "1.2.840.10045.4.3.2"}],
            "keys": sample_keys(), "revised_keys": []
        })
    );
    let (code, out, _) = run(&[
        "keys",
        "verify",
        zip.to_str().unwrap(),
        "--public-key",
        k.public.to_str().unwrap(),
    ]);
    assert_eq!((code, out.as_str()), (0, "valid\n"));
    // Any of several keys may verify; a wrong key alone does not.
    let other = keypair();
    let (code, out, _) = run(&[
        "keys",
        "verify",
        zip.to_str().unwrap(),
        "--public-key",
        other.public.to_str().unwrap(),
        "--public-key",
        k.public.to_str().unwrap(),
    ]);
    assert_eq!((code, out.as_str()), (0, "valid\n"));
    let (code, out, err) = run(&[
        "keys",
        "verify",
        zip.to_str().unwrap(),
        "--public-key",
        other.public.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(err.contains("does not verify"), "{err}");
}

#[test]
fn signed_file_verifies_with_openssl() {
    let openssl = std::process::Command::new("openssl")
        .arg("version")
        .output();
    if openssl.is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "openssl is required under CI"
        );
        eprintln!("openssl not installed: skipping the OpenSSL cross-check");
        return;
    }
    let k = keypair();
    let dir = tempfile::tempdir().unwrap();
    let (code, zip, err) = sign(dir.path(), &sample_keys(), &k);
    assert_eq!(code, 0, "{err}");
    let (bin, sig) = gaen::export::read_container(&std::fs::read(&zip).unwrap()).unwrap();
    let signatures = gaen::export::decode_signature_list(&sig).unwrap();
    let bin_path = dir.path().join("export.bin");
    let der_path = dir.path().join("signature.der");
    std::fs::write(&bin_path, &bin).unwrap();
    std::fs::write(&der_path, &signatures[0].signature).unwrap();
    let verify = |data: &Path| {
        std::process::Command::new("openssl")
            .args(["dgst", "-sha256", "-verify"])
            .arg(&k.public)
            .arg("-signature")
            .arg(&der_path)
            .arg(data)
            .output()
            .unwrap()
    };
    let out = verify(&bin_path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Verified OK");
    // And OpenSSL refuses a changed export.bin.
    let mut changed = bin.clone();
    let last = changed.len() - 1;
    changed[last] ^= 1;
    let changed_path = dir.path().join("changed.bin");
    std::fs::write(&changed_path, &changed).unwrap();
    assert!(!verify(&changed_path).status.success());
}

#[test]
fn sign_rejects_invalid_keys_and_writes_nothing() {
    let k = keypair();
    for (keys, expected) in [
        (
            json!([{"key_data": "AQEB", "rolling_start_interval_number": 1}]),
            "TEK must be 16 bytes",
        ),
        (
            json!([{"key_data": "AQEBAQEBAQEBAQEBAQEBAQ==", "rolling_start_interval_number": 1, "rolling_period": 145}]),
            "rolling period 145",
        ),
        (
            json!([{"key_data": "AQEBAQEBAQEBAQEBAQEBAQ==", "rolling_start_interval_number": 1, "days_since_onset_of_symptoms": 20}]),
            "days since onset",
        ),
        (
            json!([{"key_data": "AQEBAQEBAQEBAQEBAQEBAQ==", "rolling_start_interval_number": 1, "colour": "red"}]),
            "unknown field",
        ),
        (json!({"keys": []}), "not a JSON array"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (code, out, err) = sign(dir.path(), &keys, &k);
        assert_eq!(code, 1, "{keys}: {err}");
        assert!(err.contains(expected), "{err} should mention {expected}");
        assert!(!out.exists());
    }
}

#[test]
fn sign_accepts_report_type_names_and_omitted_rolling_period() {
    let k = keypair();
    let dir = tempfile::tempdir().unwrap();
    let keys = json!([{"key_data": "AQEBAQEBAQEBAQEBAQEBAQ==", "rolling_start_interval_number": 2764224,
                       "report_type": "CONFIRMED_CLINICAL_DIAGNOSIS"}]);
    let (code, zip, err) = sign(dir.path(), &keys, &k);
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = run(&["keys", "inspect", zip.to_str().unwrap(), "--json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["keys"][0]["report_type"], 2);
    assert_eq!(v["keys"][0]["rolling_period"], 144);
}

#[test]
fn verify_exit_codes() {
    let sample = testdata("reference-sample-export.zip");
    let sample_pub = testdata("reference-sample-export.pub.pem");
    let server_pub = testdata("reference-server-export.pub.pem");
    let s = |p: &PathBuf| p.to_str().unwrap().to_owned();
    // Valid with the reference key (a PEM whose base64 is one long line).
    assert_eq!(
        run(&[
            "keys",
            "verify",
            &s(&sample),
            "--public-key",
            &s(&sample_pub)
        ])
        .0,
        0
    );
    // Wrong key: 1.
    assert_eq!(
        run(&[
            "keys",
            "verify",
            &s(&sample),
            "--public-key",
            &s(&server_pub)
        ])
        .0,
        1
    );
    // Malformed file: 1.
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(&sample).unwrap();
    bytes.truncate(bytes.len() / 2);
    let truncated = dir.path().join("truncated.zip");
    std::fs::write(&truncated, &bytes).unwrap();
    let (code, _, err) = run(&[
        "keys",
        "verify",
        &s(&truncated),
        "--public-key",
        &s(&sample_pub),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("not a valid export file"), "{err}");
    // Missing file, unreadable key, not a key, no key: 2.
    let missing = dir.path().join("missing.zip");
    assert_eq!(
        run(&[
            "keys",
            "verify",
            &s(&missing),
            "--public-key",
            &s(&sample_pub)
        ])
        .0,
        2
    );
    assert_eq!(
        run(&["keys", "verify", &s(&sample), "--public-key", &s(&missing)]).0,
        2
    );
    assert_eq!(
        run(&["keys", "verify", &s(&sample), "--public-key", &s(&sample)]).0,
        2
    );
    assert_eq!(run(&["keys", "verify", &s(&sample)]).0, 2);
}
