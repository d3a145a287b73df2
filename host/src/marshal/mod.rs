//! JSON `options` ⇄ typed WIT values, and contract checks on results.
//!
//! Each kind's facts live in one place, [`contract`]: the documented fields it takes from
//! `options` (see [`crate::fields`]), its typed export, the records its result must match
//! (e.g. preMap returns exactly one entry per record) and the JSON the caller receives (see
//! [`output`]); [`invoke`] runs any of them on either boundary. `Ok(None)` means the
//! function returned nothing: the caller gets an empty 200.

pub mod contract;
pub mod decode;
pub mod output;

use serde_json::value::RawValue;

use crate::dispatch::Target;
use crate::error::{ApiError, Code};
use crate::fields::Fields;
use crate::runtime::Call;
use crate::runtime::bindings::{Boundary, ErrorCode, FnError, FunctionId, Kind};
use crate::runtime::exports::{ExportFn, InvokeBytesResults, InvokeParams, InvokeResults};
use contract::{KindContract, Returned};
use decode::FromGuestJson;
use output::Texts;

/// The contract name of a kind, as integrator.io's documentation spells it.
pub fn kind_name(kind: Kind) -> &'static str {
    contract::contract(kind).name
}

/// How a boundary is named in listings.
pub fn boundary_name(boundary: Boundary) -> &'static str {
    match boundary {
        Boundary::Typed => "typed",
        Boundary::Json => "json",
    }
}

fn function_error(err: FnError) -> ApiError {
    let code = match err.code {
        ErrorCode::Text(text) => Code::Text(text),
        ErrorCode::Number(n) => Code::Number(n),
    };
    ApiError::function(code, err.message)
}

fn settle<T>(call: &mut Call, returned: Returned<T>) -> Result<T, ApiError> {
    call.finish(returned)?.map_err(function_error)
}

struct Ctx<'t> {
    target: &'t Target,
    id: FunctionId,
}

