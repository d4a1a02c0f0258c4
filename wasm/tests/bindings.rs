//! Tests of the `CairnDb` bindings (the npm package's engine) through their Rust API, on OPFS
//! in a dedicated worker of headless Chromium (`.ci/test-browser.sh`).
#![cfg(all(target_arch = "wasm32", target_os = "unknown"))]
// Tests may unwrap (the workspace denies it in library code only).
#![allow(clippy::unwrap_used)]

use cairn_wasm::{CairnDb, OpfsVfs};
use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

fn obj(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &JsValue::from_str(k), v).unwrap();
    }
    o.into()
}

fn s(x: &str) -> JsValue {
    JsValue::from_str(x)
}

fn code(e: &JsValue) -> String {
    Reflect::get(e, &s("code")).unwrap().as_string().unwrap()
}

fn text(v: &JsValue) -> Option<String> {
    v.dyn_ref::<Uint8Array>()
        .map(|a| String::from_utf8(a.to_vec()).unwrap())
}

fn keys_of(page: &Array) -> Vec<String> {
    page.iter().step_by(2).map(|k| text(&k).unwrap()).collect()
}

async fn fresh(name: &str) {
    CairnDb::destroy(name.to_string(), None).await.unwrap();
}

/// Encodes batches in the group-commit format of `CairnDb::commit_group`.
fn group(batches: &[&[(&str, Option<&str>)]]) -> Vec<u8> {
    let mut out = Vec::new();
    for b in batches {
        out.extend_from_slice(&(b.len() as u32).to_le_bytes());
        for (k, v) in b.iter() {
            out.push(u8::from(v.is_some()));
            out.extend_from_slice(&(k.len() as u32).to_le_bytes());
            out.extend_from_slice(k.as_bytes());
            if let Some(v) = v {
                out.extend_from_slice(&(v.len() as u32).to_le_bytes());
                out.extend_from_slice(v.as_bytes());
            }
        }
    }
    out
}

#[wasm_bindgen_test]
async fn put_get_scan_and_reopen_on_opfs() {
    let name = "bind-basic";
    fresh(name).await;
    let mut db = CairnDb::open(name.to_string(), JsValue::UNDEFINED)
        .await
        .unwrap();
    for i in 0..500 {
        let k = format!("k{i:04}");
        db.put(s(&k), s(&format!("v{i}")), Some(i % 2 == 0))
            .unwrap();
    }
    db.put(
        Uint8Array::from(&[0xff, 0x00][..]).into(),
        Uint8Array::from(&b"bin"[..]).into(),
        None,
    )
    .unwrap();
    db.delete(s("k0003"), None).unwrap();
    assert_eq!(
        text(&db.get(s("k0002"), None).unwrap()).as_deref(),
        Some("v2")
    );
    assert!(db.get(s("k0003"), None).unwrap().is_undefined());

    // Forward page with a prefix, then continue after the last key.
    let p1 = db
        .scan(obj(&[("prefix", s("k00")), ("limit", JsValue::from(10))]))
        .unwrap();
    let k1 = keys_of(&p1);
    assert_eq!(k1[0], "k0000");
    assert_eq!(k1.len(), 10);
    assert!(!k1.contains(&"k0003".to_string()));
    let p2 = db
        .scan(obj(&[
            ("prefix", s("k00")),
            ("limit", JsValue::from(1000)),
            ("after", s(k1.last().unwrap())),
        ]))
        .unwrap();
    assert_eq!(k1.len() + keys_of(&p2).len(), 99); // k0000..k0099 minus k0003
                                                   // Reverse over a range.
    let r = db
        .scan(obj(&[
            ("start", s("k0100")),
            ("end", s("k0105")),
            ("reverse", JsValue::TRUE),
        ]))
        .unwrap();
    assert_eq!(keys_of(&r), ["k0104", "k0103", "k0102", "k0101", "k0100"]);

    db.flush().unwrap();
    db.close().unwrap();
    assert!(db.closed());
    assert_eq!(code(&db.get(s("k0002"), None).unwrap_err()), "CLOSED");

    let db2 = CairnDb::open(name.to_string(), JsValue::UNDEFINED)
        .await
        .unwrap();
    assert_eq!(
        text(&db2.get(s("k0499"), None).unwrap()).as_deref(),
        Some("v499")
    );
    assert_eq!(
        text(
            &db2.get(Uint8Array::from(&[0xff, 0x00][..]).into(), None)
                .unwrap()
        )
        .as_deref(),
        Some("bin")
    );
    let all = db2.scan(obj(&[("limit", JsValue::from(10_000))])).unwrap();
    assert_eq!(all.length(), 2 * 500);
    let stats = db2.stats().unwrap();
    assert_eq!(
        Reflect::get(&stats, &s("storage"))
            .unwrap()
            .as_string()
            .unwrap(),
        "opfs"
    );
    drop(db2);
    // Dropping without close is a crash: the next open recovers, and the lock is released.
    let mut db3 = CairnDb::open(name.to_string(), JsValue::UNDEFINED)
        .await
        .unwrap();
    assert_eq!(
        text(&db3.get(s("k0001"), None).unwrap()).as_deref(),
        Some("v1")
    );
    db3.close().unwrap();
    fresh(name).await;
}

