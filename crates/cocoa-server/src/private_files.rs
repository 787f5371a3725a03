//! Files that hold secrets are readable by their owner only. The SQLite database holds the export
//! signing key and the processing-number HMAC key (with them, anyone could sign files phones
//! accept, or recover every live number offline), so the data folder is created 0700 and every
//! database, WAL, shared-memory and secret file 0600; an existing file that others may read, or a
//! folder they may change, is refused at start-up with a message that says how to fix it, rather
//! than silently trusted.
//!
//! SQLite creates its `-wal` and `-shm` files with the mode of the database file, which is why
//! the database file is created here, 0600, before SQLite opens it.

use std::path::{Path, PathBuf};

/// A secret file, or the folder holding them, that others may read or change.
#[derive(Debug, thiserror::Error)]
pub enum PrivateFileError {
    #[error(
        "{path} can be read or changed by other users (mode {mode:04o}); it holds secrets: \
         run `chmod {want:o} {path}` (and check who may have read it), then start again"
    )]
    Exposed { path: String, mode: u32, want: u32 },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PrivateFileError + '_ {
    move |source| PrivateFileError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Group and other permission bits.
const SHARED_BITS: u32 = 0o077;

#[cfg(unix)]
fn mode_of(metadata: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o7777
}

#[cfg(not(unix))]
fn mode_of(_: &std::fs::Metadata) -> u32 {
    0o600
}

fn refuse_if_shared(
    path: &Path,
    metadata: &std::fs::Metadata,
    want: u32,
) -> Result<(), PrivateFileError> {
    let mode = mode_of(metadata);
    if mode & SHARED_BITS != 0 {
        return Err(PrivateFileError::Exposed {
            path: path.display().to_string(),
            mode,
            want,
        });
    }
    Ok(())
}

/// Creates `dir` (and missing parents) with mode 0700. An existing folder that others may change
/// is refused (they could replace the database or the token); one they may only list is accepted
/// with a warning, since every file in it that matters is 0600 and checked on its own.
pub fn private_dir(dir: &Path) -> Result<(), PrivateFileError> {
    match std::fs::metadata(dir) {
        Ok(metadata) => {
            let mode = mode_of(&metadata);
            if mode & 0o022 != 0 {
                return Err(PrivateFileError::Exposed {
                    path: dir.display().to_string(),
                    mode,
                    want: 0o700,
                });
            }
            if mode & SHARED_BITS != 0 {
                tracing::warn!(
                    path = %dir.display(),
                    mode = format!("{mode:04o}"),
                    "other users can list the data folder (its files are private); chmod 700 it"
                );
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                builder.mode(0o700);
            }
            builder.create(dir).map_err(io(dir))
        }
        Err(e) => Err(io(dir)(e)),
    }
}

/// Checks that `path`, if it exists, is not open to other users.
pub fn check_private_file(path: &Path) -> Result<(), PrivateFileError> {
    match std::fs::metadata(path) {
        Ok(metadata) => refuse_if_shared(path, &metadata, 0o600),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(path)(e)),
    }
}

/// Creates `path` empty with mode 0600 if it does not exist; checks it if it does.
pub fn private_file(path: &Path) -> Result<(), PrivateFileError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => check_private_file(path),
        Err(e) => Err(io(path)(e)),
    }
}

/// The files of an SQLite database at `url`: the database, its WAL and its shared memory.
/// `None` for in-memory databases and URLs that are not SQLite.
pub fn sqlite_files(url: &str) -> Option<[PathBuf; 3]> {
    use std::str::FromStr;
    if !url.starts_with("sqlite:") || url.contains(":memory:") || url.contains("mode=memory") {
        return None;
    }
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    let db = options.get_filename().to_owned();
    let with_suffix = |suffix: &str| {
        let mut name = db.clone().into_os_string();
        name.push(suffix);
        PathBuf::from(name)
    };
    Some([db.clone(), with_suffix("-wal"), with_suffix("-shm")])
}

/// Before SQLite opens `url`: creates the database file 0600 if it is new, and refuses a
/// database, WAL or shared-memory file that others may read.
pub fn prepare_sqlite(url: &str) -> Result<(), PrivateFileError> {
    let Some([db, wal, shm]) = sqlite_files(url) else {
        return Ok(());
    };
    check_private_file(&wal)?;
    check_private_file(&shm)?;
    private_file(&db)
}

/// After SQLite opened `url`: every file it made is still private (a check of the rule above,
/// cheap enough to make every time).
pub fn verify_sqlite(url: &str) -> Result<(), PrivateFileError> {
    let Some(files) = sqlite_files(url) else {
        return Ok(());
    };
    files.iter().try_for_each(|f| check_private_file(f))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_folders_and_files_are_private_and_shared_ones_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let file = dir.join("secret");
        private_file(&file).unwrap();
        assert_eq!(mode(&file), 0o600);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = private_file(&file).unwrap_err().to_string();
        assert!(e.contains("mode 0644") && e.contains("chmod 600"), "{e}");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o775)).unwrap();
        assert!(private_dir(&dir)
            .unwrap_err()
            .to_string()
            .contains("chmod 700"));
        // Others may list it but change nothing: accepted (with a warning).
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&dir).unwrap();
    }

    #[test]
    fn sqlite_files_are_named_from_the_url() {
        let [db, wal, shm] = sqlite_files("sqlite:///tmp/x/cocoa.db?mode=rwc").unwrap();
        assert_eq!(db, Path::new("/tmp/x/cocoa.db"));
        assert_eq!(wal, Path::new("/tmp/x/cocoa.db-wal"));
        assert_eq!(shm, Path::new("/tmp/x/cocoa.db-shm"));
        assert!(sqlite_files("sqlite::memory:").is_none());
        assert!(sqlite_files("postgres://localhost/x").is_none());
    }
}
