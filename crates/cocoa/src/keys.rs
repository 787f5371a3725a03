//! `cocoa keys ...`: protocol tools for people and scripts: derive identifiers, build and decode
//! Bluetooth payloads, make signing keys, sign, inspect and verify export files.

use crate::failure::{Failure, OrFail, USAGE_OR_IO};
use crate::key_json::KeyJson;
use anyhow::anyhow;
use clap::{Args, Subcommand};
use gaen::{
    Advertisement, ExportSigner, ExportVerifier, IntervalNumber, KeyExport, Metadata, Rpi,
    SignatureInfo, SignedExport, Tek,
};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Print the RPIs (and AEMs) of a TEK, one interval per line:
    /// `interval<TAB>rpi_hex[<TAB>aem_hex]`.
    Derive(DeriveArgs),
    /// Build the 31-byte Bluetooth advertisement of a TEK at an interval, or decode one.
    Ble(BleArgs),
    /// Create an ECDSA P-256 key pair for signing export files (PKCS#8 and SPKI PEM).
    NewSigningKey(NewSigningKeyArgs),
    /// Show what an export file (zip) holds. Parses strictly; does not verify signatures.
    Inspect(InspectArgs),
    /// Write a signed export file from a JSON array of keys.
    Sign(SignArgs),
    /// Check an export file's signature: prints `valid` and exits 0, or exits 1 with the reason.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct DeriveArgs {
    /// The temporary exposure key, 32 hex digits.
    #[arg(long, value_name = "HEX32", value_parser = parse_tek)]
    tek: Tek,
    /// The first interval number (unix seconds / 600).
    #[arg(long, value_name = "N")]
    interval: u32,
    /// How many intervals to print.
    #[arg(long, value_name = "K", default_value_t = 144)]
    count: u32,
    /// Metadata (8 hex digits, e.g. 40080000) to encrypt: adds the AEM column.
    #[arg(long, value_name = "HEX8", value_parser = parse_metadata)]
    metadata: Option<Metadata>,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("mode").required(true).args(["tek", "decode"])))]
pub struct BleArgs {
    /// The temporary exposure key, 32 hex digits.
    #[arg(long, value_name = "HEX32", value_parser = parse_tek, requires_all = ["interval", "tx_power"])]
    tek: Option<Tek>,
    /// The interval number whose RPI is advertised.
    #[arg(long, value_name = "N")]
    interval: Option<u32>,
    /// Transmit power in dBm carried in the metadata (version 1.0).
    #[arg(long, value_name = "DBM", allow_negative_numbers = true)]
    tx_power: Option<i8>,
    /// Decode a payload (62 hex digits) to its RPI and AEM, printed as JSON.
    #[arg(long, value_name = "HEX", conflicts_with_all = ["tek", "interval", "tx_power"])]
    decode: Option<String>,
}

#[derive(Debug, Args)]
pub struct NewSigningKeyArgs {
    /// Where to write the private key (PKCS#8 PEM, created with mode 0600).
    #[arg(long, value_name = "FILE")]
    private_out: PathBuf,
    /// Where to write the public key (SubjectPublicKeyInfo PEM).
    #[arg(long, value_name = "FILE")]
    public_out: PathBuf,
    /// Replace existing files (otherwise an existing key is never overwritten).
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The export file (zip).
    #[arg(value_name = "FILE.zip")]
    file: PathBuf,
    /// Print JSON instead of a summary.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct SignArgs {
    /// A JSON array of keys: {"key_data": base64, "rolling_start_interval_number": N,
    /// "rolling_period"?, "transmission_risk_level"?, "report_type"?,
    /// "days_since_onset_of_symptoms"?}.
    #[arg(long, value_name = "KEYS.json")]
    keys: PathBuf,
    /// The private key (PKCS#8 or SEC1 PEM).
    #[arg(long, value_name = "FILE")]
    signing_key: PathBuf,
    /// The region written into the file (e.g. 440).
    #[arg(long, value_name = "R")]
    region: String,
    /// The verification key id (conventionally the MCC, 440 for Japan).
    #[arg(long, value_name = "ID")]
    key_id: String,
    /// The verification key version (e.g. v1).
    #[arg(long, value_name = "V")]
    key_version: String,
    /// Start of the file's window, unix seconds.
    #[arg(long, value_name = "UNIX")]
    start: u64,
    /// End of the file's window, unix seconds.
    #[arg(long, value_name = "UNIX")]
    end: u64,
    /// Where to write the zip.
    #[arg(long, value_name = "FILE.zip")]
    out: PathBuf,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The export file (zip).
    #[arg(value_name = "FILE.zip")]
    file: PathBuf,
    /// A public key (SPKI PEM); repeat to accept any of several.
    #[arg(long = "public-key", value_name = "FILE.pem", required = true)]
    public_keys: Vec<PathBuf>,
}

