//! The integration step (`POST /steps/{id}/{function}`) against a local receiver standing in
//! for the workflow platform: answered in time, or 202 and a durable callback.

use integration_tests::receiver::Receiver;
use integration_tests::{TEST_PROBE_WASM, TOKEN, TestServer, eventually};
use serde_json::{Value, json};

const STEP_TOKEN: &str = "step-token-of-probe";

/// A server with the probe as connector `probe`, whose steps answer within 1.5 s and call
/// back only to `receiver`.
async fn server(receiver: &Receiver, adjust: impl FnOnce(&mut host::ServeConfig)) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(TEST_PROBE_WASM, dir.path().join("probe.wasm")).unwrap();
    std::fs::write(
        dir.path().join("probe.toml"),
        format!(
            "[steps]\ntoken = \"{STEP_TOKEN}\"\ncallback_hosts = [\"http://localhost:{}\"]\nanswer_budget_ms = 1500\n",
            receiver.port()
        ),
    )
    .unwrap();
    TestServer::start_in(dir, adjust).await
}

/// `POST /steps/probe/step{query}` with `body`, the step token and `X-Response-URL: url`.
async fn step(
    server: &TestServer,
    query: &str,
    body: &Value,
    url: Option<&str>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut request = server
        .client
        .post(format!("{}/steps/probe/step{query}", server.base))
        .header("authorization", format!("Bearer {STEP_TOKEN}"))
        .header("x-trace", "abc")
        .json(body);
    if let Some(url) = url {
        request = request.header("x-response-url", url);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
        headers,
    )
}

