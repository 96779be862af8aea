//! Rows the front writes itself: the state-store row of each stored answer it replays (replay.rs), in the
//! application's SQLite file, the rows of many replays in one transaction, on a thread of its own.
//!
//! Why: a stored Responses answer costs its worker one SQLite commit (about 100 µs, most of the request) and the
//! engine's whole path; the front renders the answer and its row from a template in a few microseconds, and one commit
//! serves every row that arrived while the one before it ran. An answer is sent only once its row is committed, as a
//! worker sends its own only after its write: a client that retrieves what it was just given finds it.
//!
//! The row is written exactly as the application's store writes one (python/sentra_openai/state/sqlite.py `put_many`:
//! the same table, statements, write lock and settings; rows without a parent), so every worker reads it as one of its
//! own.
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OpenFlags, TransactionBehavior};

/// sqlite.py's BUSY_TIMEOUT_MS and PURGE_EVERY.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
const PURGE_EVERY: usize = 500;
/// Rows written in one transaction at most (a bound on how long the answers of the first rows wait).
const MAX_BATCH: usize = 512;

/// The store's file and how its commits reach the disk (sqlite.py's `synchronous`, from the config's
/// `state.synchronous`): the front's writer uses the workers' setting.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreFile {
    pub path: PathBuf,
    pub synchronous: Synchronous,
}

/// SQLite's `PRAGMA synchronous` levels the application offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synchronous {
    Off,
    Normal,
    Full,
}

impl Synchronous {
    /// The config's name of a level (`off`, `normal`, `full`).
    pub fn named(name: &str) -> Option<Synchronous> {
        match name {
            "off" => Some(Synchronous::Off),
            "normal" => Some(Synchronous::Normal),
            "full" => Some(Synchronous::Full),
            _ => None,
        }
    }

    fn pragma(self) -> &'static str {
        match self {
            Synchronous::Off => "OFF",
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        }
    }
}

/// One document of the state store.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub collection: String,
    pub id: String,
    /// Wall-clock Unix seconds.
    pub created_at: f64,
    pub expires_at: Option<f64>,
    pub body: Vec<u8>,
}

/// Who waits for a row: the client connection's index and id (event_loop.rs).
pub(crate) type Waiter = (usize, u64);

/// The writer thread's side of the front: rows go in, (waiter, committed) come out, and `wake` is called after each
/// transaction so the event loop takes them.
pub(crate) struct RowWriter {
    rows: Sender<(Waiter, Row)>,
    done: Arc<Mutex<Vec<(Waiter, bool)>>>,
}

impl RowWriter {
    pub fn start(file: StoreFile, wake: impl Fn() + Send + 'static) -> std::io::Result<RowWriter> {
        let (rows, incoming) = channel();
        let done = Arc::new(Mutex::new(Vec::new()));
        let results = Arc::clone(&done);
        thread::Builder::new()
            .name("sentra-front-store".into())
            .spawn(move || run(&file, &incoming, &results, &wake))?;
        Ok(RowWriter { rows, done })
    }

    /// Queues `row`; false if the writer is gone (then nobody will answer for it).
    pub fn submit(&self, waiter: Waiter, row: Row) -> bool {
        self.rows.send((waiter, row)).is_ok()
    }

    /// The rows written (true) or failed (false) since the last call.
    pub fn take_done(&self) -> Vec<(Waiter, bool)> {
        self.done.lock().map(|mut done| std::mem::take(&mut *done)).unwrap_or_default()
    }
}

fn run(file: &StoreFile, incoming: &Receiver<(Waiter, Row)>, done: &Mutex<Vec<(Waiter, bool)>>, wake: &dyn Fn()) {
    let mut db: Option<Db> = None;
    while let Ok(first) = incoming.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match incoming.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let written = match db.take().map_or_else(|| Db::open(file), Ok) {
            Ok(mut open) => {
                let written = open.write(batch.iter().map(|(_, row)| row)).is_ok();
                if written {
                    db = Some(open); // a failed one is opened afresh for the next batch
                }
                written
            }
            Err(_) => false,
        };
        if let Ok(mut done) = done.lock() {
            done.extend(batch.into_iter().map(|(waiter, _)| (waiter, written)));
        }
        wake();
    }
}

/// A connection to the store's file and its write lock (`<path>.lock`, which every writer of the host takes).
pub(crate) struct Db {
    conn: Connection,
    lock: File,
    puts: usize,
}

impl Db {
    /// Opens an existing store (the application creates the file and its schema at start-up).
    pub fn open(file: &StoreFile) -> rusqlite::Result<Db> {
        let conn = Connection::open_with_flags(
            &file.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "synchronous", file.synchronous.pragma())?;
        let mut lock_path = file.path.clone().into_os_string();
        lock_path.push(".lock");
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(lock_path)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        Ok(Db { conn, lock, puts: 0 })
    }

    /// Writes `rows` in one transaction, as `put_many` writes its entries.
    pub fn write<'a>(&mut self, rows: impl Iterator<Item = &'a Row>) -> rusqlite::Result<()> {
        let _locked = Flock::exclusive(&self.lock);
        let now = unix_now();
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut count = 0;
        {
            // An expired document is gone: a put over it is an insert, with a new place in the order.
            let mut expired =
                tx.prepare_cached("DELETE FROM docs WHERE collection = ? AND id = ? AND expires_at <= ?")?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO docs (collection, id, parent, created_at, expires_at, body) VALUES (?, ?, NULL, ?, ?, ?) \
                 ON CONFLICT (collection, id) DO UPDATE SET parent = excluded.parent, \
                 created_at = excluded.created_at, expires_at = excluded.expires_at, body = excluded.body",
            )?;
            for row in rows {
                expired.execute(params![row.collection, row.id, now])?;
                insert.execute(params![row.collection, row.id, row.created_at, row.expires_at, row.body])?;
                count += 1;
            }
        }
        tx.commit()?;
        self.puts += count;
        if self.puts >= PURGE_EVERY {
            self.puts = 0;
            self.conn.execute("DELETE FROM docs WHERE expires_at <= ?", params![unix_now()])?;
        }
        Ok(())
    }
}

