//! Integration tests: one binary; each test starts the real server on an ephemeral port with a
//! temporary plugins directory (see `integration_tests::TestServer`) and talks HTTP to it.
//!
//! - `protocol`: the wire protocol of express-integrator-extension: routes, authentication,
//!   every row of the error table with exact status, headers and body.
//! - `egress`: outbound requests through the network policy, against real local HTTP(S)
//!   servers: the example connector end to end, and every refusal with its exact code.
//! - `isolation`: no tenant or unauthenticated client starves the others: connection
//!   timeouts and cap, deadlines over host calls, shares of instances, capped output.
//! - `kinds`: a roundtrip for every function kind, and options fields reaching the function.
//! - `configuration`: diy vs connectors, and modules that must be refused.
//! - `javascript`: a Celigo-style JavaScript module built with `guest-sdk/js`, unchanged:
//!   results, errors, dates, non-serialisable results, a runaway loop stopped.
//! - `node_clients`: JavaScript modules that call out with Node's libraries (`request` as the
//!   public samples do, axios, node-fetch, `https.request`, winston) against local servers.
//! - `python`: a Python module built with `guest-sdk/python`: groups, errors, dates, declared
//!   kinds, a runaway loop stopped; the benchmark workload alike in Rust, JavaScript and Python.
//! - `reload`: modules and settings that appear, change or disappear go live without a
//!   restart or a failed request; broken files keep the previous version; the compile cache.
//! - `sandbox`: hostile guests (loops, allocation, recursion, huge or invalid output, panics,
//!   ambient access, contract violations) each stopped with their own code; per-connector
//!   limits; the HTTP layer stays responsive; the server keeps serving.
//! - `operations`: what operators rely on: the host listens before its modules load (calls to
//!   a loading module wait or answer `plugin_loading`; `/readyz` once every module found at
//!   start is loaded); `GET /metrics`.
//! - `scripts`: response scripts the host applies to a connector's outbound responses, each
//!   responseCode against a local API that misbehaves on cue, in Rust and JavaScript.
//! - `steps`: the integration step against a local receiver: 200 in time, 202 and one
//!   callback, retries, failure status codes, the callback allowlist, the job listing.
//! - `tools`: `extension-host call` and `inspect` answer what the server answers.

#![allow(clippy::unwrap_used, reason = "tests unwrap freely")]

mod macros;

mod configuration;
mod egress;
mod interpreted;
mod isolation;
mod javascript;
mod kinds;
mod node_clients;
mod operations;
mod protocol;
mod python;
mod reload;
mod sandbox;
mod scripts;
mod steps;
mod tools;

/// Every plugin crate under `plugins/` maps to a test that exercises it; a plugin added without
/// one fails to compile here.
mod by_plugin {
    pub(crate) use crate::configuration::connectors_are_served_by_id as connector_example;
    pub(crate) use crate::egress::max_requests_per_call_counts_every_request as test_egress;
    pub(crate) use crate::egress::the_rest_connector_pings_pages_and_imports_through_the_host as rest_connector;
    pub(crate) use crate::kinds::bench_workload_functions_do_what_benchmarks_md_says as bench;
    pub(crate) use crate::kinds::diy_example_every_kind_roundtrips as diy_example;
    pub(crate) use crate::kinds::flat_module_functions_live_at_the_root as flat_example;
    pub(crate) use crate::kinds::unknown_and_mistyped_fields_reach_the_function as test_probe;
    pub(crate) use crate::sandbox::every_contract_violation_is_reported as test_hostile;
}

/// The JavaScript example (`plugins-js/diy-example`) has its test too.
#[allow(unused_imports)]
use javascript::a_celigo_module_runs_unchanged as _;

macro_rules! assert_test_exists {
    ($name:ident, $constant:ident) => {
        #[allow(unused_imports)]
        use by_plugin::$name as _;
    };
}
integration_tests::foreach_plugin!(assert_test_exists);