#[wasm_bindgen_test]
async fn group_commit_fails_only_the_bad_batch() {
    let name = "bind-group";
    fresh(name).await;
    let mut db = CairnDb::open(name.to_string(), obj(&[("maxKeySize", JsValue::from(8))]))
        .await
        .unwrap();
    let long = "waytoolongkey";
    let data = group(&[
        &[("a", Some("1")), ("b", Some("2"))],
        &[(long, Some("x"))],
        &[("a", None), ("c", Some("3"))],
    ]);
    let res = db.commit_group(&data, true).unwrap();
    assert_eq!(res.length(), 3);
    assert!(res.get(0).is_null());
    assert_eq!(code(&res.get(1)), "KEY_TOO_LARGE");
    assert!(res.get(2).is_null());
    assert!(db.get(s("a"), None).unwrap().is_undefined());
    assert_eq!(text(&db.get(s("b"), None).unwrap()).as_deref(), Some("2"));
    assert_eq!(text(&db.get(s("c"), None).unwrap()).as_deref(), Some("3"));
    let stats = db.stats().unwrap();
    let syncs = Reflect::get(&stats, &s("walSyncs"))
        .unwrap()
        .as_f64()
        .unwrap();
    assert_eq!(syncs, 1.0, "one sync for the whole group");
    // A truncated encoding is rejected as a whole.
    assert_eq!(
        code(&db.commit_group(&data[..data.len() - 1], true).unwrap_err()),
        "INVALID_ARGUMENT"
    );
    db.close().unwrap();
    fresh(name).await;
}

#[wasm_bindgen_test]
async fn typed_errors_for_bad_input_and_locking() {
    let name = "bind-errors";
    fresh(name).await;
    let mut db = CairnDb::open(name.to_string(), JsValue::UNDEFINED)
        .await
        .unwrap();
    assert_eq!(
        code(&db.put(JsValue::from(5), s("v"), None).unwrap_err()),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        code(&db.put(s("k"), JsValue::NULL, None).unwrap_err()),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        code(&db.batch(s("nope"), None).unwrap_err()),
        "INVALID_ARGUMENT"
    );
    let big = "k".repeat(70_000);
    assert_eq!(
        code(&db.put(s(&big), s("v"), None).unwrap_err()),
        "KEY_TOO_LARGE"
    );
    assert_eq!(
        code(&db.get(JsValue::UNDEFINED, None).unwrap_err()),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        code(&db.get(s("k"), Some(99)).unwrap_err()),
        "SNAPSHOT_RELEASED"
    );
    // A second open of the same database in this worker is LOCKED, not corruption.
    let second = CairnDb::open(name.to_string(), JsValue::UNDEFINED).await;
    assert_eq!(code(&second.err().unwrap()), "LOCKED");
    assert_eq!(
        code(&CairnDb::destroy(name.to_string(), None).await.unwrap_err()),
        "LOCKED"
    );
    let bad = CairnDb::open("../x".to_string(), JsValue::UNDEFINED).await;
    assert_eq!(code(&bad.err().unwrap()), "INVALID_ARGUMENT");
    let bad_opt = CairnDb::open(
        "bind-errors-2".to_string(),
        obj(&[("writeBufferSize", s("big"))]),
    )
    .await;
    assert_eq!(code(&bad_opt.err().unwrap()), "INVALID_ARGUMENT");
    db.close().unwrap();
    db.close().unwrap();
    assert_eq!(code(&db.put(s("a"), s("b"), None).unwrap_err()), "CLOSED");
    fresh(name).await;
}

