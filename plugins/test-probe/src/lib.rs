//! Test-only plugin: reports exactly what the host delivered, and misbehaves on request.
//! Used by the integration tests to prove that no option field is dropped and that bad
//! guest output is answered precisely.
use extension_sdk::prelude::*;

/// Returns the whole options object it received.
fn echo(options: Value) -> FnResult<Value> {
    Ok(options)
}

/// Returns what a typed preMap received: the records and the context, field by field.
fn pre_map_probe(options: PreMapOptions) -> FnResult<Vec<MapResult>> {
    let c = &options.context;
    let seen = json!({
        "bearerToken": c.bearer_token, "_integrationId": c.integration_id,
        "_flowId": c.flow_id, "_importId": c.import_id, "_connectionId": c.connection_id,
        "settings": c.settings, "configuration": c.configuration, "extra": c.extra,
        "count": options.data.len(),
    });
    let mut results: Vec<MapResult> = options.data.into_iter().map(MapResult::data).collect();
    if let Some(first) = results.first_mut() {
        first.data = Some(seen);
    }
    Ok(results)
}

/// Returns one result fewer than it was given: breaks the preMap contract.
fn pre_map_short(options: PreMapOptions) -> FnResult<Vec<MapResult>> {
    Ok(options
        .data
        .into_iter()
        .skip(1)
        .map(MapResult::data)
        .collect())
}

/// Returns more responseData than it was given: breaks the postSubmit contract.
fn post_submit_long(options: PostSubmitOptions) -> FnResult<Vec<Value>> {
    let mut data = options.response_data;
    data.push(json!({"statusCode": 200}));
    Ok(data)
}

/// Fails with the code (text or number) and message the caller asks for.
fn fail(options: Value) -> FnResult<Value> {
    let code = match &options["code"] {
        Value::Number(n) => ErrorCode::Number(n.as_f64().unwrap_or_default()),
        code => code.as_str().unwrap_or("my_error").into(),
    };
    Err(FnError::new(
        code,
        options["message"].as_str().unwrap_or("it failed"),
    ))
}

/// Returns a string of `size` characters (`char` repeated), to test maxResponseSize.
fn sized(options: Value) -> FnResult<Value> {
    let size = options["size"].as_u64().unwrap_or(0) as usize;
    let ch = options["char"]
        .as_str()
        .and_then(|s| s.chars().next())
        .unwrap_or('x');
    Ok(Value::String(std::iter::repeat_n(ch, size).collect()))
}

/// Returns nothing: the caller gets an empty 200.
fn nothing(_options: Value) -> FnResult<()> {
    Ok(())
}

/// Returns JSON null.
fn null(_options: Value) -> FnResult<Value> {
    Ok(Value::Null)
}

/// Panics: the host reports a trap.
fn panic(_options: Value) -> FnResult<Value> {
    panic!("the probe was asked to panic")
}

/// Writes to the host log and to stdout.
fn chatty(_options: Value) -> FnResult<Value> {
    extension_sdk::log::info("probe says hello through the log import");
    println!("probe says hello through stdout");
    Ok(json!("logged"))
}

/// Says which plugin this is (the reload tests swap modules and watch the answer change).
fn whoami(_options: Value) -> FnResult<Value> {
    Ok(json!("probe"))
}

/// An integration step (`POST /steps/…`): options are `{body, headers}`; the body says how
/// long to take (`sleepMs`) and whether to fail; the answer echoes what the function received.
fn step(options: Value) -> FnResult<Value> {
    let body = &options["body"];
    let ms = body["sleepMs"].as_u64().unwrap_or(0);
    std::thread::sleep(std::time::Duration::from_millis(ms));
    if body["fail"].as_bool() == Some(true) {
        return Err(FnError::new("step_failed", "The step failed on purpose."));
    }
    Ok(json!({ "received": body, "headers": options["headers"] }))
}

fn register(plugin: &mut Plugin) {
    plugin
        .root("whoami", json(whoami))
        .root("step", json(step))
        .utility("step", json(step))
        .utility("echo", json(echo))
        .utility("fail", json(fail))
        .utility("sized", json(sized))
        .utility("nothing", json(nothing))
        .utility("null", json(null))
        .utility("panic", json(panic))
        .utility("chatty", json(chatty))
        .hook("preMapProbe", pre_map(pre_map_probe))
        .hook("preMapShort", pre_map(pre_map_short))
        .hook("postSubmitLong", post_submit(post_submit_long))
        .root("echo", json(echo))
        .register(Group::Other("custom".into()), "echo", json(echo));
}

extension_sdk::plugin!(register);
