//! Conformance battery every Store backend must pass.

use store::{Outcome, Record, SqliteStore, Store, StoreError, Tx};

fn rec(kind: &str, id: &str, owner: &str, parent: Option<&str>, body: &str) -> Record {
    Record {
        kind: kind.into(),
        id: id.into(),
        owner: owner.into(),
        parent: parent.map(Into::into),
        body: body.into(),
    }
}

fn run<R>(s: &dyn Store, mut f: impl FnMut(&mut dyn Tx) -> Result<R, StoreError>) -> R {
    let mut out = None;
    s.transaction(&mut |tx| {
        out = Some(f(tx)?);
        Ok(Outcome::Commit)
    })
    .expect("transaction");
    out.expect("result")
}

fn battery(s: &dyn Store) {
    // insert / get / conflict
    run(s, |tx| tx.insert(&rec("vpc", "vpc-1", "a", None, "{}")));
    let got = run(s, |tx| tx.get("vpc", "vpc-1"));
    assert_eq!(got.map(|r| r.owner), Some("a".to_string()));
    let err = s
        .transaction(&mut |tx| {
            tx.insert(&rec("vpc", "vpc-1", "b", None, "{}"))?;
            Ok(Outcome::Commit)
        })
        .expect_err("duplicate insert must fail");
    assert!(matches!(err, StoreError::Conflict { .. }));

    // rollback keeps nothing
    let r = s.transaction(&mut |tx| {
        tx.insert(&rec("vpc", "vpc-2", "a", None, "{}"))?;
        Ok(Outcome::Rollback)
    });
    assert!(matches!(r, Err(StoreError::RolledBack)));
    assert!(run(s, |tx| tx.get("vpc", "vpc-2")).is_none());

    // an error inside the body rolls back the earlier writes of the same transaction
    let r = s.transaction(&mut |tx| {
        tx.insert(&rec("vpc", "vpc-3", "a", None, "{}"))?;
        tx.insert(&rec("vpc", "vpc-1", "a", None, "{}"))?;
        Ok(Outcome::Commit)
    });
    assert!(r.is_err());
    assert!(run(s, |tx| tx.get("vpc", "vpc-3")).is_none());

    // put keeps order, list filters by owner, children by parent
    run(s, |tx| {
        tx.insert(&rec("subnet", "s-1", "a", Some("vpc-1"), "1"))?;
        tx.insert(&rec("subnet", "s-2", "b", Some("vpc-9"), "2"))?;
        tx.insert(&rec("subnet", "s-3", "a", Some("vpc-1"), "3"))?;
        tx.put(&rec("subnet", "s-1", "a", Some("vpc-1"), "1b"))
    });
    let all = run(s, |tx| tx.list("subnet", None));
    assert_eq!(
        all.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["s-1", "s-2", "s-3"]
    );
    assert_eq!(all[0].body, "1b");
    let of_a = run(s, |tx| tx.list("subnet", Some("a")));
    assert_eq!(of_a.len(), 2);
    let kids = run(s, |tx| tx.children("subnet", "vpc-1"));
    assert_eq!(
        kids.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["s-1", "s-3"]
    );

    // delete
    assert!(run(s, |tx| tx.delete("subnet", "s-2")));
    assert!(!run(s, |tx| tx.delete("subnet", "s-2")));
}

#[test]
fn sqlite_in_memory_passes_the_battery() {
    battery(&SqliteStore::in_memory().expect("open"));
}

#[test]
fn sqlite_file_passes_the_battery_and_persists() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.db");
    {
        let s = SqliteStore::open(&path).expect("open");
        battery(&s);
    }
    let s = SqliteStore::open(&path).expect("reopen");
    assert!(run(&s, |tx| tx.get("vpc", "vpc-1")).is_some());
    assert_eq!(run(&s, |tx| tx.list("subnet", None)).len(), 2);
}

#[test]
fn concurrent_inserts_never_collide() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = std::sync::Arc::new(SqliteStore::open(&dir.path().join("s.db")).expect("open"));
    // Eight threads each claim the lowest free slot 25 times: serialized transactions must
    // hand out each slot exactly once.
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                for _ in 0..25 {
                    s.transaction(&mut |tx| {
                        let n = tx.list("slot", None)?.len();
                        tx.insert(&rec("slot", &format!("{n}"), &format!("t{t}"), None, "{}"))?;
                        Ok(Outcome::Commit)
                    })
                    .expect("claim");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("join");
    }
    assert_eq!(run(&*s, |tx| tx.list("slot", None)).len(), 200);
}

fn read<R>(s: &dyn Store, mut f: impl FnMut(&mut dyn Tx) -> Result<R, StoreError>) -> R {
    let mut out = None;
    s.read_transaction(&mut |tx| {
        out = Some(f(tx)?);
        Ok(())
    })
    .expect("read transaction");
    out.expect("result")
}

fn read_battery(s: &dyn Store) {
    run(s, |tx| tx.insert(&rec("vpc", "vpc-r", "a", None, "{}")));
    // A read sees every commit made before it started.
    assert!(read(s, |tx| tx.get("vpc", "vpc-r")).is_some());
    run(s, |tx| tx.put(&rec("vpc", "vpc-r", "a", None, "{\"v\":2}")));
    assert_eq!(
        read(s, |tx| tx.get("vpc", "vpc-r")).map(|r| r.body),
        Some("{\"v\":2}".to_string())
    );
    // Nothing written inside a read transaction is kept.
    let _ = s.read_transaction(&mut |tx| {
        let _ = tx.insert(&rec("vpc", "vpc-ghost", "a", None, "{}"));
        Ok(())
    });
    assert!(run(s, |tx| tx.get("vpc", "vpc-ghost")).is_none());
}

#[test]
fn sqlite_reads_see_commits_and_keep_nothing() {
    read_battery(&SqliteStore::in_memory().expect("open"));
    let dir = tempfile::tempdir().expect("tempdir");
    read_battery(&SqliteStore::open(&dir.path().join("r.db")).expect("open"));
}

#[test]
fn concurrent_reads_and_writes_stay_consistent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = std::sync::Arc::new(SqliteStore::open(&dir.path().join("rw.db")).expect("open"));
    // Writers move a pair of records together; readers must never see one without the other.
    let writer = {
        let s = s.clone();
        std::thread::spawn(move || {
            for i in 0..200 {
                run(&*s, |tx| {
                    tx.put(&rec("pair", "a", "o", None, &i.to_string()))?;
                    tx.put(&rec("pair", "b", "o", None, &i.to_string()))
                });
            }
        })
    };
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let s = s.clone();
            std::thread::spawn(move || {
                for _ in 0..200 {
                    let (a, b) = read(&*s, |tx| Ok((tx.get("pair", "a")?, tx.get("pair", "b")?)));
                    assert_eq!(a.map(|r| r.body), b.map(|r| r.body), "torn read");
                }
            })
        })
        .collect();
    writer.join().expect("writer");
    for r in readers {
        r.join().expect("reader");
    }
}

#[test]
fn the_wal_is_checkpointed_in_the_background() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ckpt.db");
    let s = SqliteStore::open(&path).expect("open");
    let before = std::fs::metadata(&path).expect("db file").len();
    let body = "x".repeat(2000);
    for i in 0..200 {
        run(&s, |tx| {
            tx.insert(&rec("blob", &i.to_string(), "o", None, &body))
        });
    }
    // Commits land in the WAL; only the checkpointer copies them into the database file.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let now = std::fs::metadata(&path).expect("db file").len();
        if now > before + 200 * 2000 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "database file still {now} bytes (was {before}): no checkpoint"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