#[wasm_bindgen_test]
async fn snapshots_and_cooperative_background_work() {
    let name = "bind-bg";
    fresh(name).await;
    let mut db = CairnDb::open(
        name.to_string(),
        obj(&[
            ("writeBufferSize", JsValue::from(16 * 1024)),
            ("minFreeFiles", JsValue::from(2)),
        ]),
    )
    .await
    .unwrap();
    db.put(s("snap"), s("old"), None).unwrap();
    let snap = db.snapshot().unwrap();
    db.put(s("snap"), s("new"), None).unwrap();
    let value = "x".repeat(200);
    for round in 0..20 {
        // What the JS worker does between requests: top the pool up, then run jobs.
        if db.needs_reserve() {
            wasm_bindgen_futures::JsFuture::from(db.replenish())
                .await
                .unwrap();
        }
        let mut batch = Vec::new();
        for i in 0..100 {
            batch.push((format!("r{round:02}-{i:03}"), value.clone()));
        }
        let ops: Vec<(&str, Option<&str>)> = batch
            .iter()
            .map(|(k, v)| (k.as_str(), Some(v.as_str())))
            .collect();
        let res = db.commit_group(&group(&[&ops]), true).unwrap();
        assert!(res.get(0).is_null(), "round {round}");
        while db.has_pending_work() {
            if db.needs_reserve() {
                wasm_bindgen_futures::JsFuture::from(db.replenish())
                    .await
                    .unwrap();
            }
            db.step().unwrap();
        }
    }
    let stats = db.stats().unwrap();
    let flushes = Reflect::get(&stats, &s("flushes"))
        .unwrap()
        .as_f64()
        .unwrap();
    assert!(flushes >= 5.0, "memtables were flushed ({flushes})");
    assert_eq!(
        text(&db.get(s("snap"), Some(snap)).unwrap()).as_deref(),
        Some("old")
    );
    assert_eq!(
        text(&db.get(s("snap"), None).unwrap()).as_deref(),
        Some("new")
    );
    let page = db
        .scan(obj(&[
            ("prefix", s("r")),
            ("limit", JsValue::from(5000)),
            ("snapshot", JsValue::from(snap)),
        ]))
        .unwrap();
    assert_eq!(page.length(), 0, "the snapshot predates the r* keys");
    assert!(db.release_snapshot(snap));
    assert!(!db.release_snapshot(snap));
    let page = db
        .scan(obj(&[("prefix", s("r")), ("limit", JsValue::from(5000))]))
        .unwrap();
    assert_eq!(page.length(), 2 * 2000);
    db.close().unwrap();
    // The pool directory is still mountable by the plain Vfs (handles were released).
    let vfs = OpfsVfs::mount(name, 0).await.unwrap();
    drop(vfs);
    fresh(name).await;
}

#[wasm_bindgen_test]
async fn memory_databases_live_per_name() {
    let opts = || obj(&[("memory", JsValue::TRUE)]);
    let mut db = CairnDb::open("bind-mem".to_string(), opts()).await.unwrap();
    db.put(s("a"), s("1"), None).unwrap();
    db.close().unwrap();
    let mut db = CairnDb::open("bind-mem".to_string(), opts()).await.unwrap();
    assert_eq!(text(&db.get(s("a"), None).unwrap()).as_deref(), Some("1"));
    let stats = db.stats().unwrap();
    assert_eq!(
        Reflect::get(&stats, &s("storage"))
            .unwrap()
            .as_string()
            .unwrap(),
        "memory"
    );
    db.close().unwrap();
    CairnDb::destroy("bind-mem".to_string(), Some(true))
        .await
        .unwrap();
    let mut db = CairnDb::open("bind-mem".to_string(), opts()).await.unwrap();
    assert!(db.get(s("a"), None).unwrap().is_undefined());
    db.close().unwrap();
}

#[wasm_bindgen_test]
async fn range_deletes_through_every_write_path() {
    let opts = || obj(&[("memory", JsValue::TRUE)]);
    let mut db = CairnDb::open("bind-rangedel".to_string(), opts())
        .await
        .unwrap();
    for k in ["a", "b1", "b2", "c", "p/1", "p/2", "q", "x", "y"] {
        db.put(s(k), s("v"), None).unwrap();
    }
    let snap = db.snapshot().unwrap();
    db.delete_range(s("b"), s("c"), None).unwrap();
    db.delete_prefix(s("p/"), None).unwrap();
    let ops = Array::new();
    ops.push(&obj(&[
        ("type", s("deleteRange")),
        ("key", s("x")),
        ("end", s("z")),
    ]));
    db.batch(ops.into(), None).unwrap();
    // The group encoding: kind 2 (range, end as the value) and kind 3 (prefix).
    let mut g = Vec::new();
    g.extend_from_slice(&2u32.to_le_bytes());
    g.push(2);
    g.extend_from_slice(&1u32.to_le_bytes());
    g.extend_from_slice(b"q");
    g.extend_from_slice(&2u32.to_le_bytes());
    g.extend_from_slice(b"q\0");
    g.push(3);
    g.extend_from_slice(&1u32.to_le_bytes());
    g.extend_from_slice(b"a");
    let res = db.commit_group(&g, true).unwrap();
    assert!(res.get(0).is_null());
    let live = |db: &CairnDb| keys_of(&db.scan(obj(&[])).unwrap());
    assert_eq!(live(&db), vec!["c".to_string()]);
    db.flush().unwrap();
    assert_eq!(live(&db), vec!["c".to_string()]);
    assert!(db.get(s("b1"), None).unwrap().is_undefined());
    // The snapshot taken before still sees everything.
    assert_eq!(
        text(&db.get(s("b1"), Some(snap)).unwrap()).as_deref(),
        Some("v")
    );
    db.close().unwrap();
}