fn parse_tek(text: &str) -> Result<Tek, String> {
    Tek::from_hex(text).map_err(|e| e.to_string())
}

fn parse_metadata(text: &str) -> Result<Metadata, String> {
    Metadata::from_hex(text).map_err(|e| e.to_string())
}

pub fn run(command: KeysCommand) -> Result<(), Failure> {
    match command {
        KeysCommand::Derive(args) => derive(args),
        KeysCommand::Ble(args) => ble(args),
        KeysCommand::NewSigningKey(args) => new_signing_key(args),
        KeysCommand::Inspect(args) => inspect(args),
        KeysCommand::Sign(args) => sign(args),
        KeysCommand::Verify(args) => verify(args),
    }
}

fn derive(args: DeriveArgs) -> Result<(), Failure> {
    let start = IntervalNumber::new(args.interval);
    if start.checked_add(args.count.saturating_sub(1)).is_none() {
        return Err(Failure::new(
            USAGE_OR_IO,
            anyhow!(
                "--interval {} + --count {} runs past the last interval number",
                args.interval,
                args.count
            ),
        ));
    }
    let (rpik, aemk) = args.tek.derive();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut rpis = [Rpi::default(); 144];
    let mut done = 0u32;
    while done < args.count {
        let n = (args.count - done).min(144);
        let chunk = &mut rpis[..n as usize];
        let first = args.interval + done;
        rpik.rpis_into(IntervalNumber::new(first), chunk);
        for (i, rpi) in chunk.iter().enumerate() {
            let line = match &args.metadata {
                Some(m) => writeln!(out, "{}\t{rpi}\t{}", first + i as u32, aemk.encrypt(rpi, m)),
                None => writeln!(out, "{}\t{rpi}", first + i as u32),
            };
            line.usage_or_io("writing to stdout")?;
        }
        done += n;
    }
    out.flush().usage_or_io("writing to stdout")
}

#[derive(Serialize)]
struct DecodedAdvertisement {
    rpi: String,
    aem: String,
}

fn ble(args: BleArgs) -> Result<(), Failure> {
    if let Some(hex) = args.decode {
        let bytes = decode_hex(hex.trim()).invalid("the payload")?;
        let adv = Advertisement::parse(&bytes).invalid("the payload")?;
        let json = DecodedAdvertisement {
            rpi: adv.rpi.to_hex(),
            aem: adv.aem.to_hex(),
        };
        println!(
            "{}",
            serde_json::to_string(&json).expect("plain strings serialise")
        );
        return Ok(());
    }
    // clap guarantees --tek comes with --interval and --tx-power.
    let (Some(tek), Some(interval), Some(tx_power)) = (args.tek, args.interval, args.tx_power)
    else {
        return Err(Failure::new(
            USAGE_OR_IO,
            anyhow!("--tek needs --interval and --tx-power"),
        ));
    };
    let (rpik, aemk) = tek.derive();
    let rpi = rpik.rpi(IntervalNumber::new(interval));
    let aem = aemk.encrypt(&rpi, &Metadata::v1_0(tx_power));
    let payload = Advertisement { rpi, aem }.to_bytes();
    println!(
        "{}",
        payload
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    Ok(())
}

pub(crate) fn decode_hex(text: &str) -> anyhow::Result<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return Err(anyhow!("odd number of hex digits ({})", text.len()));
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| anyhow!("not hex at character {}", i + 1))
        })
        .collect()
}

fn new_signing_key(args: NewSigningKeyArgs) -> Result<(), Failure> {
    if !args.force {
        for path in [&args.private_out, &args.public_out] {
            if path.exists() {
                return Err(Failure::new(
                    USAGE_OR_IO,
                    anyhow!(
                        "{} already exists (use --force to replace it)",
                        path.display()
                    ),
                ));
            }
        }
    }
    let signer = ExportSigner::generate(&mut rand_core::OsRng, SignatureInfo::default());
    write_private(&args.private_out, signer.private_key_pem().as_bytes())
        .usage_or_io(format!("writing {}", args.private_out.display()))?;
    std::fs::write(&args.public_out, signer.verifier().to_pem())
        .usage_or_io(format!("writing {}", args.public_out.display()))?;
    eprintln!(
        "wrote the private key to {} and the public key to {}",
        args.private_out.display(),
        args.public_out.display()
    );
    Ok(())
}

/// Writes a secret file readable by its owner only (the mode is set at creation, so the secret
/// is never readable by others, not even briefly).
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(data)?;
    file.sync_all()
}

fn read_file(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).usage_or_io(format!("reading {}", path.display()))
}

fn read_export(path: &Path) -> Result<SignedExport, Failure> {
    let bytes = read_file(path)?;
    SignedExport::from_zip(&bytes).invalid(format!("{} is not a valid export file", path.display()))
}

#[derive(Serialize)]
struct SignatureInfoJson<'a> {
    verification_key_version: &'a str,
    verification_key_id: &'a str,
    signature_algorithm: &'a str,
}