async fn jobs(server: &TestServer) -> Vec<Value> {
    let r = server
        .client
        .get(format!("{}/steps/jobs", server.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    body["jobs"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fast_step_is_answered_200_in_time_with_the_result_and_no_callback() {
    let receiver = Receiver::start(0).await;
    let server = server(&receiver, |_| {}).await;
    let (status, body, _) = step(
        &server,
        "",
        &json!({"sleepMs": 0, "form": {"a": 1}}),
        Some(&receiver.url()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["received"], json!({"sleepMs": 0, "form": {"a": 1}}));
    // The function sees the request's headers, minus credentials and the callback URL.
    assert_eq!(body["headers"]["x-trace"], "abc");
    assert!(body["headers"].get("authorization").is_none(), "{body}");
    assert!(body["headers"].get("x-response-url").is_none(), "{body}");
    // `type` selects the group as on /function; the system token works too; others do not.
    let (status, _, _) = step(&server, "?type=utility", &json!({}), None).await;
    assert_eq!(status, 200);
    let wrong = server
        .client
        .post(format!("{}/steps/probe/step", server.base))
        .bearer_auth("not-a-token")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let system = server
        .client
        .post(format!("{}/steps/probe/step", server.base))
        .bearer_auth(TOKEN)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(system.status(), 200);
    assert!(receiver.received().is_empty());
    assert!(jobs(&server).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_step_answers_202_within_the_budget_then_calls_back_exactly_once() {
    let receiver = Receiver::start(0).await;
    let server = server(&receiver, |_| {}).await;
    let started = std::time::Instant::now();
    let (status, body, headers) = step(
        &server,
        "",
        &json!({"sleepMs": 4000, "n": 7}),
        Some(&receiver.url()),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    // The budget is 1.5 s, the platform's limit 5 s; slow functions take 4 s, far past the
    // budget, and fast ones nothing, far inside it, so load does not change which answer comes.
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let job = body["jobId"].as_str().unwrap().to_string();
    assert_eq!(headers["x-job-id"], job.as_str());

    let callbacks = receiver.wait_for(1).await;
    let callback = &callbacks[0];
    let result: Value = serde_json::from_str(&callback.body).unwrap();
    assert_eq!(result["received"], json!({"sleepMs": 4000, "n": 7}));
    assert_eq!(callback.headers["idempotency-key"], job);
    assert_eq!(callback.headers["content-type"], "application/json");
    assert!(
        !callback.headers.contains_key("x-status-code"),
        "200 carries no X-Status-Code"
    );
    eventually("the delivered job is gone", || async {
        jobs(&server).await.is_empty()
    })
    .await;
    assert_eq!(receiver.received().len(), 1, "exactly one callback");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_failing_twice_gets_the_outcome_on_the_third_attempt() {
    let receiver = Receiver::start(2).await;
    let server = server(&receiver, |_| {}).await;
    let (status, body, _) = step(
        &server,
        "",
        &json!({"sleepMs": 4000}),
        Some(&receiver.url()),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let callbacks = receiver.wait_for(3).await;
    let answered: Vec<u16> = callbacks.iter().map(|c| c.answered).collect();
    assert_eq!(answered, [500, 500, 200]);
    let keys: Vec<&str> = callbacks
        .iter()
        .map(|c| c.headers["idempotency-key"].as_str())
        .collect();
    assert!(keys.iter().all(|k| *k == body["jobId"]), "{keys:?}");
    assert!(callbacks.iter().all(|c| c.body == callbacks[0].body));
    eventually("the delivered job is gone", || async {
        jobs(&server).await.is_empty()
    })
    .await;
    assert_eq!(receiver.received().len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_step_that_fails_calls_back_with_its_status_code_and_errors() {
    let receiver = Receiver::start(0).await;
    let server = server(&receiver, |_| {}).await;
    let (status, _, _) = step(
        &server,
        "",
        &json!({"sleepMs": 4000, "fail": true}),
        Some(&receiver.url()),
    )
    .await;
    assert_eq!(status, 202);
    let callback = &receiver.wait_for(1).await[0];
    assert_eq!(callback.headers["x-status-code"], "422");
    assert_eq!(
        serde_json::from_str::<Value>(&callback.body).unwrap(),
        json!({"errors": [{"message": "The step failed on purpose.", "code": "step_failed"}]})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_response_url_outside_callback_hosts_is_refused_at_request_time() {
    let receiver = Receiver::start(0).await;
    let server = server(&receiver, |_| {}).await;
    for url in [
        format!("http://localhost:{}/callback", receiver.port() as u32 + 1),
        format!("http://127.0.0.1:{}/callback", receiver.port()),
        "http://169.254.169.254/latest/meta-data".to_string(),
        "file:///etc/passwd".to_string(),
    ] {
        let (status, body, _) = step(&server, "", &json!({"sleepMs": 0}), Some(&url)).await;
        assert_eq!(status, 422, "{url}");
        assert_eq!(
            body,
            json!({"errors": [{"code": "callback_not_allowed", "message": format!("The X-Response-URL {url} is not allowed by the connector's [steps] callback_hosts.")}]})
        );
    }
    assert!(receiver.received().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn undeliverable_jobs_are_listed_as_failed_and_can_be_retried_or_dropped() {
    let receiver = Receiver::start(usize::MAX).await;
    // No retry age: the first failed delivery fails the job.
    let server = server(&receiver, |c| {
        c.steps.retry_max_age = std::time::Duration::ZERO
    })
    .await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (status, body, _) = step(
            &server,
            "",
            &json!({"sleepMs": 4000}),
            Some(&receiver.url()),
        )
        .await;
        assert_eq!(status, 202);
        ids.push(body["jobId"].as_str().unwrap().to_string());
    }
    eventually("both jobs failed", || async {
        let jobs = jobs(&server).await;
        jobs.len() == 2 && jobs.iter().all(|j| j["state"] == "failed")
    })
    .await;
    let listed = jobs(&server).await;
    let first = listed.iter().find(|j| j["id"] == ids[0].as_str()).unwrap();
    assert_eq!(first["connector"], "probe");
    assert_eq!(first["function"], "step");
    assert_eq!(first["attempts"], 1);
    assert_eq!(first["lastError"], "the receiver answered 500");
    assert_eq!(first["nextAttempt"], Value::Null);

    let client = &server.client;
    let url = |path: &str| format!("{}/steps/jobs/{path}", server.base);
    // Unauthenticated and unknown jobs are refused.
    assert_eq!(
        client.delete(url(&ids[1])).send().await.unwrap().status(),
        401
    );
    let unknown = client
        .delete(url("nope"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    // Drop one; retry the other once the receiver is back.
    let dropped = client
        .delete(url(&ids[1]))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(dropped.status(), 204);
    receiver.fail_next(0);
    let before = receiver.received().len();
    let retried = client
        .post(url(&format!("{}/retry", ids[0])))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(retried.status(), 202);
    let callbacks = receiver.wait_for(before + 1).await;
    let last = callbacks.last().unwrap();
    assert_eq!(
        (last.answered, last.headers["idempotency-key"].as_str()),
        (200, ids[0].as_str())
    );
    eventually("no job left", || async { jobs(&server).await.is_empty() }).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rust_and_javascript_step_examples_approve_small_expenses_in_time() {
    for wasm in [
        integration_tests::DIY_EXAMPLE_WASM,
        integration_tests::JS_DIY_EXAMPLE_WASM,
    ] {
        let server = TestServer::start(&[("diy.wasm", wasm)]).await;
        let post = |body: Value| {
            server
                .client
                .post(format!("{}/steps/diy/approveExpense", server.base))
                .bearer_auth(TOKEN)
                .json(&body)
                .send()
        };
        let r = post(json!({"amount": 120})).await.unwrap();
        assert_eq!(r.status(), 200, "{wasm}");
        assert_eq!(
            r.json::<Value>().await.unwrap(),
            json!({"approved": true, "amount": 120, "reviewedBy": "policy"}),
            "{wasm}"
        );
        let r = post(json!({"form": "no amount"})).await.unwrap();
        assert_eq!(r.status(), 422, "{wasm}");
        assert_eq!(
            r.json::<Value>().await.unwrap(),
            json!({"errors": [{"message": "The form has no amount.", "code": "invalid_form"}]}),
            "{wasm}"
        );
    }
}
