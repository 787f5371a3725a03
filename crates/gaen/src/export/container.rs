//! The zip container of an export file: exactly `export.bin` and `export.sig`, each within a size
//! limit, written deterministically (fixed timestamps, fixed order) so that the same contents
//! always give the same bytes.

use crate::Error;
use std::io::{Cursor, Read, Write};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

/// The largest `export.bin` accepted: 500,000 keys (the largest files peers publish) take about
/// 15 MiB, so 32 MiB leaves room without letting a zip bomb through.
pub const MAX_EXPORT_BIN_BYTES: u64 = 32 << 20;
/// The largest `export.sig` accepted: ten signatures take under 2 KiB.
pub const MAX_EXPORT_SIG_BYTES: u64 = 64 << 10;

const BIN: &str = "export.bin";
const SIG: &str = "export.sig";

/// Writes the zip: `export.bin` then `export.sig`, deflated, with the DOS epoch as timestamp.
pub fn write_container(export_bin: &[u8], export_sig: &[u8]) -> Vec<u8> {
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644);
    let mut zip = ZipWriter::new(Cursor::new(Vec::with_capacity(export_bin.len() / 2 + 512)));
    for (name, data) in [(BIN, export_bin), (SIG, export_sig)] {
        // Writing to memory fails only on a bug (a second file with the same name, say).
        zip.start_file(name, options)
            .expect("start a zip member in memory");
        zip.write_all(data).expect("write to memory");
    }
    zip.finish().expect("finish a zip in memory").into_inner()
}

/// Reads the zip and returns `(export.bin, export.sig)`.
pub fn read_container(bytes: &[u8]) -> Result<(Vec<u8>, Vec<u8>), Error> {
    let mut archive = ZipArchive::new(Cursor::new(bytes)).map_err(zip_error)?;
    let mut bin = None;
    let mut sig = None;
    if archive.len() > 2 {
        return Err(Error::Zip(format!(
            "expected exactly export.bin and export.sig, found {} members",
            archive.len()
        )));
    }
    for index in 0..archive.len() {
        let mut member = archive.by_index(index).map_err(zip_error)?;
        let name = member.name().map_err(zip_error)?.into_owned();
        let (slot, limit) = match name.as_str() {
            BIN => (&mut bin, MAX_EXPORT_BIN_BYTES),
            SIG => (&mut sig, MAX_EXPORT_SIG_BYTES),
            other => {
                return Err(Error::Zip(format!(
                    "unexpected member {other:?} (only export.bin and export.sig are allowed)"
                )))
            }
        };
        if slot.is_some() {
            return Err(Error::Zip(format!("{name} appears twice")));
        }
        if member.size() > limit {
            return Err(Error::Zip(format!(
                "{name} is {} bytes, over the limit of {limit}",
                member.size()
            )));
        }
        // The declared size may lie: never read more than the limit.
        let mut data = Vec::with_capacity(member.size() as usize);
        (&mut member)
            .take(limit + 1)
            .read_to_end(&mut data)
            .map_err(|e| Error::Zip(format!("{name}: {e}")))?;
        if data.len() as u64 > limit {
            return Err(Error::Zip(format!(
                "{name} is over the limit of {limit} bytes"
            )));
        }
        *slot = Some(data);
    }
    match (bin, sig) {
        (Some(bin), Some(sig)) => Ok((bin, sig)),
        (None, _) => Err(Error::Zip("export.bin is missing".into())),
        (_, None) => Err(Error::Zip("export.sig is missing".into())),
    }
}

fn zip_error(e: zip::result::ZipError) -> Error {
    Error::Zip(e.to_string())
}
