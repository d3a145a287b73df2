//! Test-only plugin: every way a guest can misbehave, one function each. The sandbox tests
//! assert the exact error code of each and that the host keeps serving afterwards.
#![allow(unsafe_code)]

use std::hint::black_box;

use extension_sdk::prelude::*;

/// Never returns: stopped by fuel or by the wall clock.
fn spin(_options: Value) -> FnResult<Value> {
    let mut x: u64 = 0;
    loop {
        x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}

/// Burns `iterations` rounds of work, then answers: succeeds under the default budget and
/// fails under a small per-connector one.
fn work(options: Value) -> FnResult<Value> {
    let n = options["iterations"].as_u64().unwrap_or(1_000_000);
    let mut x: u64 = 0;
    for i in 0..n {
        x = black_box(x.wrapping_mul(31).wrapping_add(i));
    }
    Ok(json!({ "done": n, "x": x % 10 }))
}

/// Waits `ms` milliseconds in a WASI sleep (a host call, not wasm running): the wall clock
/// must stop it all the same.
fn sleep(options: Value) -> FnResult<Value> {
    let ms = options["ms"].as_u64().unwrap_or(60_000);
    std::thread::sleep(std::time::Duration::from_millis(ms));
    Ok(json!({ "slept": ms }))
}

/// Answers with an error whose message is `size` bytes (the host caps it).
fn long_error(options: Value) -> FnResult<Value> {
    let size = options["size"].as_u64().unwrap_or(1 << 20) as usize;
    Err(FnError::new("c".repeat(size.min(4096)), "m".repeat(size)))
}

/// Writes `lines` log lines of `text` (empty by default).
fn log_lines(options: Value) -> FnResult<Value> {
    let lines = options["lines"].as_u64().unwrap_or(10);
    let text = options["text"].as_str().unwrap_or("");
    for _ in 0..lines {
        extension_sdk::log::info(text);
    }
    Ok(json!({ "logged": lines }))
}

/// Allocates without end: stopped by the memory cap.
fn hoard(_options: Value) -> FnResult<Value> {
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    loop {
        chunks.push(black_box(vec![1u8; 1 << 20]));
    }
}

#[inline(never)]
fn descend(depth: u64, trail: &mut [u64; 16]) -> u64 {
    let mut local = [depth; 16];
    for (a, b) in local.iter_mut().zip(trail.iter()) {
        *a = a.wrapping_add(*b);
    }
    black_box(&mut local);
    descend(depth + 1, &mut local).wrapping_add(local[3])
}

/// Recurses without end: stopped by the stack limit.
fn recurse(_options: Value) -> FnResult<Value> {
    let mut trail = [0u64; 16];
    Ok(json!(descend(0, &mut trail)))
}

/// Returns a string of `size` bytes.
fn huge(options: Value) -> FnResult<Value> {
    let size = options["size"].as_u64().unwrap_or(20 << 20) as usize;
    Ok(Value::String("x".repeat(size)))
}

/// Returns text that is not JSON.
fn not_json(_options: Value) -> FnResult<RawJson> {
    Ok(RawJson("{\"unterminated\": ".to_string()))
}

/// Returns bytes that are not UTF-8 where the contract says string.
fn not_utf8(_options: Value) -> FnResult<RawJson> {
    // SAFETY: deliberately not UTF-8; the host must refuse it, and nothing in this guest
    // reads it as a str afterwards.
    Ok(RawJson(unsafe {
        String::from_utf8_unchecked(vec![b'"', 0xff, 0xfe, b'"'])
    }))
}

/// Exits the guest with a failure status (WASI p2's `exit` carries only ok or error, so any
/// non-zero status arrives as 1).
fn exit(_options: Value) -> FnResult<Value> {
    std::process::exit(1)
}

/// Panics.
fn panic(_options: Value) -> FnResult<Value> {
    panic!("hostile plugin panicked on purpose")
}

/// Prints far more than the host keeps; the call itself must still succeed.
fn flood(_options: Value) -> FnResult<Value> {
    let line = "y".repeat(1023);
    for _ in 0..10_000 {
        println!("{line}");
        eprintln!("{line}");
    }
    Ok(json!("flooded"))
}

/// Tries every ambient authority; fails with `sandboxed` when all are denied, answers with
/// what leaked otherwise.
fn ambient(_options: Value) -> FnResult<Value> {
    let mut leaked = Map::new();
    for path in ["/etc/passwd", "/", ".", "/proc/self/environ"] {
        if let Ok(meta) = std::fs::metadata(path) {
            leaked.insert(format!("file {path}"), json!(meta.len()));
        }
    }
    if let Ok(text) = std::fs::read_to_string("/etc/hostname") {
        leaked.insert("read /etc/hostname".into(), json!(text));
    }
    if std::fs::write("/tmp/hostile-was-here", b"x").is_ok() {
        leaked.insert("write /tmp".into(), json!(true));
    }
    let vars: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
    if !vars.is_empty() {
        leaked.insert("env".into(), json!(vars));
    }
    if std::env::args().len() > 0 {
        leaked.insert("args".into(), json!(std::env::args().collect::<Vec<_>>()));
    }
    if std::env::current_dir().is_ok_and(|d| d.as_os_str().len() > 1) {
        leaked.insert("cwd".into(), json!(true));
    }
    for addr in ["127.0.0.1:80", "1.1.1.1:443"] {
        if std::net::TcpStream::connect(addr).is_ok() {
            leaked.insert(format!("tcp {addr}"), json!(true));
        }
    }
    if std::net::UdpSocket::bind("0.0.0.0:0").is_ok() {
        leaked.insert("udp bind".into(), json!(true));
    }
    if leaked.is_empty() {
        return Err(FnError::new(
            "sandboxed",
            "no file, environment, argument or socket was reachable",
        ));
    }
    Ok(Value::Object(leaked))
}

fn pre_map_short(options: PreMapOptions) -> FnResult<Vec<MapResult>> {
    Ok(options
        .data
        .into_iter()
        .skip(1)
        .map(MapResult::data)
        .collect())
}

fn post_map_long(options: PostMapOptions) -> FnResult<Vec<MapResult>> {
    let mut out: Vec<MapResult> = options
        .post_map_data
        .into_iter()
        .map(MapResult::data)
        .collect();
    out.push(MapResult::ignore());
    Ok(out)
}

fn post_submit_short(_options: PostSubmitOptions) -> FnResult<Vec<Value>> {
    Ok(Vec::new())
}

fn post_response_map_long(options: PostResponseMapOptions) -> FnResult<Vec<Value>> {
    let mut out = options.post_response_map_data;
    out.extend(out.clone());
    Ok(out)
}

fn import_short(_options: ImportOptions) -> FnResult<Vec<ImportResponse>> {
    Ok(Vec::new())
}

fn ok(options: Value) -> FnResult<Value> {
    Ok(json!({ "ok": true, "options": options }))
}

/// Says which plugin this is (the reload tests swap modules and watch the answer change).
fn whoami(_options: Value) -> FnResult<Value> {
    Ok(json!("hostile"))
}

fn register(plugin: &mut Plugin) {
    plugin
        .root("whoami", json(whoami))
        .utility("spin", json(spin))
        .utility("work", json(work))
        .utility("hoard", json(hoard))
        .utility("sleep", json(sleep))
        .utility("longError", json(long_error))
        .utility("logLines", json(log_lines))
        .utility("recurse", json(recurse))
        .utility("huge", json(huge))
        .utility("notJson", json(not_json))
        .utility("notUtf8", json(not_utf8))
        .utility("panic", json(panic))
        .utility("exit", json(exit))
        .utility("flood", json(flood))
        .utility("ambient", json(ambient))
        .utility("ok", json(ok))
        .hook("preMapShort", pre_map(pre_map_short))
        .hook("postMapLong", post_map(post_map_long))
        .hook("postSubmitShort", post_submit(post_submit_short))
        .hook(
            "postResponseMapLong",
            post_response_map(post_response_map_long),
        )
        .wrapper("importShort", import(import_short));
}

extension_sdk::plugin!(register);