impl Ctx<'_> {
    fn fields<'a>(&self, options: &'a RawValue) -> Result<Fields<'a>, ApiError> {
        Fields::of(options).ok_or_else(|| {
            ApiError::InvalidOptions(format!(
                "The options of the {} function {:?} must be a JSON object.",
                kind_name(self.target.kind),
                self.target.name
            ))
        })
    }

    /// The records list the kind requires, taken from the fields (typed boundary).
    fn take_records(&self, fields: &mut Fields<'_>, key: &str) -> Result<Vec<String>, ApiError> {
        fields.list(key).ok_or_else(|| self.not_a_list(key))
    }

    /// How many records the list the kind requires holds, without copying them (JSON
    /// boundary: the guest receives `options` as it came).
    fn count_records(&self, fields: &Fields<'_>, key: &str) -> Result<usize, ApiError> {
        fields
            .peek(key)
            .and_then(crate::valid_json::array_elements)
            .map(|items| items.len())
            .ok_or_else(|| self.not_a_list(key))
    }

    fn not_a_list(&self, key: &str) -> ApiError {
        ApiError::InvalidOptions(format!(
            "options.{key} must be an array for the {} function {:?}.",
            kind_name(self.target.kind),
            self.target.name
        ))
    }

    /// Calls `plugin.invoke` with the whole `options`: the JSON text it returns, if any. A
    /// module that exports `plugin-bytes` is called there instead: the same function with the
    /// result as bytes, which a guest can hand over without encoding a string.
    async fn invoke_json(
        &self,
        call: &mut Call,
        options: &RawValue,
    ) -> Result<Option<String>, ApiError> {
        let params: InvokeParams<'_> = (&self.id, options.get());
        if !call.has_export(ExportFn::InvokeBytes) {
            let r = call
                .call_export::<_, InvokeResults>(ExportFn::Invoke, params)
                .await
                .map(|(returned,)| returned);
            return settle(call, r);
        }
        let r = call
            .call_export::<_, InvokeBytesResults>(ExportFn::InvokeBytes, params)
            .await
            .map(|(returned,)| returned);
        settle(call, r)?
            .map(|bytes| {
                String::from_utf8(bytes).map_err(|err| {
                    ApiError::NotSerializable(format!("the plugin returned invalid UTF-8: {err}"))
                })
            })
            .transpose()
    }

    /// Calls `plugin.invoke` with the whole `options` and decodes the JSON it returns into the
    /// kind's typed result (the JSON boundary).
    async fn via_json<T: FromGuestJson>(
        &self,
        call: &mut Call,
        options: &RawValue,
    ) -> Result<T, ApiError> {
        let returned = self.invoke_json(call, options).await?;
        T::from_guest_json(returned.as_deref()).map_err(|detail| {
            // One parse on the way that succeeds; on failure, text that is not JSON at all is
            // the original's "not serializable", anything else a broken contract.
            if let Some(Err(not_json)) = returned.as_deref().map(output::check_json) {
                return not_json;
            }
            ApiError::ContractBroken(format!(
                "The {} function {:?} returned a result that does not fit its contract: {detail}.",
                kind_name(self.target.kind),
                self.target.name
            ))
        })
    }

    fn check_len(&self, what: &str, expected: usize, got: usize) -> Result<(), ApiError> {
        if expected == got {
            return Ok(());
        }
        Err(ApiError::ContractBroken(format!(
            "The {} function {:?} returned {got} entries for {expected} {what}; the contract requires exactly one per entry.",
            kind_name(self.target.kind),
            self.target.name
        )))
    }

    /// Runs a kind with a contract on the function's boundary.
    async fn run<K: KindContract>(
        &self,
        call: &mut Call,
        options: &RawValue,
    ) -> Result<Option<String>, ApiError> {
        let mut fields = self.fields(options)?;
        let records = K::ROW.records;
        let (result, expected, texts) = match self.target.boundary {
            Boundary::Typed => {
                let list = records
                    .map(|r| self.take_records(&mut fields, r.field))
                    .transpose()?;
                let expected = list.as_ref().map(Vec::len);
                let typed = K::options(fields, list);
                let returned = K::call_typed(call, &self.id, &typed).await;
                (settle(call, returned)?, expected, Texts::Unchecked)
            }
            Boundary::Json => {
                let expected = records
                    .map(|r| self.count_records(&fields, r.field))
                    .transpose()?;
                drop(fields);
                let result = self.via_json::<K::Result>(call, options).await?;
                (result, expected, Texts::Checked)
            }
        };
        if let (Some(what), Some(expected)) = (records.and_then(|r| r.matched), expected) {
            self.check_len(what, expected, K::result_len(&result))?;
        }
        K::write(&result, texts)
    }
}

/// Calls `target` with `options` on a live instance and returns the response body.
pub async fn invoke(
    call: &mut Call,
    target: &Target,
    options: &RawValue,
) -> Result<Option<String>, ApiError> {
    let cx = Ctx {
        target,
        id: FunctionId {
            group: target.group.clone(),
            name: target.name.clone(),
        },
    };
    match target.kind {
        Kind::Json => cx
            .invoke_json(call, options)
            .await?
            .map(|text| output::value(&text, Texts::Unchecked))
            .transpose(),
        Kind::PreSavePage => cx.run::<contract::PreSavePage>(call, options).await,
        Kind::PreMap => cx.run::<contract::PreMap>(call, options).await,
        Kind::PostMap => cx.run::<contract::PostMap>(call, options).await,
        Kind::PostSubmit => cx.run::<contract::PostSubmit>(call, options).await,
        Kind::PostResponseMap => cx.run::<contract::PostResponseMap>(call, options).await,
        Kind::PostAggregate => cx.run::<contract::PostAggregate>(call, options).await,
        Kind::Ping => cx.run::<contract::Ping>(call, options).await,
        Kind::Export => cx.run::<contract::Export>(call, options).await,
        Kind::Import => cx.run::<contract::Import>(call, options).await,
        Kind::Step => cx.run::<contract::Step>(call, options).await,
        Kind::FormInit => cx.run::<contract::FormInit>(call, options).await,
        Kind::PreSave => cx.run::<contract::PreSave>(call, options).await,
        Kind::InitChild => cx.run::<contract::InitChild>(call, options).await,
        Kind::Update => cx.run::<contract::Update>(call, options).await,
        Kind::ChangeEdition => cx.run::<contract::ChangeEdition>(call, options).await,
        Kind::ResponseScript => cx.run::<contract::ResponseScript>(call, options).await,
    }
}