/// flock(LOCK_EX) held for its lifetime (a dedicated thread may block on it; the kernel drops it if we die).
struct Flock<'a>(&'a File);

impl<'a> Flock<'a> {
    fn exclusive(file: &'a File) -> Flock<'a> {
        // SAFETY: flock on a descriptor the File owns for the guard's lifetime.
        while unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0
            && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
        {}
        Flock(file)
    }
}

impl Drop for Flock<'_> {
    fn drop(&mut self) {
        // SAFETY: as above.
        unsafe {
            libc::flock(self.0.as_raw_fd(), libc::LOCK_UN);
        }
    }
}

pub(crate) fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// A store as the application creates one, in a directory removed on drop (std has no temporary directory).
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// The application's schema (sqlite.py `_SCHEMA`).
    const SCHEMA: &str = "PRAGMA journal_mode = WAL;
        CREATE TABLE docs (seq INTEGER PRIMARY KEY AUTOINCREMENT, collection TEXT NOT NULL, id TEXT NOT NULL,
            parent TEXT, created_at REAL NOT NULL, expires_at REAL, body BLOB NOT NULL, UNIQUE (collection, id));";

    pub struct Dir(pub PathBuf);

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// `path` as the application opens it by default.
    pub fn normal(path: &std::path::Path) -> StoreFile {
        StoreFile { path: path.to_path_buf(), synchronous: Synchronous::Normal }
    }

    pub fn store() -> (Dir, PathBuf) {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sentra-store-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.sqlite3");
        Connection::open(&path).unwrap().execute_batch(SCHEMA).unwrap();
        (Dir(dir), path)
    }

    pub fn rows(path: &PathBuf) -> Vec<Row> {
        let conn = Connection::open(path).unwrap();
        let mut stmt =
            conn.prepare("SELECT collection, id, created_at, expires_at, body FROM docs ORDER BY seq").unwrap();
        stmt.query_map([], |r| {
            Ok(Row {
                collection: r.get(0)?,
                id: r.get(1)?,
                created_at: r.get(2)?,
                expires_at: r.get(3)?,
                body: r.get(4)?,
            })
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{normal, rows, store};
    use super::*;

    fn row(id: &str, created_at: f64, expires_at: Option<f64>) -> Row {
        Row {
            collection: "responses".into(),
            id: id.into(),
            created_at,
            expires_at,
            body: format!("{{\"id\":\"{id}\"}}").into_bytes(),
        }
    }

    #[test]
    fn rows_are_written_in_one_transaction_and_an_expired_one_is_replaced_as_new() {
        let (_dir, path) = store();
        let mut db = Db::open(&normal(&path)).unwrap();
        let now = unix_now();
        db.write([row("resp_a", now, Some(now + 60.0)), row("resp_b", now, None)].iter()).unwrap();
        db.write([row("resp_c", now, Some(now - 1.0))].iter()).unwrap();
        db.write([row("resp_c", now, Some(now + 5.0))].iter()).unwrap(); // over an expired one: a new place
        db.write([row("resp_a", now + 1.0, None)].iter()).unwrap(); // over a live one: keeps its place
        let got = rows(&path);
        let ids: Vec<&str> = got.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["resp_a", "resp_b", "resp_c"]);
        assert_eq!(got[0], row("resp_a", now + 1.0, None));
        assert_eq!(got[2], row("resp_c", now, Some(now + 5.0)));
    }

    #[test]
    fn the_writer_commits_as_the_config_says() {
        let (_dir, path) = store();
        for (name, level) in [("off", 0), ("normal", 1), ("full", 2)] {
            let file = StoreFile { path: path.clone(), synchronous: Synchronous::named(name).unwrap() };
            let db = Db::open(&file).unwrap();
            let used: i64 = db.conn.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap();
            assert_eq!(used, level, "{name}");
        }
        assert_eq!(Synchronous::named("NORMAL"), None);
    }

    #[test]
    fn the_writer_reports_every_row_once_and_a_missing_store_as_failed() {
        let (_dir, path) = store();
        let (tx, woken) = channel();
        let writer = RowWriter::start(normal(&path), move || {
            let _ = tx.send(());
        })
        .unwrap();
        for i in 0..50 {
            assert!(writer.submit((i, i as u64), row(&format!("resp_{i}"), unix_now(), None)));
        }
        let mut done = Vec::new();
        while done.len() < 50 {
            woken.recv_timeout(Duration::from_secs(5)).unwrap();
            done.extend(writer.take_done());
        }
        assert!(done.iter().all(|&(_, ok)| ok));
        done.sort();
        assert_eq!(done.iter().map(|&((i, _), _)| i).collect::<Vec<_>>(), (0..50).collect::<Vec<_>>());
        assert_eq!(rows(&path).len(), 50);

        let (tx, woken) = channel();
        let nowhere = RowWriter::start(normal(&path.with_file_name("missing/none.sqlite3")), move || {
            let _ = tx.send(());
        })
        .unwrap();
        assert!(nowhere.submit((7, 7), row("resp_x", unix_now(), None)));
        woken.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(nowhere.take_done(), vec![((7, 7), false)]);
    }
}