#[derive(Serialize)]
struct InspectJson<'a> {
    region: &'a str,
    start_timestamp: u64,
    end_timestamp: u64,
    batch_num: i32,
    batch_size: i32,
    signature_infos: Vec<SignatureInfoJson<'a>>,
    keys: Vec<KeyJson>,
    revised_keys: Vec<KeyJson>,
}

fn inspect(args: InspectArgs) -> Result<(), Failure> {
    let file = read_export(&args.file)?;
    let export = &file.export;
    if args.json {
        let json = InspectJson {
            region: &export.region,
            start_timestamp: export.start_timestamp,
            end_timestamp: export.end_timestamp,
            batch_num: export.batch_num,
            batch_size: export.batch_size,
            signature_infos: export
                .signature_infos
                .iter()
                .map(|s| SignatureInfoJson {
                    verification_key_version: &s.verification_key_version,
                    verification_key_id: &s.verification_key_id,
                    signature_algorithm: &s.signature_algorithm,
                })
                .collect(),
            keys: export.keys.iter().map(KeyJson::from_key).collect(),
            revised_keys: export.revised_keys.iter().map(KeyJson::from_key).collect(),
        };
        let text = serde_json::to_string_pretty(&json).expect("plain values serialise");
        println!("{text}");
    } else {
        print!("{}", summary(&file));
    }
    Ok(())
}

fn utc(seconds: u64) -> String {
    i64::try_from(seconds)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| format!("{seconds} (out of range)"))
}

fn summary(file: &SignedExport) -> String {
    use std::fmt::Write as _;
    let e = &file.export;
    let mut s = String::new();
    let _ = writeln!(s, "region:        {}", e.region);
    let _ = writeln!(
        s,
        "window:        {} .. {}",
        utc(e.start_timestamp),
        utc(e.end_timestamp)
    );
    let _ = writeln!(s, "batch:         {} of {}", e.batch_num, e.batch_size);
    let _ = writeln!(s, "keys:          {}", e.keys.len());
    let _ = writeln!(s, "revised keys:  {}", e.revised_keys.len());
    if let (Some(first), Some(last)) = (
        e.keys.iter().map(|k| k.rolling_start).min(),
        e.keys.iter().map(|k| k.rolling_start).max(),
    ) {
        let _ = writeln!(
            s,
            "key days:      {} .. {}",
            &utc(first.to_unix_seconds())[..10],
            &utc(last.to_unix_seconds())[..10]
        );
    }
    let _ = writeln!(s, "signatures:    {}", file.signatures.len());
    for sig in &file.signatures {
        let info = &sig.signature_info;
        let _ = writeln!(
            s,
            "  key id {} version {} algorithm {} ({} bytes)",
            info.verification_key_id,
            info.verification_key_version,
            info.signature_algorithm,
            sig.signature.len()
        );
    }
    s
}

fn sign(args: SignArgs) -> Result<(), Failure> {
    if args.start > args.end {
        return Err(Failure::new(
            USAGE_OR_IO,
            anyhow!("--start {} is after --end {}", args.start, args.end),
        ));
    }
    let json = read_file(&args.keys)?;
    let keys: Vec<KeyJson> = serde_json::from_slice(&json).invalid(format!(
        "{} is not a JSON array of keys",
        args.keys.display()
    ))?;
    let keys = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            k.to_key()
                .invalid(format!("{}: key {i}", args.keys.display()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let pem = read_file(&args.signing_key)?;
    let info = SignatureInfo::p256(args.key_id, args.key_version);
    let signer = std::str::from_utf8(&pem)
        .map_err(anyhow::Error::from)
        .and_then(|pem| Ok(ExportSigner::from_pem(pem, info)?))
        .usage_or_io(format!(
            "{} is not a usable signing key",
            args.signing_key.display()
        ))?;
    let export = KeyExport {
        start_timestamp: args.start,
        end_timestamp: args.end,
        region: args.region,
        batch_num: 1,
        batch_size: 1,
        signature_infos: vec![],
        keys,
        revised_keys: vec![],
    };
    let signed = SignedExport::sign(export, &[signer]).invalid("signing")?;
    std::fs::write(&args.out, signed.to_zip())
        .usage_or_io(format!("writing {}", args.out.display()))
}

fn verify(args: VerifyArgs) -> Result<(), Failure> {
    let verifiers = args
        .public_keys
        .iter()
        .map(|path| {
            let pem = read_file(path)?;
            std::str::from_utf8(&pem)
                .map_err(anyhow::Error::from)
                .and_then(|pem| Ok(ExportVerifier::from_pem(pem)?))
                .usage_or_io(format!("{} is not a usable public key", path.display()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let file = read_export(&args.file)?;
    file.verify(&verifiers)
        .invalid(format!("{} does not verify", args.file.display()))?;
    println!("valid");
    Ok(())
}
