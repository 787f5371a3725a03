//! The published survey report in blob storage: `cocoa report` puts its files under
//! [`PREFIX`] and `GET /report/` serves them, so every replica serves the same report.

use crate::blob::{check_path, BlobError, BlobStore};
use bytes::Bytes;

/// Where the report's files are kept in the blob store: `report/index.html`,
/// `report/report.json`, `report/tables/*.csv`.
pub const PREFIX: &str = "report/";

/// The page a reader opens first.
pub const INDEX: &str = "index.html";

/// Puts the report's `files` (paths relative to the report's folder, `index.html`,
/// `tables/age.csv`, ...) under [`PREFIX`]. Every path is checked before anything is written,
/// and `index.html` is written last, so a reader who sees the new page finds its tables.
/// Files of an earlier report that this one no longer has are deleted afterwards.
pub async fn publish(blobs: &dyn BlobStore, files: &[(String, Bytes)]) -> Result<(), BlobError> {
    let paths: Vec<String> = files
        .iter()
        .map(|(name, _)| format!("{PREFIX}{name}"))
        .collect();
    for path in &paths {
        check_path(path)?;
    }
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by_key(|&i| files[i].0 == INDEX);
    for i in order {
        blobs.put(&paths[i], files[i].1.clone()).await?;
    }
    for old in blobs.list(PREFIX).await? {
        if !paths.contains(&old) {
            blobs.delete(&old).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob;

    fn file(name: &str, text: &str) -> (String, Bytes) {
        (name.to_owned(), Bytes::from(text.to_owned()))
    }

    #[tokio::test]
    async fn publishing_replaces_the_earlier_report() {
        let blobs = blob::in_memory();
        let first = [file("index.html", "one"), file("tables/old.csv", "a")];
        publish(blobs.as_ref(), &first).await.unwrap();
        let second = [file("index.html", "two"), file("tables/age.csv", "b")];
        publish(blobs.as_ref(), &second).await.unwrap();
        let mut listed = blobs.list(PREFIX).await.unwrap();
        listed.sort();
        assert_eq!(listed, ["report/index.html", "report/tables/age.csv"]);
        let index = blobs.get("report/index.html").await.unwrap().unwrap();
        assert_eq!(index.data, "two");
    }

    #[tokio::test]
    async fn a_bad_path_writes_nothing() {
        let blobs = blob::in_memory();
        let files = [file("index.html", "one"), file("../escape.csv", "a")];
        assert!(publish(blobs.as_ref(), &files).await.is_err());
        assert!(blobs.list(PREFIX).await.unwrap().is_empty());
    }
}
